//! The host lock: one program at a time changes THP knobs, swap and zram or runs scenarios
//! (`flock` on /run/foliolab-probe.lock). Until a process holds it, it touches nothing:
//! not the journal, not a knob, not a helper.

use crate::error::{ProbeError, Result};
use crate::host::journal::refuse_symlinks;
use crate::sys;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lock every program that changes THP knobs or runs scenarios holds (flock).
pub const LOCK_PATH: &str = "/run/foliolab-probe.lock";

/// How long a probe waits for another holder before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(3600);

/// The open lock file (the flock is released when it is closed).
#[derive(Debug)]
pub struct HostLock {
    file: fs::File,
}

impl HostLock {
    /// Takes the lock, waiting up to `timeout` for another holder (saying so once on
    /// stderr). The lock file is never opened through a symbolic link.
    pub fn acquire(timeout: Duration) -> Result<HostLock> {
        let path = Path::new(LOCK_PATH);
        refuse_symlinks(path)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| ProbeError::io(format!("open {LOCK_PATH}"), e))?;
        let start = Instant::now();
        let mut told = false;
        while !try_flock(&file)? {
            if start.elapsed() > timeout {
                return Err(ProbeError::Host(format!(
                    "{LOCK_PATH} held by another program for {timeout:?}"
                )));
            }
            if !told {
                eprintln!("foliolab probe: waiting for {LOCK_PATH} (another probe runs)");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(HostLock { file })
    }
}

fn try_flock(file: &fs::File) -> Result<bool> {
    // SAFETY: a valid open fd.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    if sys::errno() != libc::EWOULDBLOCK {
        return Err(ProbeError::last_os(format!("flock {LOCK_PATH}")));
    }
    Ok(false)
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: a valid open fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}
