//! The version-1 scenario language (docs/scenario-format-v1.md): one text file that runs on
//! the model under any scheme and on the real kernel.
//!
//! - [`parse`] turns text into a [`Scenario`] or a positioned [`ScenarioError`];
//! - [`validate`] checks names, ranges and statement order without running anything;
//! - [`print`] writes the canonical form; `parse(print(s))` is the same program as `s`.

pub mod ast;
pub mod counters;
mod cursor;
pub mod error;
pub mod keywords;
mod lex;
mod num;
mod parse;
mod parse_expect;
mod parse_proc;
pub mod parse_thp;
mod print;
mod same_program;
mod tables;
mod v2;
mod validate;
mod validate_proc;

pub use ast::*;
pub use counters::{counter_class, CounterClass};
pub use error::ScenarioError;
pub use parse::parse;
pub use print::{print, print_stmt};
pub use tables::FieldKind;
pub use validate::validate;
