//! The driver: walks one scenario over any runner (the model or a kernel) and checks and
//! reports what it observes.
//!
//! - [`obs`]: observations a runner makes (pages, smaps, values);
//! - [`runner`]: the [`Runner`] trait both the model and the kernel probe implement;
//! - [`hooked`]: a runner wrapping another that changes only what happens around each
//!   statement ([`Hooked`], [`StatementHooks`]);
//! - [`record`]: the records of spec 4.1;
//! - [`drive`]: walks a scenario over a runner, checks expectations, names frames and folios,
//!   and computes the exit status;
//! - [`render`]: human-readable and JSON-lines output;
//! - [`output`]: the command line's JSON output (schema version 1: spec 4.1 records with
//!   `schema_version`, `file` and typed values; docs/json-schema.md);
//! - [`diff`]: the differences between two runs' records (`foliolab check`).

pub mod diff;
pub mod drive;
mod expect;
pub mod hooked;
pub mod model_fields;
pub mod names;
pub mod obs;
mod observe;
pub mod outcome;
pub mod output;
pub mod pages;
pub mod record;
pub mod render;
pub mod runner;
pub mod skip;
pub mod snapshot;

pub use drive::{check_supported, drive, drive_with_policy, drive_without_page_records};
pub use hooked::{Hooked, StatementHooks};
pub use names::Names;
pub use obs::*;
pub use record::*;
pub use render::{render_human, render_json};
pub use runner::*;
pub use skip::{SkipPolicy, DEFAULT_SCHEME};
