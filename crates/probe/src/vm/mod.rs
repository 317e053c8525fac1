//! Scenarios on other kernels: a VM boots a Debian kernel package of any generation (or a
//! kernel a developer built) under QEMU and runs the probe inside it.
//!
//! The host side never touches the host's THP knobs, swap, zram or apt state: it prepares a
//! kernel ([`kernel`]: a package from Debian's archive through a private apt state
//! ([`apt`]), unpacked into foliolab's cache ([`cache`]), the ELF `vmlinux` extracted for
//! PVH boot ([`image`]), zram and its dependencies decompressed ([`modules`])), builds an
//! initramfs holding the foliolab executable and the scenarios ([`initramfs`], [`cpio`]),
//! boots QEMU ([`qemu`]) and reads the guest's messages ([`protocol`]) as they come,
//! enforcing the boot, per-scenario and total timeouts ([`session`]). The guest
//! ([`guest`]) is foliolab itself as init; it runs each scenario with the same
//! [`KernelRunner`](crate::KernelRunner) as the host probe and sends spec 4.1 records back,
//! which [`records`] parses into the same [`Record`](foliolab_driver::Record)s.

pub mod apt;
pub mod cache;
pub mod cpio;
pub mod facts;
pub mod guest;
pub mod image;
pub mod initramfs;
pub mod kernel;
pub mod memory;
pub mod modules;
pub mod protocol;
pub mod qemu;
pub mod records;
pub mod session;

pub use cache::Cache;
pub use kernel::{prepare, Generation, KernelSpec, PreparedKernel};
pub use session::{run_job, Accel, VmEvent, VmOptions, VmReport};

use std::fmt;

/// Anything that keeps a VM run from happening or finishing.
#[derive(Debug)]
pub enum VmError {
    /// A tool is missing: which, and the Debian package that has it.
    Missing { tool: String, package: String },
    /// Bad input (`--kernel` and friends).
    Usage(String),
    /// A file or process operation failed.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// apt could not update, resolve or download.
    Apt(String),
    /// A kernel package or image is unusable.
    Package(String),
    /// The guest did not come up or broke off; the text ends with the console's last lines.
    Boot(String),
    /// The guest side failed.
    Guest(String),
    /// The host lacks the memory the guest needs.
    Resources(String),
}

impl VmError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> VmError {
        VmError::Io {
            what: what.into(),
            source,
        }
    }
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmError::Missing { tool, package } => write!(
                f,
                "{tool} not found: install the Debian package {package} (apt-get install {package})"
            ),
            VmError::Usage(m) => write!(f, "{m}"),
            VmError::Io { what, source } => write!(f, "{what}: {source}"),
            VmError::Apt(m) => write!(f, "apt: {m}"),
            VmError::Package(m) => write!(f, "kernel: {m}"),
            VmError::Boot(m) => write!(f, "vm: {m}"),
            VmError::Guest(m) => write!(f, "vm guest: {m}"),
            VmError::Resources(m) => write!(f, "vm: {m}"),
        }
    }
}

impl std::error::Error for VmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VmError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
