//! [`KernelRunner`]: runs a scenario with real processes on this machine's kernel.
//!
//! Every scenario process is a helper (`proc`), reached through the typed protocol and
//! known by its pidfd; statements become commands (`ops`), observations read what the
//! kernel exposes in bounded batches (`observe`), knobs and khugepaged are set per run
//! (`knobs`). A process that dies without `exit` (the OOM killer, a signal) ends the run as
//! failed (exit 1), never as a pass.

mod knobs;
mod observe;
mod ops;
mod placed;
mod proc;
mod support;

pub use knobs::run_knobs;
pub use observe::BATCH_PAGES;

use crate::budget;
use crate::error::{ProbeError, Result};
use crate::host::HostGuard;
use crate::readers::{self, PhysReader, Unpinnable, PAGE};
use crate::sys;
use foliolab_driver::{
    PageObs, Problem, ProblemKind, ReadValue, RunError, Runner, RunnerKind, SmapsObs,
};
use foliolab_scenario::{Range, RssKind, Scenario, Stmt, StmtKind};
use proc::Proc;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::time::Duration;

/// The lowest address the probe places regions at (32 TiB), far from the helper's own
/// mappings, which the kernel places top-down from below the stack.
const REGION_BASE: u64 = 0x2000_0000_0000;

/// How the runner starts helpers.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// The executable that runs [`crate::helper_main`] when started with `helper_args`.
    pub helper: PathBuf,
    pub helper_args: Vec<String>,
    /// The CPU every scenario process is pinned to.
    pub cpu: usize,
}

impl ProbeOptions {
    /// This executable as the helper (`__probe-helper`), on the highest CPU this process
    /// may run on. No environment variable changes it.
    pub fn this_executable() -> Result<ProbeOptions> {
        let exe = std::env::current_exe().map_err(|e| ProbeError::io("current_exe", e))?;
        Ok(ProbeOptions {
            helper: exe,
            helper_args: vec!["__probe-helper".to_string()],
            cpu: highest_cpu(),
        })
    }

    /// A helper executable that is the helper without arguments (the test tools').
    pub fn helper_executable(helper: PathBuf) -> ProbeOptions {
        ProbeOptions {
            helper,
            helper_args: Vec::new(),
            cpu: highest_cpu(),
        }
    }
}

fn highest_cpu() -> usize {
    // SAFETY: sched_getaffinity writes into the zeroed set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            for c in (0..libc::CPU_SETSIZE as usize).rev() {
                if libc::CPU_ISSET(c, &set) {
                    return c;
                }
            }
        }
    }
    0
}

fn rerr(e: ProbeError) -> RunError {
    RunError::new(e.to_string())
}

/// Start of a new region of the placement rule: a multiple of `align`, not of 2·align, plus
/// `shift`, at least one page past `cursor` (so regions never touch).
pub fn place(cursor: u64, align: u64, shift: u64) -> u64 {
    let two = align * 2;
    let base = (cursor + PAGE).div_ceil(two) * two;
    base + align + shift
}

/// `oom_kill` of /proc/vmstat: OOM kills on the whole host so far.
fn oom_kills() -> u64 {
    readers::vmstat_value("oom_kill").unwrap_or(0)
}

/// Runs one scenario on the kernel. Create one per scenario, under one [`HostGuard`] for
/// the whole probe invocation; dropping it kills and reaps the scenario's processes and
/// switches its swap off.
pub struct KernelRunner<'g> {
    guard: &'g mut HostGuard,
    opts: ProbeOptions,
    phys: PhysReader,
    unpinnable: Unpinnable,
    procs: BTreeMap<String, Proc>,
    files: BTreeMap<String, File>,
    thp_applied: bool,
    baseline: Option<BTreeMap<String, i64>>,
    /// khugepaged/pages_collapsed at the last point khugepaged was allowed to run.
    collapsed: Option<u64>,
    problems: Vec<Problem>,
    swap: bool,
    /// vmstat `oom_kill` when the runner started.
    oom_kills_at_start: u64,
}

/// Every statement of `scenario` the kernel runner cannot perform (`line N: what`).
pub fn unsupported(scenario: &Scenario) -> Vec<String> {
    support::unsupported(scenario)
}

impl<'g> KernelRunner<'g> {
    /// A runner for `scenario`, refused (exit 2, [`ProbeError::Resources`]) before anything
    /// happens when it does not fit this host's memory and cgroup limits. Sets
    /// PR_SET_THP_DISABLE and the child-subreaper flag on this process (helpers clear the
    /// former).
    pub fn new(
        guard: &'g mut HostGuard,
        opts: ProbeOptions,
        scenario: &Scenario,
        mode: budget::Mode,
    ) -> Result<KernelRunner<'g>> {
        budget::check(scenario, mode)?;
        // SAFETY: prctl with plain values.
        unsafe {
            if libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0 {
                return Err(ProbeError::last_os("PR_SET_THP_DISABLE"));
            }
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                return Err(ProbeError::last_os("PR_SET_CHILD_SUBREAPER"));
            }
        }
        Ok(KernelRunner {
            guard,
            opts,
            phys: PhysReader::open()?,
            unpinnable: Unpinnable::read(),
            procs: BTreeMap::new(),
            files: BTreeMap::new(),
            thp_applied: false,
            baseline: None,
            collapsed: None,
            problems: Vec::new(),
            swap: false,
            oom_kills_at_start: oom_kills(),
        })
    }

    /// The pid of a live scenario process (for tools that watch or disturb a run).
    pub fn pid_of(&self, proc: &str) -> Option<i32> {
        self.procs.get(proc).map(Proc::pid)
    }

    fn spawn(&mut self, name: &str) -> Result<()> {
        if !self.thp_applied {
            self.apply_thp(&[])?;
        }
        if self.baseline.is_none() {
            self.collapsed = Some(knobs::pages_collapsed()?);
            self.baseline = Some(readers::read_counters()?);
        }
        let p = Proc::spawn(&self.opts, REGION_BASE)?;
        self.procs.insert(name.to_string(), p);
        Ok(())
    }

    fn file(&mut self, file: &str, size_bytes: u64) -> std::result::Result<(), RunError> {
        let name = sys::cstring(file).map_err(rerr)?;
        // SAFETY: valid name; a non-negative result is a new fd we own.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(rerr(ProbeError::last_os("memfd_create")));
        }
        // SAFETY: fresh fd.
        let f = unsafe { File::from_raw_fd(fd) };
        f.set_len(size_bytes)
            .map_err(|e| RunError::new(format!("ftruncate: {e}")))?;
        self.files.insert(file.to_string(), f);
        Ok(())
    }

    /// ` (the OOM killer ran N times on this host during the run)`, or nothing.
    fn oom_note(&self) -> String {
        match oom_kills().saturating_sub(self.oom_kills_at_start) {
            0 => String::new(),
            n => format!(" (the OOM killer ran {n} times on this host during the run)"),
        }
    }

    /// Names the process in a died error and says whether the OOM killer ran.
    fn explain(&self, proc: &str, e: RunError) -> RunError {
        if e.died {
            RunError::died(format!("{proc}: {}{}", e.message, self.oom_note()))
        } else {
            e
        }
    }

    /// Scenario processes that ended without `exit`, and a dead khugepaged keeper: each is
    /// a `died` problem (the run ends, failed).
    fn deaths(&mut self) -> Vec<Problem> {
        let dead: Vec<String> = self
            .procs
            .iter()
            .filter(|(_, p)| p.pidfd.wait_ended(0))
            .map(|(n, _)| n.clone())
            .collect();
        let mut out = Vec::new();
        for n in dead {
            if let Some(mut p) = self.procs.remove(&n) {
                let how = p.how_ended();
                p.wait_gone(Duration::from_secs(1));
                let message = format!("process {n} (pid {}) {how}{}", p.pid(), self.oom_note());
                out.push(Problem {
                    kind: ProblemKind::Died,
                    message,
                });
            }
        }
        if self.guard.keeper.as_ref().is_some_and(|k| k.ended()) {
            let message = format!(
                "the khugepaged keeper died: khugepaged's pause no longer holds{}",
                self.oom_note()
            );
            out.push(Problem {
                kind: ProblemKind::Died,
                message,
            });
        }
        out
    }

    /// Problems of the last statement: deaths, pins that migrated, khugepaged running while
    /// paused.
    fn statement_problems(&mut self, stmt: &Stmt) -> Vec<Problem> {
        knobs::debug(&format!("after line {}", stmt.pos.line));
        let mut out = std::mem::take(&mut self.problems);
        out.extend(self.deaths());
        if let (Some(before), Ok(now)) = (self.collapsed, knobs::pages_collapsed()) {
            if now != before && !matches!(stmt.kind, StmtKind::Khugepaged) {
                out.push(Problem {
                    kind: ProblemKind::Invariant,
                    message: format!("khugepaged collapsed pages while paused (pages_collapsed {before} -> {now})"),
                });
                self.collapsed = Some(now);
            }
        }
        out
    }

    /// Kills and reaps every scenario process, closes files, switches swap off.
    pub fn finish(&mut self) -> Result<()> {
        for (_, mut p) in std::mem::take(&mut self.procs) {
            p.kill();
        }
        self.files.clear();
        if self.swap {
            self.swap = false;
            self.guard.swap_off()?;
        }
        Ok(())
    }

    fn perform_global(&mut self, stmt: &Stmt) -> std::result::Result<(), RunError> {
        match &stmt.kind {
            StmtKind::Thp { settings } => self.apply_thp(settings).map_err(rerr),
            StmtKind::Swap { size_bytes } => {
                self.swap = true;
                self.guard.swap_on(*size_bytes).map_err(rerr)
            }
            StmtKind::File { file, size_bytes } => self.file(file, *size_bytes),
            StmtKind::Spawn { proc } => self.spawn(proc).map_err(rerr),
            StmtKind::Shrink => self.shrink().map_err(rerr),
            StmtKind::Khugepaged => self.khugepaged().map_err(rerr),
            _ => Ok(()),
        }
    }
}

impl Drop for KernelRunner<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("foliolab probe: teardown: {e}");
        }
    }
}

impl Runner for KernelRunner<'_> {
    fn kind(&self) -> RunnerKind {
        RunnerKind::Kernel {
            release: sys::kernel_release(),
        }
    }

    fn unsupported(&self, scenario: &Scenario) -> Vec<String> {
        support::unsupported(scenario)
    }

    fn perform(&mut self, stmt: &Stmt) -> std::result::Result<(), RunError> {
        match &stmt.kind {
            StmtKind::Proc { proc, op } => self
                .proc_op_placed(proc, op)
                .unwrap_or_else(|| self.proc_op(proc, op))
                .map_err(|e| self.explain(proc, e)),
            _ => self.perform_global(stmt),
        }
    }

    fn read(&mut self, proc: &str, range: &Range) -> std::result::Result<Vec<ReadValue>, RunError> {
        self.read_values(proc, range)
            .map_err(|e| self.explain(proc, e))
    }

    fn pages(
        &mut self,
        proc: &str,
        range: &Range,
    ) -> std::result::Result<Vec<(u64, PageObs)>, RunError> {
        let mut out = Vec::new();
        loop {
            let batch = self.page_batch(proc, range, out.len() as u64)?;
            if batch.is_empty() {
                return Ok(out);
            }
            out.extend(batch);
        }
    }

    fn pages_batch(
        &mut self,
        proc: &str,
        range: &Range,
        skip_pages: u64,
    ) -> std::result::Result<Vec<(u64, PageObs)>, RunError> {
        self.page_batch(proc, range, skip_pages)
    }

    fn smaps(&mut self, proc: &str, region: &str) -> std::result::Result<Vec<SmapsObs>, RunError> {
        self.region_smaps(proc, region)
    }

    fn rss_pages(&mut self, proc: &str, kind: RssKind) -> std::result::Result<u64, RunError> {
        self.rss(proc, kind)
    }

    fn faults(&mut self, proc: &str) -> std::result::Result<u64, RunError> {
        Ok(self.proc_mut(proc)?.last_faults)
    }

    fn stats(&mut self) -> std::result::Result<BTreeMap<String, i64>, RunError> {
        self.stat_deltas()
    }

    fn shows_counter(&self, name: &str) -> bool {
        crate::compat::shows_counter(name)
    }

    fn held_values(&mut self, proc: &str, name: &str) -> std::result::Result<Vec<u64>, RunError> {
        self.held(proc, name).map_err(|e| self.explain(proc, e))
    }

    fn frame_epoch(&mut self, _frame: u64) -> Option<u64> {
        None
    }

    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem> {
        self.statement_problems(stmt)
    }
}

/// Runs one parsed, validated scenario on the kernel through the shared driver, handing
/// every record to `sink`. `unsupported` texts (exit 3) come back in the summary's exit
/// status; print them with [`foliolab_driver::check_supported`] before calling this.
pub fn probe_scenario(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    scenario: &Scenario,
    mode: budget::Mode,
    sink: &mut dyn FnMut(&foliolab_driver::Record),
) -> Result<foliolab_driver::SummaryRecord> {
    let mut runner = KernelRunner::new(guard, opts.clone(), scenario, mode)?;
    let summary = foliolab_driver::drive(scenario, &mut runner, sink);
    runner.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_scenario::{ThpKey, ThpSetting};

    #[test]
    fn placement() {
        for align in [4096u64, 65536, 2 << 20, 512 << 20] {
            let a = place(REGION_BASE, align, 0);
            assert_eq!(a % align, 0);
            assert_ne!(a % (2 * align), 0);
            assert!(a > REGION_BASE);
            let b = place(a + 4096, align, 4096.min(align / 2));
            assert!(b > a + 4096 + 4096 - 1);
        }
    }

    #[test]
    fn knobs_default() {
        let k = run_knobs(&[ThpSetting {
            key: ThpKey::Size(4),
            value: "madvise".into(),
        }]);
        assert!(k.contains(&("hugepages-64kB/enabled".to_string(), "madvise".to_string())));
        assert!(k.contains(&(
            "hugepages-2048kB/enabled".to_string(),
            "inherit".to_string()
        )));
        assert!(k.contains(&("use_zero_page".to_string(), "1".to_string())));
    }
}
