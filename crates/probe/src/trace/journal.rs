//! The recorder's journal: what a recording changed on the host (a tracefs mount, a tracefs
//! instance), written before the change and undone on every exit path; after a SIGKILL the
//! next `foliolab record` (or `foliolab record --restore`) undoes it. It lives beside the
//! probe's journal and is written under the same lock.

use crate::error::{ProbeError, Result};
use crate::host::JOURNAL_DIR;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The journal file (`FOLIOLAB_RECORD_JOURNAL` overrides it, for tests only).
pub fn journal_path() -> PathBuf {
    match std::env::var_os("FOLIOLAB_RECORD_JOURNAL") {
        Some(p) => PathBuf::from(p),
        None => Path::new(JOURNAL_DIR).join("record-journal"),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordJournal {
    pub pid: u32,
    /// tracefs was not mounted: the recorder mounted it here.
    pub mounted: Option<String>,
    /// The private tracefs instance directory.
    pub instance: Option<String>,
}

impl RecordJournal {
    pub fn render(&self) -> String {
        let mut s = format!("foliolab-record journal 1\npid {}\n", self.pid);
        if let Some(m) = &self.mounted {
            s.push_str(&format!("mounted {m}\n"));
        }
        if let Some(i) = &self.instance {
            s.push_str(&format!("instance {i}\n"));
        }
        s
    }

    pub fn parse(text: &str) -> Result<RecordJournal> {
        let mut lines = text.lines();
        if lines.next() != Some("foliolab-record journal 1") {
            return Err(ProbeError::Journal("record journal: missing header".into()));
        }
        let mut j = RecordJournal::default();
        for l in lines.filter(|l| !l.is_empty()) {
            let bad = || ProbeError::Journal(format!("record journal: bad line {l:?}"));
            let (k, v) = l.split_once(' ').ok_or_else(bad)?;
            match k {
                "pid" => j.pid = v.parse().map_err(|_| bad())?,
                "mounted" if v.starts_with('/') => j.mounted = Some(v.to_string()),
                "instance" if v.contains("/instances/foliolab-") && !v.contains("..") => {
                    j.instance = Some(v.to_string())
                }
                _ => return Err(bad()),
            }
        }
        Ok(j)
    }

    /// Atomic write: temporary file, fsync, rename.
    pub fn store(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| ProbeError::io(format!("mkdir {}", dir.display()), e))?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp)
            .map_err(|e| ProbeError::io(format!("create {}", tmp.display()), e))?;
        f.write_all(self.render().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| ProbeError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, path).map_err(|e| ProbeError::io(format!("rename {}", path.display()), e))
    }

    pub fn load(path: &Path) -> Result<Option<RecordJournal>> {
        match fs::read_to_string(path) {
            Ok(t) => RecordJournal::parse(&t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProbeError::io(format!("read {}", path.display()), e)),
        }
    }
}

/// Stops and removes a tracefs instance (retrying while a reader still closes its files).
pub fn remove_instance(dir: &str) -> Result<()> {
    let p = Path::new(dir);
    if !p.exists() {
        return Ok(());
    }
    let _ = fs::write(p.join("tracing_on"), "0");
    let _ = fs::write(p.join("events/enable"), "0");
    let _ = fs::write(p.join("set_event_pid"), "");
    for _ in 0..100 {
        match fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ProbeError::io(format!("rmdir {dir}"), e)),
        }
    }
    Err(ProbeError::Host(format!(
        "rmdir {dir}: still busy after 2 s"
    )))
}

/// Unmounts tracefs at `dir` if it is mounted there.
pub fn unmount(dir: &str) -> Result<()> {
    if !super::tracefs::is_tracefs_mount(dir) {
        return Ok(());
    }
    let c = crate::sys::cstring(dir)?;
    // SAFETY: a valid path.
    if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
        return Err(ProbeError::last_os(format!("umount {dir}")));
    }
    Ok(())
}

/// Undoes what a journal records and removes it; `Ok(None)` without a journal.
pub fn restore_from(path: &Path) -> Result<Option<RecordJournal>> {
    let Some(j) = RecordJournal::load(path)? else {
        return Ok(None);
    };
    if let Some(i) = &j.instance {
        remove_instance(i)?;
    }
    if let Some(m) = &j.mounted {
        unmount(m)?;
    }
    fs::remove_file(path).map_err(|e| ProbeError::io(format!("remove {}", path.display()), e))?;
    Ok(Some(j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects() {
        let j = RecordJournal {
            pid: 7,
            mounted: Some("/sys/kernel/tracing".into()),
            instance: Some("/sys/kernel/tracing/instances/foliolab-7".into()),
        };
        assert_eq!(RecordJournal::parse(&j.render()).unwrap(), j);
        assert!(RecordJournal::parse("x").is_err());
        let bad = "foliolab-record journal 1\ninstance /etc\n";
        assert!(RecordJournal::parse(bad).is_err());
    }
}
