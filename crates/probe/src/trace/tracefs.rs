//! tracefs: finding or mounting it, and the recorder's private instance.

use crate::error::{ProbeError, Result};
use foliolab_record::format::Format;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Whether tracefs is mounted at `dir` (per /proc/self/mounts).
pub fn is_tracefs_mount(dir: &str) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines().any(|l| {
                let mut it = l.split(' ');
                let (_, at, ty) = (it.next(), it.next(), it.next());
                at == Some(dir) && ty == Some("tracefs")
            })
        })
        .unwrap_or(false)
}

/// Mounts tracefs at [`TRACEFS`].
pub fn mount() -> Result<()> {
    let (src, dir, ty) = (
        crate::sys::cstring("nodev")?,
        crate::sys::cstring(TRACEFS)?,
        crate::sys::cstring("tracefs")?,
    );
    // SAFETY: valid NUL-terminated strings; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), dir.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        return Err(ProbeError::last_os(format!("mount tracefs on {TRACEFS}")));
    }
    Ok(())
}

/// The instance directory, once created.
pub struct Instance {
    pub dir: PathBuf,
}

impl Instance {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn write(&self, rel: &str, value: &str) -> Result<()> {
        fs::write(self.path(rel), value).map_err(|e| {
            ProbeError::io(
                format!("write {value:?} to {}", self.path(rel).display()),
                e,
            )
        })
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        fs::read_to_string(self.path(rel))
            .map_err(|e| ProbeError::io(format!("read {}", self.path(rel).display()), e))
    }

    /// Buffer per CPU, the global clock (events of different CPUs are ordered by it), new
    /// events dropped rather than old ones overwritten when a buffer is full (either way
    /// the loss is counted and reported), children of traced tasks traced too.
    pub fn configure(&self, buffer_kb: u64) -> Result<()> {
        self.write("tracing_on", "0")?;
        self.write("buffer_size_kb", &buffer_kb.to_string())?;
        self.write("trace_clock", "global")?;
        self.write("options/overwrite", "0")?;
        self.write("options/event-fork", "1")?;
        // Wake a waiting reader on any data: snapshots must be taken while the program
        // still runs.
        self.write("buffer_percent", "0")?;
        Ok(())
    }

    pub fn enable(&self, events: &[String]) -> Result<()> {
        for e in events {
            self.write(&format!("events/{e}/enable"), "1")?;
        }
        Ok(())
    }

    /// The formats of `names` (`SYSTEM/NAME`), from the top-level events directory.
    pub fn formats(&self, names: &[String]) -> Result<BTreeMap<String, Format>> {
        let mut out = BTreeMap::new();
        for n in names {
            let p = self.path(&format!("events/{n}/format"));
            let text = fs::read_to_string(&p)
                .map_err(|e| ProbeError::io(format!("read {}", p.display()), e))?;
            let f = Format::parse(&text)
                .map_err(|e| ProbeError::Host(format!("{}: {e}", p.display())))?;
            out.insert(n.clone(), f);
        }
        Ok(out)
    }

    /// Events each CPU's buffer lost (overrun, dropped, commit overrun).
    pub fn lost_events(&self, cpus: &[usize]) -> Result<u64> {
        let mut lost = 0;
        for c in cpus {
            let stats = self.read(&format!("per_cpu/cpu{c}/stats"))?;
            for l in stats.lines() {
                let Some((k, v)) = l.split_once(':') else {
                    continue;
                };
                if matches!(k.trim(), "overrun" | "commit overrun" | "dropped events") {
                    lost += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Ok(lost)
    }
}

/// The CPUs with a per-CPU buffer directory.
pub fn cpus(inst: &Instance) -> Vec<usize> {
    let mut v: Vec<usize> = fs::read_dir(inst.path("per_cpu"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
