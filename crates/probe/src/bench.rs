//! `foliolab bench`'s kernel side: fork, child exit and munmap of touched anonymous memory
//! on this machine's kernel, with the THP knobs of each backing set for the run only.
//!
//! The knobs go through [`HostGuard`] (lock, journal, restore on every exit path, signals),
//! the size is checked against the host's room before anything changes, and every
//! measurement runs in a fresh worker process (`foliolab __bench-kernel`) so that the
//! memory of the process that measures is not part of what fork copies. The worker is
//! killed through its pidfd if the bench dies, and dies with its parent. This module never
//! uses the model: `foliolab bench` (crates/cli) puts the two sides next to each other.
//!
//! Both sides are timed by CPU time, not by the wall clock, so that other jobs on the host
//! (which preempt the worker, or the model) do not count, and the kernel side by the task
//! that does the work:
//! - fork and munmap: the worker thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) around the
//!   call (`dup_mmap` and the unmap run in the caller's context);
//! - child exit: the exiting child's CPU time from the word to exit until it is reaped,
//!   that is its total (`wait4`'s rusage) minus what it had used before (which it stores in
//!   a shared page just before `_exit`): `exit_mmap` and the rest of `do_exit` run in the
//!   child's context. The parent's reaping (`release_task`, microseconds) is left out;
//!   the shared page adds one page to the child's unmap (of 262,144 at 1 GiB of 4K).
//!
//! The worker runs pinned to one CPU, its child with it: the child cannot still be running
//! the end of `do_exit` on another CPU when the parent reaps it (its runtime is brought up
//! to date when it is switched out), and the unmaps need no TLB-flush IPIs. Both only
//! make the kernel's figures smaller, never the model's ratio better. Work the kernel
//! defers out of the task (page tables freed after an RCU grace period, in softirq) is not
//! counted, as the wall clock did not count it either. The wall-clock figures are kept
//! next to them ([`KernelSample::wall`]).

use crate::budget::{room, show, RESERVE_BYTES};
use crate::error::{ProbeError, Result};
use crate::host::{self, HostGuard};
use crate::pidfd::PidFd;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Nanoseconds of CPU time (user and system) the calling thread has used:
/// `CLOCK_THREAD_CPUTIME_ID`.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given (async-signal-safe: the bench
    // worker's child calls it between fork and _exit).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A point in time on both clocks.
#[derive(Clone, Copy)]
struct Stamp {
    cpu_ns: u64,
    wall: Instant,
}

impl Stamp {
    fn now() -> Stamp {
        Stamp {
            cpu_ns: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }
    /// (CPU, wall) nanoseconds since `self`.
    fn elapsed(self) -> (u64, u64) {
        (
            thread_cpu_ns().saturating_sub(self.cpu_ns),
            self.wall.elapsed().as_nanos() as u64,
        )
    }
}

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

/// One measurement, in milliseconds of CPU time of the task doing the work (module
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelSample {
    /// `fork()` in the parent (page-table copy of the whole region).
    pub fork_ms: f64,
    /// The child's teardown, from the word to exit until it is reaped.
    pub exit_ms: f64,
    /// `munmap` of the region, after the child is gone.
    pub munmap_ms: f64,
    /// `AnonHugePages` of the worker before the fork, in KiB (the 2M backing's check).
    pub anon_huge_kib: u64,
    /// The same three by the wall clock: fork and munmap as the worker saw them, the exit
    /// from the word to exit until `wait4` returned.
    pub wall: [f64; 3],
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
    if v.len() != 7 {
        return None;
    }
    let ns = |i: usize| -> Option<f64> { Some(v.get(i)?.parse::<u64>().ok()? as f64 / 1e6) };
    Some(KernelSample {
        fork_ms: ns(0)?,
        exit_ms: ns(1)?,
        munmap_ms: ns(2)?,
        anon_huge_kib: v.get(3)?.parse().ok()?,
        wall: [ns(4)?, ns(5)?, ns(6)?],
    })
}

/// The worker (`foliolab __bench-kernel BACKING LEN_BYTES`): pins itself to its CPU, maps
/// and touches the region, times fork, the child's exit and munmap, and prints `FORK_NS
/// EXIT_NS MUNMAP_NS ANON_HUGE_KIB` (CPU time) then the same three by the wall clock.
/// Exits 2 on bad arguments, 1 when a system call fails.
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
    pin_to_this_cpu()?;
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
    let shared = SharedWord::new()?;
    let ((fork_cpu, fork_wall), (exit_cpu, exit_wall)) = fork_and_reap(&shared)?;
    let t = Stamp::now();
    // SAFETY: unmapping the region this function mapped (the rest of the mapping stays).
    if unsafe { libc::munmap(start, len_usize) } != 0 {
        return Err(ProbeError::last_os("munmap"));
    }
    let (munmap_cpu, munmap_wall) = t.elapsed();
    Ok(format!(
        "{fork_cpu} {exit_cpu} {munmap_cpu} {anon_huge_kib} {fork_wall} {exit_wall} {munmap_wall}"
    ))
}

/// Pins the calling thread (and the children it forks) to the CPU it runs on.
fn pin_to_this_cpu() -> Result<()> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 {
        return Err(ProbeError::last_os("sched_getcpu"));
    }
    crate::sys::pin_to_cpu(cpu as usize)
}

/// A word in a shared anonymous page, written by the child of fork and read by the parent
/// (the child's CPU time just before `_exit`).
struct SharedWord(*mut u64);

impl SharedWord {
    fn new() -> Result<SharedWord> {
        // SAFETY: a fresh shared anonymous page; checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(ProbeError::last_os("mmap of the shared word"));
        }
        Ok(SharedWord(p.cast()))
    }
    fn read(&self) -> u64 {
        // SAFETY: the page is mapped while `self` lives.
        unsafe { std::ptr::read_volatile(self.0) }
    }
}

impl Drop for SharedWord {
    fn drop(&mut self) {
        // SAFETY: unmapping the page `new` mapped.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// The child of [`fork_and_reap`]: waits for end of file on `fd`, stores its CPU time in
/// `shared`, exits.
fn child_waits_then_exits(fd: i32, other_end: i32, shared: *mut u64) -> ! {
    let mut b = 0u8;
    // SAFETY: only async-signal-safe calls in the child of fork: closing the child's copy
    // of the write end (else the read never sees end of file), reading one byte into a
    // local, clock_gettime, a store into the shared page mapped before the fork, _exit.
    unsafe {
        libc::close(other_end);
        libc::read(fd, (&mut b as *mut u8).cast(), 1);
        std::ptr::write_volatile(shared, thread_cpu_ns());
        libc::_exit(0)
    }
}

/// Forks a child that waits on a pipe, then tells it to exit: (CPU, wall) nanoseconds of
/// fork in the parent, and of the child's exit (its CPU time from the word to exit until
/// it is reaped; the wall clock from the word until `wait4` returns).
fn fork_and_reap(shared: &SharedWord) -> Result<((u64, u64), (u64, u64))> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(ProbeError::last_os("pipe"));
    }
    let t = Stamp::now();
    // SAFETY: the child runs only `child_waits_then_exits` (async-signal-safe calls).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_waits_then_exits(fds[0], fds[1], shared.0);
    }
    let fork = t.elapsed();
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
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut ru) } != pid {
        return Err(ProbeError::last_os("wait4"));
    }
    let exit_wall = t.elapsed().as_nanos() as u64;
    let before_exit_ns = shared.read();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 || before_exit_ns == 0 {
        return Err(ProbeError::Helper(format!(
            "bench worker's child ended with status {status:#x}"
        )));
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    let child_ns = (us(ru.ru_utime) + us(ru.ru_stime)) * 1000;
    Ok((fork, (child_ns.saturating_sub(before_exit_ns), exit_wall)))
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
        let s = parse_sample("24000000 1000000 95000000 0 25000000 2000000 96000000\n")
            .expect("parses");
        assert_eq!((s.fork_ms, s.exit_ms, s.munmap_ms), (24.0, 1.0, 95.0));
        assert_eq!(s.wall, [25.0, 2.0, 96.0]);
        assert!(parse_sample("24000000 1000000 95000000 0").is_none());
        assert!(parse_sample("24000000 x").is_none());
        assert!(parse_sample("").is_none());
    }
}
