//! Runs scenarios on this machine's Linux kernel and reads what it exposes. Never uses the
//! model.
//!
//! - [`host`]: host safety: the lock, the journal of every THP knob and of zram swap,
//!   signals, and restore on every exit path ([`HostGuard`], [`restore_host`] for
//!   `foliolab probe --restore`);
//! - [`budget`]: what a scenario needs against what the host and its cgroups have, checked
//!   before anything changes;
//! - [`KernelRunner`]: the [`foliolab_driver::Runner`] of the kernel: one exec'd helper
//!   process per scenario process, typed commands over pipes ([`protocol`]), helpers known
//!   by pidfd ([`pidfd`]);
//! - [`helper_main`]: the helper process (`foliolab __probe-helper`);
//! - [`readers`]: pagemap, kpagecount, kpageflags, PAGEMAP_SCAN, smaps, counters;
//! - [`recheck`]: a run failed by host-wide counters only runs again once the host is quiet;
//! - [`compat`]: what older kernels lack (knobs, advice, RSS, PAGEMAP_SCAN), handled explicitly;
//! - [`vm`]: the same runner inside a VM booting another kernel (`--kernel 6.1`);
//! - [`trace`]: `foliolab record`: a command traced in a private tracefs instance.

pub mod bench;
pub mod budget;
pub mod compat;
pub mod error;
pub mod helper;
pub mod host;
pub mod pidfd;
pub mod protocol;
pub mod readers;
pub mod recheck;
pub mod runner;
pub mod sys;
pub mod trace;
pub mod vm;

pub use error::{ProbeError, Result};
pub use helper::helper_main;
pub use host::{restore_host, HostGuard, RestoreReport};
pub use runner::{probe_scenario, KernelRunner, ProbeOptions};
