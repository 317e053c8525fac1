//! What runners observe and report.
//!
//! - [`obs`]: observations a runner makes (pages, smaps, values);
//! - [`runner`]: the [`Runner`] trait both the model and the kernel probe implement;
//! - [`record`]: the records of spec 4.1;
//! - `drive`: walks a scenario over a runner, checks expectations, names frames and folios,
//!   and computes the exit status;
//! - `render`: human-readable and JSON-lines output.

pub mod obs;
pub mod record;
pub mod runner;

pub use obs::*;
pub use record::*;
pub use runner::*;
