//! Every scheme runs every repository scenario with invariants and its own exactness claims
//! checked against the oracle after every statement. Under a scheme a scenario does not name,
//! only value expectations are checked (the rest are `skipped(scheme)`), so every run must end
//! with exit 0: no invariant broken, no counter the scheme claims to keep exactly wrong, no
//! read leaking.

use foliolab_driver::{check_supported, drive, Record};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::registry;
use foliolab_sim::ModelRunner;
use foliolab_testkit::scenarios_below;
use std::path::{Path, PathBuf};

fn scenarios() -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Each folder with the fewest scenarios it may hold (a missing folder is an error).
    for (dir, at_least) in [
        ("examples", 11),
        ("tests/traces", 5),
        ("tests/conformance", 75),
        ("tests/regressions", 6),
        ("tests/compare", 12),
        ("tests/compare-pmd", 12),
    ] {
        out.extend(scenarios_below(&[dir], at_least));
    }
    out
}

/// Scenarios that fail under a scheme by design, each proven in its own test: the CVE the
/// pre-5.8 COW rule leaks through (`cve_2020_29374.rs`).
const FAILS_BY_DESIGN: &[(&str, &str)] = &[("0004-cve-2020-29374.scn", "linux-5.7")];

/// Problems of one run (empty: exit 0); `None` if the model cannot perform it or the run
/// fails by design.
fn run(path: &Path, scheme: &str) -> Option<Vec<String>> {
    let file = path.file_name()?.to_string_lossy();
    if FAILS_BY_DESIGN.contains(&(file.as_ref(), scheme)) {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let s = parse(&path.display().to_string(), &text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::new(scheme).unwrap();
    if !check_supported(&s, &runner).is_empty() {
        return None;
    }
    let mut bad = Vec::new();
    let summary = drive(&s, &mut runner, &mut |r: &Record| match r {
        Record::Expect(e) if e.result == foliolab_driver::ExpectResult::Fail => bad.push(format!(
            "line {}: {} (observed {})",
            e.line, e.text, e.observed
        )),
        Record::Problem(p) => bad.push(format!("line {}: {:?}: {}", p.line, p.kind, p.message)),
        _ => {}
    });
    if summary.exit != 0 && bad.is_empty() {
        bad.push(format!("exit {}", summary.exit));
    }
    Some(bad)
}

fn run_all(scheme: &str) -> usize {
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in scenarios() {
        if let Some(bad) = run(&f, scheme) {
            ran += 1;
            if !bad.is_empty() {
                failures.push(format!(
                    "{} under {scheme}:\n  {}",
                    f.display(),
                    bad.join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    ran
}

#[test]
fn exact_agrees_with_the_oracle_on_every_scenario() {
    assert!(run_all("exact") >= 100);
}

#[test]
fn every_scheme_runs_every_scenario_cleanly() {
    for name in registry::names() {
        if name != "exact" {
            assert!(run_all(name) >= 100, "{name}");
        }
    }
}
