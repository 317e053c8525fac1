//! foliolab's cache of kernels and the private apt state: `FOLIOLAB_CACHE` if set, else
//! `$XDG_CACHE_HOME/foliolab`, else `~/.cache/foliolab`. Preparation takes a lock there, so
//! two foliolab processes never download or unpack the same kernel at once.

use super::VmError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct Cache {
    root: PathBuf,
}

/// The held cache lock (released when dropped).
pub struct CacheLock {
    file: File,
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // SAFETY: a valid open fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Cache {
    /// The cache directory from the environment (created if needed).
    pub fn from_env() -> Result<Cache, VmError> {
        let root = if let Some(p) = std::env::var_os("FOLIOLAB_CACHE") {
            PathBuf::from(p)
        } else if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
            PathBuf::from(p).join("foliolab")
        } else if let Some(h) = std::env::var_os("HOME") {
            PathBuf::from(h).join(".cache/foliolab")
        } else {
            return Err(VmError::Usage(
                "no cache directory: set FOLIOLAB_CACHE (or HOME)".into(),
            ));
        };
        Cache::at(root)
    }

    pub fn at(root: PathBuf) -> Result<Cache, VmError> {
        std::fs::create_dir_all(root.join("kernels"))
            .map_err(|e| VmError::io(format!("mkdir {}", root.display()), e))?;
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the cache lock, waiting for another foliolab that holds it.
    pub fn lock(&self) -> Result<CacheLock, VmError> {
        let p = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| VmError::io(format!("open {}", p.display()), e))?;
        // SAFETY: a valid open fd.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(VmError::io(
                format!("flock {}", p.display()),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(CacheLock { file })
    }
}
