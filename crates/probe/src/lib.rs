//! Runs scenarios on this machine's Linux kernel and reads what it exposes. Never uses the
//! model.
//!
//! - [`HostGuard`]: lock, journal of every THP knob and the swap state, restore on every exit
//!   path; [`restore_host`] for `foliolab probe --restore`;
//! - [`KernelRunner`]: the [`foliolab_driver::Runner`] of the kernel: one exec'd helper
//!   process per scenario process, commands over pipes;
//! - [`helper_main`]: the helper process (`foliolab __probe-helper`);
//! - [`readers`]: pagemap, kpagecount, kpageflags, PAGEMAP_SCAN, smaps, counters;
//! - [`compat`]: what older kernels lack (knobs, advice, RSS, PAGEMAP_SCAN), handled explicitly;
//! - [`vm`]: the same runner inside a VM booting another kernel (`--kernel 6.1`);
//! - [`trace`]: `foliolab record`: a command traced in a private tracefs instance.

pub mod compat;
pub mod error;
pub mod helper;
pub mod host;
pub mod readers;
pub mod runner;
pub mod sys;
pub mod trace;
pub mod vm;

pub use error::{ProbeError, Result};
pub use helper::helper_main;
pub use host::{restore_host, HostGuard, RestoreReport};
pub use runner::{probe_scenario, KernelRunner, ProbeOptions};
