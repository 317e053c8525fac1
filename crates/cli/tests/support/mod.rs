//! Shared by the CLI tests.

pub mod schema;
