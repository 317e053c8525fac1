//! The shared statement driver: walks a scenario over a [`Runner`], checks expectations,
//! names frames and folios, emits records and computes the exit status (spec 3.5, 4).

use crate::names::Names;
use crate::record::*;
use crate::runner::{Problem, RunError, Runner};
use crate::skip::SkipPolicy;
use crate::snapshot::Snapshot;
use foliolab_scenario::{ProcOp, Scenario, Stmt, StmtKind};
use std::collections::BTreeMap;

/// What the runner cannot perform (`unsupported: <what>` texts without the prefix); empty
/// when it can run everything. [`drive`] returns exit status 3 when this is not empty.
pub fn check_supported(scenario: &Scenario, runner: &dyn Runner) -> Vec<String> {
    runner.unsupported(scenario)
}

/// Runs `scenario` on `runner`, handing every record to `sink` (the summary last) and
/// returning the summary. An unsupported scenario emits nothing and returns exit status 3.
/// The scenario is assumed to be valid (`foliolab_scenario::validate`).
pub fn drive(
    scenario: &Scenario,
    runner: &mut dyn Runner,
    sink: &mut dyn FnMut(&Record),
) -> SummaryRecord {
    drive_with_policy(scenario, runner, sink, None)
}

/// [`drive`] for a caller that reads no page records (the fuzzer, unless it hashes every
/// record): `observe` still asks the runner for every page in the same batches, so an
/// observation that fails or panics does as before, but no [`PageRecord`] is built or
/// handed to `sink` (building them, names and model fields included, was a third of a long
/// fuzz case). Every other record is [`drive`]'s.
pub fn drive_without_page_records(
    scenario: &Scenario,
    runner: &mut dyn Runner,
    sink: &mut dyn FnMut(&Record),
) -> SummaryRecord {
    drive_as(scenario, runner, sink, None, false)
}

/// [`drive`] with the expectations checked as `policy` says instead of by the runner's
/// kind (`run --show` checks every expectation under any scheme, to show its answers).
pub fn drive_with_policy(
    scenario: &Scenario,
    runner: &mut dyn Runner,
    sink: &mut dyn FnMut(&Record),
    policy: Option<SkipPolicy>,
) -> SummaryRecord {
    drive_as(scenario, runner, sink, policy, true)
}

fn drive_as(
    scenario: &Scenario,
    runner: &mut dyn Runner,
    sink: &mut dyn FnMut(&Record),
    policy: Option<SkipPolicy>,
    page_records: bool,
) -> SummaryRecord {
    let mut summary = SummaryRecord {
        runner: runner.kind().label(),
        pass: 0,
        fail: 0,
        skipped: 0,
        leaks: 0,
        exit: 0,
    };
    if !runner.unsupported(scenario).is_empty() {
        summary.exit = 3;
        return summary;
    }
    let policy = policy
        .unwrap_or_else(|| SkipPolicy::for_run(scenario, &runner.kind(), runner.kernel_design()));
    let mut d = Driver {
        path: &scenario.path,
        runner,
        sink,
        policy,
        names: Names::new(),
        snapshots: BTreeMap::new(),
        summary,
        problems: 0,
        page_records,
    };
    d.run(scenario);
    let summary = d.finish();
    sink_summary(d.sink, &summary);
    summary
}

fn sink_summary(sink: &mut dyn FnMut(&Record), summary: &SummaryRecord) {
    sink(&Record::Summary(summary.clone()));
}

pub(crate) struct Driver<'a> {
    pub path: &'a str,
    pub runner: &'a mut dyn Runner,
    pub sink: &'a mut dyn FnMut(&Record),
    pub policy: SkipPolicy,
    pub names: Names,
    pub snapshots: BTreeMap<String, Snapshot>,
    pub summary: SummaryRecord,
    pub problems: u64,
    /// Build and sink page records ([`drive_without_page_records`] does not).
    pub page_records: bool,
}

impl Driver<'_> {
    fn run(&mut self, scenario: &Scenario) {
        for st in scenario.statements() {
            if let Err(e) = self.statement(st) {
                if e.died {
                    self.problem(
                        st,
                        Problem {
                            kind: ProblemKind::Died,
                            message: e.message,
                        },
                    );
                } else {
                    self.run_error(st, &e.message);
                }
                return;
            }
            for p in self.runner.after_statement(st) {
                if !self.problem(st, p) {
                    return;
                }
            }
        }
    }

    /// Records a problem; false when it ends the run (a run error, a process that died).
    fn problem(&mut self, st: &Stmt, p: Problem) -> bool {
        if p.kind == ProblemKind::RunError {
            self.run_error(st, &p.message);
            return false;
        }
        let ends = p.kind == ProblemKind::Died;
        if p.kind == ProblemKind::Leak {
            self.summary.leaks += 1;
        }
        self.problems += 1;
        let rec = ProblemRecord {
            line: st.pos.line,
            kind: p.kind,
            message: p.message,
        };
        (self.sink)(&Record::Problem(rec));
        !ends
    }

    fn run_error(&mut self, st: &Stmt, reason: &str) {
        let message = format!("{}:{}:{}: {reason}", self.path, st.pos.line, st.pos.column);
        let rec = ProblemRecord {
            line: st.pos.line,
            kind: ProblemKind::RunError,
            message,
        };
        (self.sink)(&Record::Problem(rec));
        self.summary.exit = 2;
    }

    fn finish(&mut self) -> SummaryRecord {
        if self.summary.exit != 2 && (self.summary.fail > 0 || self.problems > 0) {
            self.summary.exit = 1;
        }
        self.summary.clone()
    }

    fn statement(&mut self, st: &Stmt) -> Result<(), RunError> {
        match &st.kind {
            StmtKind::ExpectStat { counter, delta } => self.expect_stat(st, counter, *delta),
            StmtKind::ObserveStats => self.observe_stats(st),
            StmtKind::Proc { proc, op } => self.proc_statement(st, proc, op),
            _ => self.runner.perform(st),
        }
    }

    fn proc_statement(&mut self, st: &Stmt, proc: &str, op: &ProcOp) -> Result<(), RunError> {
        if op.is_expectation() {
            return self.expectation(st, proc, op);
        }
        match op {
            ProcOp::Remember { snapshot, range } => self.remember(proc, snapshot, range),
            ProcOp::Observe { range } => self.observe(st, proc, range),
            ProcOp::ObserveSmaps { region } => self.observe_smaps(st, proc, region),
            _ => self.runner.perform(st),
        }
    }

    /// Emits the record of one expectation and counts it.
    pub fn record(&mut self, st: &Stmt, result: ExpectResult, expected: String, observed: String) {
        match result {
            ExpectResult::Pass => self.summary.pass += 1,
            ExpectResult::Fail => self.summary.fail += 1,
            ExpectResult::Skipped(_) => self.summary.skipped += 1,
        }
        let text = foliolab_scenario::print_stmt(st);
        let rec = ExpectRecord {
            line: st.pos.line,
            text,
            result,
            expected,
            observed,
        };
        (self.sink)(&Record::Expect(rec));
    }
}
