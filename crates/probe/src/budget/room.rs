//! What this machine has room for: `MemAvailable`, and the memory limits of the probe's
//! cgroup and every ancestor (cgroup v2: `memory.max` and `memory.high`; v1:
//! `memory.limit_in_bytes`), each less what the cgroup already uses but for the file cache
//! it can reclaim. The helpers run in the probe's cgroup, so its limits are theirs.

use std::path::{Path, PathBuf};

/// The room, and what limits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    pub bytes: u64,
    /// `MemAvailable` or the cgroup file that is the tightest.
    pub limited_by: String,
}

/// A memory cgroup hierarchy the process is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub v2: bool,
    /// The process's cgroup directory.
    pub dir: PathBuf,
    /// The hierarchy's mount point (the walk stops there).
    pub mount: PathBuf,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// A `Key: N kB` value of /proc/meminfo, in bytes.
pub(crate) fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    })
}

/// The memory cgroup hierarchies of this process, from /proc/self/cgroup and mountinfo.
pub fn hierarchies(cgroup: &str, mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v2 = ctrl.is_empty();
        if !v2 && !ctrl.split(',').any(|c| c == "memory") {
            continue;
        }
        if let Some((root, mount)) = mount_of(mountinfo, v2) {
            let rel = path
                .strip_prefix(root.as_str())
                .unwrap_or(path)
                .trim_start_matches('/');
            out.push(Hierarchy {
                v2,
                dir: mount.join(rel),
                mount,
            });
        }
    }
    out
}

/// (root within the hierarchy, mount point) of the cgroup2 mount, or of the v1 mount with
/// the memory controller.
fn mount_of(mountinfo: &str, v2: bool) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let mut post = post.split_whitespace();
        let (fstype, _src, opts) = (post.next()?, post.next()?, post.next().unwrap_or(""));
        let ok = if v2 {
            fstype == "cgroup2"
        } else {
            fstype == "cgroup" && opts.split(',').any(|o| o == "memory")
        };
        ok.then(|| {
            (
                pre.get(3).unwrap_or(&"/").to_string(),
                PathBuf::from(pre.get(4).unwrap_or(&"/")),
            )
        })
    })
}

/// A limit file's value; `None` when absent or unlimited (`max`, or v1's huge page-rounded
/// LONG_MAX).
fn limit(dir: &Path, name: &str) -> Option<u64> {
    let v = read(&dir.join(name))?;
    let v = v.trim();
    if v == "max" {
        return None;
    }
    v.parse::<u64>().ok().filter(|&n| n < (1u64 << 62))
}

/// File cache the cgroup can reclaim (active and inactive file LRUs).
fn reclaimable(dir: &Path, v2: bool) -> u64 {
    let stat = read(&dir.join("memory.stat")).unwrap_or_default();
    let keys: &[&str] = if v2 {
        &["active_file", "inactive_file"]
    } else {
        &["total_active_file", "total_inactive_file"]
    };
    stat.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            keys.contains(&k).then(|| v.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The room left under each limit of one cgroup directory, with the limit's file.
fn cgroup_rooms(dir: &Path, v2: bool) -> Vec<(u64, String)> {
    let names: &[&str] = if v2 {
        &["memory.max", "memory.high"]
    } else {
        &["memory.limit_in_bytes"]
    };
    let usage_file = if v2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    let used = limit(dir, usage_file).unwrap_or(0);
    let free_cache = reclaimable(dir, v2);
    names
        .iter()
        .filter_map(|n| {
            let lim = limit(dir, n)?;
            let room = lim.saturating_sub(used.saturating_sub(free_cache));
            Some((
                room,
                format!(
                    "{} ({} of which {} in use)",
                    dir.join(n).display(),
                    show(lim),
                    show(used)
                ),
            ))
        })
        .collect()
}

/// Every limit of the hierarchy, from the process's cgroup up to the mount point.
fn hierarchy_rooms(h: &Hierarchy) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut dir = h.dir.as_path();
    loop {
        out.extend(cgroup_rooms(dir, h.v2));
        if dir == h.mount {
            return out;
        }
        match dir.parent() {
            Some(p) if p.starts_with(&h.mount) => dir = p,
            _ => return out,
        }
    }
}

/// Bytes as `1.5 GiB`, `300 MiB`.
pub fn show(bytes: u64) -> String {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    if bytes >= G {
        format!("{:.1} GiB", bytes as f64 / G as f64)
    } else {
        format!("{} MiB", bytes.div_ceil(M))
    }
}

/// The memory cgroup hierarchies this process is in.
pub fn memory_cgroups() -> Vec<Hierarchy> {
    let cgroup = read(Path::new("/proc/self/cgroup")).unwrap_or_default();
    let mountinfo = read(Path::new("/proc/self/mountinfo")).unwrap_or_default();
    hierarchies(&cgroup, &mountinfo)
}

/// This machine's room now.
pub fn room() -> Room {
    let meminfo = read(Path::new("/proc/meminfo")).unwrap_or_default();
    let mut best = Room {
        bytes: meminfo_bytes(&meminfo, "MemAvailable").unwrap_or(0),
        limited_by: "MemAvailable".into(),
    };
    for h in memory_cgroups() {
        for (bytes, what) in hierarchy_rooms(&h) {
            if bytes < best.bytes {
                best = Room {
                    bytes,
                    limited_by: what,
                };
            }
        }
    }
    best
}
