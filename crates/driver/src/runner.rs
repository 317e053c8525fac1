//! The boundary between the shared statement driver and a runner (the model or the kernel).
//!
//! A runner performs actions and answers observations; the driver (in `drive`) walks the
//! scenario, decides what each expectation compares and which ones are skipped, names frames
//! and folios canonically, and computes the exit status. Neither runner duplicates that.

use crate::obs::{PageObs, ReadValue, SmapsObs};
use foliolab_scenario::{Range, RssKind, Scenario, Stmt};
use std::collections::BTreeMap;
use std::fmt;

/// Who runs the scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunnerKind {
    /// The model under one scheme (`linux-6.18`, ...).
    Model { scheme: String },
    /// This machine's kernel; `release` as `uname -r` prints it.
    Kernel { release: String },
}

impl RunnerKind {
    /// `model:<scheme>` or `kernel:<release>` (the summary's `runner`).
    pub fn label(&self) -> String {
        match self {
            RunnerKind::Model { scheme } => format!("model:{scheme}"),
            RunnerKind::Kernel { release } => format!("kernel:{release}"),
        }
    }
}

/// A statement that could not run: exit status 2 at the statement's position; or, when
/// `died`, a process of the run was killed from outside (the OOM killer, a signal): the run
/// ends as failed (exit status 1), since the scenario itself is not at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError {
    /// One line: what failed and why (`write to read-only page a+0x3000: SIGSEGV`).
    pub message: String,
    /// A process died for a reason outside the scenario (reported as a `died` problem).
    pub died: bool,
}

impl RunError {
    pub fn new(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            died: false,
        }
    }

    /// A process of the run died from outside the scenario (exit status 1, not 2).
    pub fn died(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            died: true,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}

/// A problem a model runner found after a statement (exit status 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: crate::record::ProblemKind,
    pub message: String,
}

/// What a runner must do. Offsets are bytes relative to the region start.
pub trait Runner {
    fn kind(&self) -> RunnerKind;

    /// The design of the kernel generation this runner stands for: what a scenario that
    /// names no `schemes` describes (spec 3.5). `linux-6.18`, this machine's kernel, unless
    /// the runner models another generation (a model of era 6.1 answers `linux-6.1`).
    fn kernel_design(&self) -> &str {
        crate::skip::DEFAULT_SCHEME
    }

    /// Every statement this runner cannot perform, as `unsupported: <what>` texts without the
    /// prefix. Checked before anything runs; non-empty means exit 3.
    fn unsupported(&self, scenario: &Scenario) -> Vec<String>;

    /// Performs an action statement: every global or process statement that is not an
    /// expectation or observation (`map`, `write`, `read`, `fork`, `shrink`, `remember` is
    /// not an action, ...).
    fn perform(&mut self, stmt: &Stmt) -> Result<(), RunError>;

    /// `P: read RANGE` returning the values (what `expect RANGE == V` compares). Same faults
    /// and state changes as the `read` statement.
    fn read(&mut self, proc: &str, range: &Range) -> Result<Vec<ReadValue>, RunError>;

    /// One observation per base page of `range`, in address order.
    fn pages(&mut self, proc: &str, range: &Range) -> Result<Vec<(u64, PageObs)>, RunError>;

    /// The observations of `range` in batches: those of its pages from index `skip_pages`
    /// (counted from the range's first page) on, at most as many as the runner chooses and
    /// at least one while any remain; empty past the end. The driver observes through this,
    /// so a runner that bounds its batches never holds a whole huge range in memory. The
    /// default answers everything in the first batch.
    fn pages_batch(
        &mut self,
        proc: &str,
        range: &Range,
        skip_pages: u64,
    ) -> Result<Vec<(u64, PageObs)>, RunError> {
        if skip_pages == 0 {
            self.pages(proc, range)
        } else {
            Ok(Vec::new())
        }
    }

    /// smaps of every VMA of the region, in address order.
    fn smaps(&mut self, proc: &str, region: &str) -> Result<Vec<SmapsObs>, RunError>;

    /// The process's RSS counter in pages.
    fn rss_pages(&mut self, proc: &str, kind: RssKind) -> Result<u64, RunError>;

    /// Faults charged to the process during its last access statement.
    fn faults(&mut self, proc: &str) -> Result<u64, RunError>;

    /// Every counter of spec 3.6 this runner knows, as its change since just before the
    /// first `spawn`.
    fn stats(&mut self) -> Result<BTreeMap<String, i64>, RunError>;

    /// Whether this runner can show counter `name` at all (an older kernel lacks some):
    /// `expect stat` of a counter it cannot show is `skipped(kernel)`.
    fn shows_counter(&self, _name: &str) -> bool {
        true
    }

    /// Values of every page held by pin or pipe `name` of the process (pins and pipes share
    /// one namespace).
    fn held_values(&mut self, proc: &str, name: &str) -> Result<Vec<u64>, RunError>;

    /// An id that changes whenever the folio containing `frame` is freed and reallocated;
    /// `None` when the runner cannot tell (the kernel).
    fn frame_epoch(&mut self, frame: u64) -> Option<u64>;

    /// Checks after each statement (model: invariants, oracle, leaks). Kernel: nothing.
    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem>;
}
