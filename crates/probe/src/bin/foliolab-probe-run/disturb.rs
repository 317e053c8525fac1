//! `--kill-helper LINE:PROC`: a runner that forwards everything to the kernel runner and,
//! just before it performs the statement at LINE, SIGKILLs PROC's helper from outside the
//! probe, as the OOM killer would. The host-safety tests use it to show that a helper that
//! dies is a failed run, never a pass: when the statement is PROC's own, the runner finds
//! its helper gone; otherwise its check after the statement does.

use foliolab_driver::{PageObs, Problem, ReadValue, RunError, Runner, RunnerKind, SmapsObs};
use foliolab_probe::pidfd::PidFd;
use foliolab_probe::KernelRunner;
use foliolab_scenario::{Range, RssKind, Scenario, Stmt};
use std::collections::BTreeMap;

pub struct KillBefore<'a, 'g> {
    inner: &'a mut KernelRunner<'g>,
    line: u32,
    proc: String,
}

impl<'a, 'g> KillBefore<'a, 'g> {
    pub fn new(inner: &'a mut KernelRunner<'g>, line: u32, proc: &str) -> KillBefore<'a, 'g> {
        KillBefore {
            inner,
            line,
            proc: proc.to_string(),
        }
    }

    /// SIGKILL from outside the runner, as the OOM killer would, then a moment for the
    /// kernel to tear the process down.
    fn kill(&self) {
        let fd = self
            .inner
            .pid_of(&self.proc)
            .and_then(|pid| PidFd::open(pid).ok());
        if let Some(fd) = fd {
            fd.signal(libc::SIGKILL);
            fd.wait_ended(5000);
        }
    }
}

impl Runner for KillBefore<'_, '_> {
    fn kind(&self) -> RunnerKind {
        self.inner.kind()
    }
    fn unsupported(&self, scenario: &Scenario) -> Vec<String> {
        self.inner.unsupported(scenario)
    }
    fn perform(&mut self, stmt: &Stmt) -> Result<(), RunError> {
        if stmt.pos.line == self.line {
            self.kill();
        }
        self.inner.perform(stmt)
    }
    fn read(&mut self, proc: &str, range: &Range) -> Result<Vec<ReadValue>, RunError> {
        self.inner.read(proc, range)
    }
    fn pages(&mut self, proc: &str, range: &Range) -> Result<Vec<(u64, PageObs)>, RunError> {
        self.inner.pages(proc, range)
    }
    fn pages_batch(
        &mut self,
        proc: &str,
        range: &Range,
        skip: u64,
    ) -> Result<Vec<(u64, PageObs)>, RunError> {
        self.inner.pages_batch(proc, range, skip)
    }
    fn smaps(&mut self, proc: &str, region: &str) -> Result<Vec<SmapsObs>, RunError> {
        self.inner.smaps(proc, region)
    }
    fn rss_pages(&mut self, proc: &str, kind: RssKind) -> Result<u64, RunError> {
        self.inner.rss_pages(proc, kind)
    }
    fn faults(&mut self, proc: &str) -> Result<u64, RunError> {
        self.inner.faults(proc)
    }
    fn stats(&mut self) -> Result<BTreeMap<String, i64>, RunError> {
        self.inner.stats()
    }
    fn held_values(&mut self, proc: &str, name: &str) -> Result<Vec<u64>, RunError> {
        self.inner.held_values(proc, name)
    }
    fn frame_epoch(&mut self, frame: u64) -> Option<u64> {
        self.inner.frame_epoch(frame)
    }
    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem> {
        self.inner.after_statement(stmt)
    }
}
