//! Every scenario of the repository's run folders (examples, traces, model, regressions,
//! conformance, compare, compare-pmd, cow) runs on the model with invariants and the oracle
//! checked after every statement, and must pass. Scenarios using statements the model does
//! not perform yet are listed by name and reason (never skipped silently), and only
//! `tests/conformance` may hold them. The other folders are run elsewhere: `tests/eras` under
//! each era's model (crates/cli/tests/era_records.rs), `tests/language` and `tests/invalid`
//! through the parser (crates/scenario/tests/roundtrip.rs, crates/cli/tests/invalid.rs).

use foliolab_driver::{check_supported, drive, Record, SummaryRecord};
use foliolab_scenario::{parse, validate};
use foliolab_sim::ModelRunner;
use foliolab_testkit::scenarios_below;
use std::path::Path;

/// Runs one file; `Err(reasons)` when the model cannot perform it.
fn run(path: &Path) -> Result<(SummaryRecord, Vec<String>), Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let s = parse(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
    validate(&s).unwrap_or_else(|e| panic!("{e}"));
    let mut runner = ModelRunner::new("linux-6.18").unwrap();
    let missing = check_supported(&s, &runner);
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut bad = Vec::new();
    let summary = drive(&s, &mut runner, &mut |r: &Record| match r {
        Record::Expect(e) if e.result == foliolab_driver::ExpectResult::Fail => bad.push(format!(
            "line {}: {} (expected {}, observed {})",
            e.line, e.text, e.expected, e.observed
        )),
        Record::Problem(p) => bad.push(format!("line {}: {:?}: {}", p.line, p.kind, p.message)),
        _ => {}
    });
    Ok((summary, bad))
}

/// Runs every scenario of `dir`, which must hold at least `at_least` of them.
fn run_dir(dir: &str, may_be_unsupported: bool, at_least: usize) -> usize {
    let files = scenarios_below(&[dir], at_least);
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in &files {
        match run(f) {
            Ok((summary, bad)) => {
                ran += 1;
                if summary.exit != 0 {
                    failures.push(format!(
                        "{}: exit {}\n  {}",
                        f.display(),
                        summary.exit,
                        bad.join("\n  ")
                    ));
                }
            }
            Err(missing) if may_be_unsupported => {
                eprintln!(
                    "not run on the model: {}: unsupported: {}",
                    f.display(),
                    missing.join("; ")
                );
            }
            Err(missing) => failures.push(format!(
                "{}: unsupported: {}",
                f.display(),
                missing.join("; ")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    ran
}

#[test]
fn built_in_examples_pass() {
    assert!(run_dir("examples", false, 11) >= 11);
}

#[test]
fn kernel_note_traces_pass() {
    assert_eq!(run_dir("tests/traces", false, 5), 5);
}

#[test]
fn model_only_scenarios_pass() {
    assert!(run_dir("tests/model", false, 10) >= 10);
}

#[test]
fn regressions_pass() {
    run_dir("tests/regressions", false, 8);
}

#[test]
fn conformance_scenarios_pass_on_the_model() {
    assert!(run_dir("tests/conformance", true, 75) >= 75);
}

#[test]
fn compare_suite_passes() {
    assert!(run_dir("tests/compare", false, 12) >= 12);
    assert!(run_dir("tests/compare-pmd", false, 12) >= 12);
}

/// The kernel COW selftest as scenarios (written by `tools/cowgen`): 14 anonymous cases in
/// 52 configurations, 4 collapse cases, 12 non-anonymous cases, every one run on the model.
#[test]
fn cow_selftest_scenarios_pass() {
    let files = scenarios_below(&["tests/cow"], 14 * 52 + 4 + 12);
    assert_eq!(files.len(), 14 * 52 + 4 + 12);
    let ran = run_dir("tests/cow", false, 14 * 52 + 4 + 12);
    assert_eq!(ran, files.len(), "every cow.c scenario runs on the model");
}
