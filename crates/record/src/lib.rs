//! `foliolab record`, the pure part: it never touches the machine.
//!
//! - [`format`]: tracefs event formats (`events/*/*/format`): ids and field offsets;
//! - [`ring`]: the ring buffer's pages as `trace_pipe_raw` gives them: events with
//!   timestamps, and the lost-event marks;
//! - [`event`]: the events a recording uses, decoded;
//! - [`convert`]: a merged event stream plus `/proc/PID/maps` snapshots to a version-2
//!   scenario (docs/record.md): one process per mm, one region per mapping, faults as
//!   accesses of the faulting page.
//!
//! The probe crate does the tracing (tracefs, the traced command, the snapshots) and hands
//! the bytes here.

pub mod convert;
mod emit;
pub mod event;
pub mod format;
mod layout;
pub mod maps;
pub mod plan;
mod resolve;
pub mod ring;
mod tasks;
mod vmas;
mod walk;
mod walk_sys;

pub use convert::{convert, Recording, Summary};
pub use event::{Event, Stamped};
