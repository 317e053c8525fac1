//! [`Hooked`]: a runner that wraps another and changes only the two steps of a statement
//! (performing it, checking after it); every observation passes through unchanged. Tests and
//! the fuzzer wrap the model's runner this way (to count, to lose marks, to skip checks) and
//! write only what differs, in a [`StatementHooks`].

use crate::obs::{PageObs, ReadValue, SmapsObs};
use crate::runner::{Problem, RunError, Runner, RunnerKind};
use foliolab_scenario::{Range, RssKind, Scenario, Stmt};
use std::collections::BTreeMap;

/// What a [`Hooked`] runner does around each statement of its inner runner `R`. The defaults
/// pass the statement through; a hook overrides the step it changes.
pub trait StatementHooks<R: Runner> {
    /// Performs an action statement ([`Runner::perform`]) on `inner`.
    fn perform(&mut self, inner: &mut R, stmt: &Stmt) -> Result<(), RunError> {
        inner.perform(stmt)
    }

    /// The checks after a statement ([`Runner::after_statement`]) on `inner`.
    fn after_statement(&mut self, inner: &mut R, stmt: &Stmt) -> Vec<Problem> {
        inner.after_statement(stmt)
    }
}

/// The runner `inner` with `hooks` around each statement; every other method of [`Runner`]
/// (kind, support, observations, counters) is `inner`'s own.
pub struct Hooked<R, H> {
    pub inner: R,
    pub hooks: H,
}

impl<R, H> Hooked<R, H> {
    pub fn new(inner: R, hooks: H) -> Hooked<R, H> {
        Hooked { inner, hooks }
    }
}

impl<R: Runner, H: StatementHooks<R>> Runner for Hooked<R, H> {
    fn kind(&self) -> RunnerKind {
        self.inner.kind()
    }
    fn kernel_design(&self) -> &str {
        self.inner.kernel_design()
    }
    fn unsupported(&self, scenario: &Scenario) -> Vec<String> {
        self.inner.unsupported(scenario)
    }
    fn perform(&mut self, stmt: &Stmt) -> Result<(), RunError> {
        self.hooks.perform(&mut self.inner, stmt)
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
        skip_pages: u64,
    ) -> Result<Vec<(u64, PageObs)>, RunError> {
        self.inner.pages_batch(proc, range, skip_pages)
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
    fn shows_counter(&self, name: &str) -> bool {
        self.inner.shows_counter(name)
    }
    fn held_values(&mut self, proc: &str, name: &str) -> Result<Vec<u64>, RunError> {
        self.inner.held_values(proc, name)
    }
    fn frame_epoch(&mut self, frame: u64) -> Option<u64> {
        self.inner.frame_epoch(frame)
    }
    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem> {
        self.hooks.after_statement(&mut self.inner, stmt)
    }
}
