//! The version-1 scenario language (docs/scenario-format-v1.md): one text file that runs on
//! the model under any scheme and on the real kernel.
//!
//! - [`parse`] turns text into a [`Scenario`] or a positioned [`ScenarioError`];
//! - [`validate`] checks names, ranges and statement order without running anything;
//! - [`print`] writes the canonical form; `parse(print(s))` is the same program as `s`.

pub mod ast;
pub mod error;

pub use ast::*;
pub use error::ScenarioError;
