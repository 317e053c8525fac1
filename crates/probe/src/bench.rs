//! `foliolab bench`'s kernel side: fork, child exit and munmap of touched anonymous memory
//! on this machine's kernel, with the THP knobs of each backing set for the run only.
//!
//! The knobs go through [`HostGuard`] (lock, journal, restore on every exit path, signals),
//! the size is checked against the host's room before anything changes, and every
//! measurement runs in a fresh worker process (`foliolab __bench-kernel`) so that the
//! memory of the process that measures is not part of what fork copies. The worker is
//! killed through its pidfd if the bench dies, and dies with its parent. This module never
//! uses the model: `foliolab bench` (crates/cli) puts the two sides next to each other.

use crate::budget::{room, show, RESERVE_BYTES};
use crate::error::{ProbeError, Result};
use crate::host::{self, HostGuard};
use crate::pidfd::PidFd;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The first argument that makes `foliolab` a bench worker.
pub const WORKER_ARG: &str = "__bench-kernel";

/// How the touched memory is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Base pages: the region is MADV_NOHUGEPAGE.
    Base4K,
    /// 64K mTHP: only `hugepages-64kB` enabled (madvise), the region MADV_HUGEPAGE.
    Mthp64K,
    /// PMD THP: only `hugepages-2048kB` enabled (madvise), the region MADV_HUGEPAGE.
    Pmd2M,
}

impl Backing {
    pub const ALL: [Backing; 3] = [Backing::Base4K, Backing::Mthp64K, Backing::Pmd2M];

    pub fn name(self) -> &'static str {
        match self {
            Backing::Base4K => "4K",
            Backing::Mthp64K => "64K",
            Backing::Pmd2M => "2M",
        }
    }

    fn from_name(name: &str) -> Option<Backing> {
        Backing::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The per-size directory left enabled (`madvise`), if any.
    fn size_dir(self) -> Option<&'static str> {
        match self {
            Backing::Base4K => None,
            Backing::Mthp64K => Some("hugepages-64kB"),
            Backing::Pmd2M => Some("hugepages-2048kB"),
        }
    }
}

/// One measurement, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelSample {
    /// `fork()` as the parent sees it (page-table copy of the whole region).
    pub fork_ms: f64,
    /// From telling the waiting child to exit until it is reaped (its teardown).
    pub exit_ms: f64,
    /// `munmap` of the region, after the child is gone.
    pub munmap_ms: f64,
    /// `AnonHugePages` of the worker before the fork, in KiB (the 2M backing's check).
    pub anon_huge_kib: u64,
}

/// Whether this process runs as root (the kernel side needs it for the THP knobs).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `runs` samples of each backing for a region of `len_bytes`: refuses when not root or
/// when the region does not fit the host's room (nothing changed then); sets each
/// backing's knobs through the host guard and restores them before returning.
pub fn measure(
    len_bytes: u64,
    runs: usize,
    backings: &[Backing],
) -> Result<Vec<(Backing, Vec<KernelSample>)>> {
    if !is_root() {
        return Err(ProbeError::Host(
            "the kernel side of bench needs root (it sets THP knobs for the run)".into(),
        ));
    }
    check_room(len_bytes)?;
    let guard = HostGuard::acquire()?;
    let mut out = Vec::new();
    for &b in backings {
        guard.set_knobs(&knobs_for(b, guard.saved_knobs()))?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(run_worker(b, len_bytes)?);
        }
        out.push((b, samples));
    }
    guard.restore()?;
    Ok(out)
}

/// The region (and its page tables, twice while the child lives) must fit with the
/// probe's reserve to spare.
fn check_room(len_bytes: u64) -> Result<()> {
    let need = len_bytes + 2 * (len_bytes / 512) + (16 << 20);
    let r = room();
    if need + RESERVE_BYTES <= r.bytes {
        return Ok(());
    }
    Err(ProbeError::Resources(format!(
        "bench needs about {} plus {} to spare, but only {} is available (limited by {}); nothing on the host was changed",
        show(need),
        show(RESERVE_BYTES),
        show(r.bytes),
        r.limited_by
    )))
}

/// Every per-size anon knob `never` but the backing's own (`madvise`); the global
/// `enabled` is `madvise`, so only the worker's MADV_HUGEPAGE region gets large folios.
fn knobs_for(b: Backing, saved: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = vec![("enabled".to_string(), "madvise".to_string())];
    for (k, _) in saved {
        if let Some(dir) = k.strip_suffix("/enabled") {
            let on = b.size_dir() == Some(dir);
            out.push((k.clone(), if on { "madvise" } else { "never" }.to_string()));
        }
    }
    out
}

/// One worker run: spawned, registered for killing, its one line parsed.
fn run_worker(b: Backing, len_bytes: u64) -> Result<KernelSample> {
    let exe = std::env::current_exe().map_err(|e| ProbeError::io("current_exe", e))?;
    let mut child = Command::new(exe)
        .args([WORKER_ARG, b.name(), &len_bytes.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| ProbeError::io("start the bench worker", e))?;
    // Our child, not yet waited for: its pid cannot have been reused.
    let pidfd = PidFd::open(child.id() as i32)?;
    host::register_helper(&pidfd);
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|o| BufReader::new(o).read_line(&mut line));
    let status = child.wait();
    host::unregister_helper(pidfd.pid());
    let status = status.map_err(|e| ProbeError::io("wait for the bench worker", e))?;
    if !matches!(read, Some(Ok(n)) if n > 0) || !status.success() {
        return Err(ProbeError::Helper(format!(
            "bench worker ({}) failed: {status}",
            b.name()
        )));
    }
    parse_sample(&line).ok_or_else(|| ProbeError::Helper(format!("bench worker answered {line:?}")))
}

fn parse_sample(line: &str) -> Option<KernelSample> {
    let v: Vec<&str> = line.split_whitespace().collect();
    let ns = |i: usize| -> Option<f64> { Some(v.get(i)?.parse::<u64>().ok()? as f64 / 1e6) };
    Some(KernelSample {
        fork_ms: ns(0)?,
        exit_ms: ns(1)?,
        munmap_ms: ns(2)?,
        anon_huge_kib: v.get(3)?.parse().ok()?,
    })
}

/// The worker (`foliolab __bench-kernel BACKING LEN_BYTES`): maps and touches the region,
/// times fork, the child's exit and munmap, and prints `FORK_NS EXIT_NS MUNMAP_NS
/// ANON_HUGE_KIB`. Exits 2 on bad arguments, 1 when a system call fails.
pub fn worker_main() -> ! {
    // SAFETY: prctl(PR_SET_PDEATHSIG) has no memory effects; the worker dies with its parent.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let args: Vec<String> = std::env::args().skip(2).collect();
    let parsed = match args.as_slice() {
        [b, len] => Backing::from_name(b).zip(len.parse::<u64>().ok()),
        _ => None,
    };
    let Some((b, len)) = parsed else {
        eprintln!("usage: foliolab {WORKER_ARG} 4K|64K|2M LEN_BYTES");
        std::process::exit(2);
    };
    match worker_run(b, len) {
        Ok(line) => {
            println!("{line}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("bench worker: {e}");
            std::process::exit(1)
        }
    }
}

fn worker_run(b: Backing, len: u64) -> Result<String> {
    let len_usize = len as usize;
    // SAFETY: a fresh private anonymous mapping; checked for MAP_FAILED below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len_usize + (2 << 20),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(ProbeError::last_os("mmap"));
    }
    // 2M-align the region inside the mapping, so every backing can fill it.
    let start = ((addr as usize + (2 << 20) - 1) & !((2 << 20) - 1)) as *mut libc::c_void;
    let advice = match b {
        Backing::Base4K => libc::MADV_NOHUGEPAGE,
        _ => libc::MADV_HUGEPAGE,
    };
    // SAFETY: advice on the range just mapped.
    if unsafe { libc::madvise(start, len_usize, advice) } != 0 {
        return Err(ProbeError::last_os("madvise"));
    }
    for off in (0..len_usize).step_by(4096) {
        // SAFETY: inside the mapping, writable.
        unsafe { std::ptr::write_volatile((start as *mut u8).add(off), 1) };
    }
    let anon_huge_kib = anon_huge_kib();
    let (fork_ns, exit_ns) = fork_and_reap()?;
    let t = Instant::now();
    // SAFETY: unmapping the region this function mapped (the rest of the mapping stays).
    if unsafe { libc::munmap(start, len_usize) } != 0 {
        return Err(ProbeError::last_os("munmap"));
    }
    let munmap_ns = t.elapsed().as_nanos();
    Ok(format!("{fork_ns} {exit_ns} {munmap_ns} {anon_huge_kib}"))
}

/// Forks a child that waits on a pipe, then tells it to exit: the nanoseconds of fork in
/// the parent, and from the word to exit until the child is reaped (its teardown).
fn fork_and_reap() -> Result<(u128, u128)> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(ProbeError::last_os("pipe"));
    }
    let t = Instant::now();
    // SAFETY: the child calls only read and _exit (async-signal-safe).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: closing the child's copy of the write end (else the read never sees end
        // of file), reading one byte into a local, then _exit in the child of fork.
        unsafe {
            libc::close(fds[1]);
            libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
            libc::_exit(0)
        };
    }
    let fork_ns = t.elapsed().as_nanos();
    // SAFETY: closing our read end.
    unsafe { libc::close(fds[0]) };
    if pid < 0 {
        // SAFETY: closing our write end.
        unsafe { libc::close(fds[1]) };
        return Err(ProbeError::last_os("fork"));
    }
    let t = Instant::now();
    // SAFETY: closing the write end wakes the child's read with end of file.
    unsafe { libc::close(fds[1]) };
    let mut status = 0;
    // SAFETY: waiting for our own child.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(ProbeError::last_os("waitpid"));
    }
    Ok((fork_ns, t.elapsed().as_nanos()))
}

/// `AnonHugePages` of this process (smaps_rollup), in KiB; 0 when unreadable.
fn anon_huge_kib() -> u64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("AnonHugePages:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backing_leaves_only_its_own_size_enabled() {
        let saved: Vec<(String, String)> = [
            "enabled",
            "defrag",
            "hugepages-16kB/enabled",
            "hugepages-64kB/enabled",
            "hugepages-64kB/shmem_enabled",
            "hugepages-2048kB/enabled",
        ]
        .iter()
        .map(|k| (k.to_string(), "never".to_string()))
        .collect();
        let on = |b: Backing| -> Vec<String> {
            knobs_for(b, &saved)
                .into_iter()
                .filter(|(k, v)| v == "madvise" && k != "enabled")
                .map(|(k, _)| k)
                .collect()
        };
        assert!(on(Backing::Base4K).is_empty());
        assert_eq!(on(Backing::Mthp64K), vec!["hugepages-64kB/enabled"]);
        assert_eq!(on(Backing::Pmd2M), vec!["hugepages-2048kB/enabled"]);
        assert_eq!(
            knobs_for(Backing::Pmd2M, &saved).len(),
            4,
            "global + 3 sizes"
        );
    }

    #[test]
    fn worker_lines_parse_and_garbage_does_not() {
        let s = parse_sample("24000000 1000000 95000000 0\n").expect("parses");
        assert_eq!((s.fork_ms, s.exit_ms, s.munmap_ms), (24.0, 1.0, 95.0));
        assert!(parse_sample("24000000 x").is_none());
        assert!(parse_sample("").is_none());
    }
}
