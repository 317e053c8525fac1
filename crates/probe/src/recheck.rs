//! Host-wide counters (`expect stat`, `observe stats`) count every process on the host: a
//! process with MADV_HUGEPAGE memory (a VM's guest memory, a compiler's allocator) that
//! faults or splits a THP while a scenario runs moves them too. A kernel run whose only
//! failures (or, for `check`, only differences from the model) are at counter statements is
//! run again, up to [`ATTEMPTS`] times in all, each time once the host's THP counters have
//! stood still for [`QUIET`] (at most [`QUIET_MAX`]), and each retry is said on stderr; the
//! last run's result stands.

use crate::budget::Mode;
use crate::error::Result;
use crate::host::HostGuard;
use crate::runner::{probe_scenario, ProbeOptions};
use foliolab_driver::diff::Diff;
use foliolab_driver::{ExpectResult, Record, SummaryRecord};
use foliolab_scenario::{Scenario, StmtKind};
use std::collections::BTreeSet;
use std::time::Duration;

/// Runs of one scenario on the kernel at most.
pub const ATTEMPTS: u32 = 4;
/// How long the host's THP counters must stand still before a retry.
pub const QUIET: Duration = Duration::from_secs(2);
/// How long a retry waits for that at most.
pub const QUIET_MAX: Duration = Duration::from_secs(60);

/// Lines of the scenario's counter statements (empty: nothing to retry for).
pub fn counter_lines(s: &Scenario) -> BTreeSet<u32> {
    s.statements()
        .filter(|st| {
            matches!(
                st.kind,
                StmtKind::ExpectStat { .. } | StmtKind::ObserveStats
            )
        })
        .map(|st| st.pos.line)
        .collect()
}

/// The first failed counter expectation, when the run failed at counter statements only
/// (no other failure, no problem).
pub fn only_counters_failed(records: &[Record], lines: &BTreeSet<u32>) -> Option<String> {
    let mut first = None;
    for r in records {
        match r {
            Record::Problem(_) => return None,
            Record::Expect(e) if e.result == ExpectResult::Fail => {
                if !lines.contains(&e.line) {
                    return None;
                }
                first.get_or_insert_with(|| format!("line {}: {}", e.line, e.text));
            }
            Record::Summary(s) if s.exit != 1 => return None,
            _ => {}
        }
    }
    first
}

/// The first difference, when every difference is at a counter statement (or in the
/// summary, which follows from them).
pub fn only_counter_diffs(diffs: &[Diff], lines: &BTreeSet<u32>) -> Option<String> {
    if diffs
        .iter()
        .any(|d| d.line != 0 && !lines.contains(&d.line))
    {
        return None;
    }
    diffs
        .iter()
        .find(|d| d.line != 0)
        .map(|d| format!("line {}: {}", d.line, d.what))
}

/// Says on stderr that the scenario runs again, and why; then waits for a quiet host.
pub fn note(name: &str, what: &str, attempt: u32) {
    eprintln!(
        "foliolab: {name}: {what}: a host-wide counter differed, and other processes on this host move them too: running it again (attempt {} of {ATTEMPTS}) once the host's THP counters stand still",
        attempt + 1
    );
    if !crate::readers::wait_for_quiet_thp_counters(QUIET, QUIET_MAX) {
        eprintln!("foliolab: {name}: the host's THP counters kept moving for {QUIET_MAX:?}; running it anyway");
    }
}

/// Runs `scenario` on the kernel, and again while `judge` (given the run's records) names a
/// counter statement as the only reason it failed; the last run's summary and records.
pub fn run_rechecked(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    scenario: &Scenario,
    mode: Mode,
    name: &str,
    judge: &mut dyn FnMut(&[Record]) -> Option<String>,
) -> Result<(SummaryRecord, Vec<Record>)> {
    let mut attempt = 1;
    loop {
        let mut records = Vec::new();
        let summary = probe_scenario(guard, opts, scenario, mode, &mut |r: &Record| {
            records.push(r.clone())
        })?;
        match judge(&records) {
            Some(what) if attempt < ATTEMPTS => note(name, &what, attempt),
            _ => return Ok((summary, records)),
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_driver::{ExpectRecord, ProblemKind, ProblemRecord, SummaryRecord};

    fn expect(line: u32, text: &str, pass: bool) -> Record {
        Record::Expect(ExpectRecord {
            line,
            text: text.into(),
            result: if pass {
                ExpectResult::Pass
            } else {
                ExpectResult::Fail
            },
            expected: "1".into(),
            observed: "2".into(),
        })
    }

    fn summary(exit: i32) -> Record {
        Record::Summary(SummaryRecord {
            runner: "kernel:x".into(),
            pass: 1,
            fail: 1,
            skipped: 0,
            leaks: 0,
            exit,
        })
    }

    #[test]
    fn only_a_counter_failure_is_retried() {
        let lines: BTreeSet<u32> = [9].into();
        let stat = vec![
            expect(5, "p: expect a pmd", true),
            expect(9, "expect stat thp_fault_alloc == 1", false),
            summary(1),
        ];
        assert_eq!(
            only_counters_failed(&stat, &lines).as_deref(),
            Some("line 9: expect stat thp_fault_alloc == 1")
        );
        let page = vec![
            expect(5, "p: expect a pmd", false),
            expect(9, "expect stat x == 1", false),
            summary(1),
        ];
        assert_eq!(only_counters_failed(&page, &lines), None);
        let problem = vec![
            Record::Problem(ProblemRecord {
                line: 3,
                kind: ProblemKind::Died,
                message: "x".into(),
            }),
            expect(9, "expect stat x == 1", false),
            summary(1),
        ];
        assert_eq!(only_counters_failed(&problem, &lines), None);
        assert_eq!(
            only_counters_failed(&[expect(5, "p: expect a pmd", true), summary(0)], &lines),
            None
        );
    }

    fn diff(line: u32, what: &str) -> Diff {
        Diff {
            line,
            what: what.into(),
            left: "1".into(),
            right: "2".into(),
        }
    }

    #[test]
    fn only_counter_differences_are_retried() {
        let lines: BTreeSet<u32> = [9, 10].into();
        let d = [diff(10, "stat 2M.anon_fault_alloc"), diff(0, "exit")];
        assert_eq!(
            only_counter_diffs(&d, &lines).as_deref(),
            Some("line 10: stat 2M.anon_fault_alloc")
        );
        let d = [diff(4, "p a+0x0 order"), diff(10, "stat x")];
        assert_eq!(only_counter_diffs(&d, &lines), None);
        assert_eq!(only_counter_diffs(&[diff(0, "exit")], &lines), None);
        assert_eq!(only_counter_diffs(&[], &lines), None);
    }
}
