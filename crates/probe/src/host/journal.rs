//! The journal: what the probe must put back (every THP knob's original value, and whether
//! zram0 may be set up as swap), written before anything changes and kept until everything
//! is back. It lives in a root-only directory under /run and is never written through a
//! symbolic link: the directory must be a real directory owned by root and writable by
//! nobody else, every component of its path must be a real directory, and the temporary
//! file is created with `O_EXCL | O_NOFOLLOW` before it is renamed over the journal.

use crate::error::{ProbeError, Result};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Directory of the journal.
pub const JOURNAL_DIR: &str = "/run/foliolab-probe";
const HEADER: &str = "foliolab-probe journal 1";

/// The journal file of this host.
pub fn journal_path() -> PathBuf {
    Path::new(JOURNAL_DIR).join("journal")
}

/// What the journal records.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Journal {
    /// The probe that wrote it (for messages).
    pub pid: u32,
    /// (path relative to the THP directory, original value).
    pub knobs: Vec<(String, String)>,
    /// The probe may have configured zram0 as swap: swapoff and reset it on restore.
    pub zram: bool,
}

impl Journal {
    /// Nothing left to restore.
    pub fn is_empty(&self) -> bool {
        self.knobs.is_empty() && !self.zram
    }

    pub fn render(&self) -> String {
        let mut s = format!("{HEADER}\npid {}\n", self.pid);
        for (k, v) in &self.knobs {
            s.push_str(&format!("knob {k} {v}\n"));
        }
        if self.zram {
            s.push_str("zram zram0\n");
        }
        s
    }

    pub fn parse(text: &str) -> Result<Journal> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(ProbeError::Journal("missing header".into()));
        }
        let mut j = Journal::default();
        for l in lines {
            j.parse_line(l)?;
        }
        Ok(j)
    }

    fn parse_line(&mut self, l: &str) -> Result<()> {
        let mut it = l.splitn(3, ' ');
        match (it.next(), it.next(), it.next()) {
            (Some("pid"), Some(p), None) => {
                self.pid = p
                    .parse()
                    .map_err(|_| ProbeError::Journal(format!("bad pid {p}")))?
            }
            (Some("knob"), Some(k), Some(v)) => {
                if k.contains("..") || k.starts_with('/') || v.contains('\n') {
                    return Err(ProbeError::Journal(format!("bad knob {k}")));
                }
                self.knobs.push((k.to_string(), v.to_string()))
            }
            (Some("zram"), Some("zram0"), None) => self.zram = true,
            (Some(""), None, None) | (None, _, _) => {}
            _ => return Err(ProbeError::Journal(format!("bad line {l:?}"))),
        }
        Ok(())
    }

    /// Writes the journal as `dir/journal`, atomically (a fresh temporary file, fsync,
    /// rename, fsync of the directory), never through a symbolic link.
    pub fn store_in(&self, dir: &Path) -> Result<()> {
        secure_dir(dir)?;
        let tmp = dir.join("journal.tmp");
        // unlink never follows a symbolic link: a planted link is removed, not its target.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProbeError::io(format!("remove {}", tmp.display()), e)),
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| ProbeError::io(format!("create {}", tmp.display()), e))?;
        f.write_all(self.render().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| ProbeError::io(format!("write {}", tmp.display()), e))?;
        let path = dir.join("journal");
        fs::rename(&tmp, &path)
            .map_err(|e| ProbeError::io(format!("rename to {}", path.display()), e))?;
        sync_dir(dir)
    }

    /// Reads `dir/journal`; `None` when there is none. Refuses a symbolic link.
    pub fn load_from(dir: &Path) -> Result<Option<Journal>> {
        let path = dir.join("journal");
        let opened = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path);
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ProbeError::io(format!("open {}", path.display()), e)),
        };
        let mut text = String::new();
        f.read_to_string(&mut text)
            .map_err(|e| ProbeError::io(format!("read {}", path.display()), e))?;
        Journal::parse(&text).map(Some)
    }

    /// Removes `dir/journal` (nothing left to restore).
    pub fn remove_in(dir: &Path) -> Result<()> {
        let path = dir.join("journal");
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ProbeError::io(format!("remove {}", path.display()), e)),
        }
    }
}

/// Refuses `path` if it or any directory above it is a symbolic link.
pub fn refuse_symlinks(path: &Path) -> Result<()> {
    for p in path.ancestors() {
        if p.as_os_str().is_empty() || p == Path::new("/") {
            continue;
        }
        match fs::symlink_metadata(p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ProbeError::Host(format!(
                    "{} is a symbolic link: the probe writes its lock and journal only through real directories",
                    p.display()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Creates `dir` (mode 0700) if missing; refuses it unless it is a real directory owned by
/// this user and writable by nobody else.
fn secure_dir(dir: &Path) -> Result<()> {
    refuse_symlinks(dir)?;
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(ProbeError::io(format!("mkdir {}", dir.display()), e));
        }
    }
    let m = fs::symlink_metadata(dir)
        .map_err(|e| ProbeError::io(format!("stat {}", dir.display()), e))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.is_dir() || m.uid() != me || m.mode() & 0o022 != 0 {
        return Err(ProbeError::Host(format!(
            "{} must be a directory owned by uid {me} and writable only by it",
            dir.display()
        )));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d =
        fs::File::open(dir).map_err(|e| ProbeError::io(format!("open {}", dir.display()), e))?;
    d.sync_all()
        .map_err(|e| ProbeError::io(format!("fsync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("foliolab-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn roundtrip() {
        let j = Journal {
            pid: 42,
            knobs: vec![
                ("enabled".into(), "madvise".into()),
                ("hugepages-64kB/enabled".into(), "never".into()),
            ],
            zram: true,
        };
        assert_eq!(Journal::parse(&j.render()).ok(), Some(j));
        assert!(Journal::parse("garbage").is_err());
        assert!(Journal::parse("foliolab-probe journal 1\nknob /etc/x 1\n").is_err());
        assert!(Journal::parse("foliolab-probe journal 1\nknob ../x 1\n").is_err());
    }

    #[test]
    fn store_never_follows_a_planted_symlink() {
        let d = tempdir("tmp-link");
        let jd = d.join("j");
        fs::create_dir(&jd).expect("mkdir");
        let victim = d.join("victim");
        fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, jd.join("journal.tmp")).expect("symlink");
        std::os::unix::fs::symlink(&victim, jd.join("journal")).expect("symlink");
        let j = Journal {
            pid: 1,
            knobs: vec![("enabled".into(), "madvise".into())],
            zram: false,
        };
        j.store_in(&jd).expect("store");
        assert_eq!(fs::read_to_string(&victim).expect("read"), "precious");
        assert_eq!(Journal::load_from(&jd).expect("load"), Some(j));
        Journal::remove_in(&jd).expect("remove");
        assert_eq!(Journal::load_from(&jd).expect("load"), None);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_symlinked_directories_and_journals() {
        let d = tempdir("dir-link");
        let real = d.join("real");
        fs::create_dir(&real).expect("mkdir");
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let j = Journal::default();
        assert!(j.store_in(&link).is_err(), "a symlinked directory");
        assert!(j.store_in(&link.join("sub")).is_err(), "below a symlink");
        std::os::unix::fs::symlink(d.join("elsewhere"), real.join("journal")).expect("symlink");
        assert!(Journal::load_from(&real).is_err(), "a symlinked journal");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempdir("perm");
        let jd = d.join("j");
        fs::create_dir(&jd).expect("mkdir");
        fs::set_permissions(&jd, fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(Journal::default().store_in(&jd).is_err());
        let _ = fs::remove_dir_all(&d);
    }
}
