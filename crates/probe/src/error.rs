//! Typed errors of the probe library.

use std::fmt;
use std::io;

/// Anything that keeps the probe from running or from restoring the host.
#[derive(Debug)]
pub enum ProbeError {
    /// A system call or file operation failed: what was attempted, and the OS error.
    Io { what: String, source: io::Error },
    /// The machine cannot run the probe (not root, no THP, a swap already active, ...).
    Host(String),
    /// The helper process broke the protocol or died.
    Helper(String),
    /// The journal under /run could not be parsed.
    Journal(String),
    /// A restore left items undone (each failure named; the journal keeps them).
    Restore(String),
    /// The scenario does not fit this host's memory (estimate against MemAvailable and
    /// the cgroup limits); nothing was changed.
    Resources(String),
}

impl ProbeError {
    pub fn io(what: impl Into<String>, source: io::Error) -> ProbeError {
        ProbeError::Io {
            what: what.into(),
            source,
        }
    }
    pub fn last_os(what: impl Into<String>) -> ProbeError {
        ProbeError::io(what, io::Error::last_os_error())
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Io { what, source } => write!(f, "{what}: {source}"),
            ProbeError::Host(m) => write!(f, "host: {m}"),
            ProbeError::Helper(m) => write!(f, "helper: {m}"),
            ProbeError::Journal(m) => write!(f, "journal: {m}"),
            ProbeError::Restore(m) => f.write_str(m),
            ProbeError::Resources(m) => write!(f, "refused: {m}"),
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of the probe library.
pub type Result<T> = std::result::Result<T, ProbeError>;
