//! CVE-2020-29374: under the pre-5.8 COW rule (`linux-5.7`: reuse when the mapcount is 1)
//! a write lands in a page another process still reads through a pipe, and the model reports
//! it as a leak; under every later design the writer copies and nothing leaks.

use foliolab_driver::{drive, ProblemKind, Record};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::SCHEME_NAMES;
use foliolab_sim::ModelRunner;
use std::path::Path;

const FILE: &str = "0004-cve-2020-29374.scn";

/// Exit status and the problems of each kind found under `scheme`.
fn run(scheme: &str) -> (i32, Vec<(ProblemKind, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/regressions")
        .join(FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let s = parse(FILE, &text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::new(scheme).unwrap();
    let mut problems = Vec::new();
    let summary = drive(&s, &mut runner, &mut |r: &Record| {
        if let Record::Problem(p) = r {
            problems.push((p.kind, p.message.clone()));
        }
    });
    (summary.exit, problems)
}

#[test]
fn linux_5_7_leaks_into_both_pipes() {
    let (exit, problems) = run("linux-5.7");
    assert_eq!(exit, 1);
    let leaks: Vec<&String> = problems
        .iter()
        .filter(|(k, _)| *k == ProblemKind::Leak)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(leaks.len(), 2, "{problems:?}");
    assert!(leaks[0].contains("of q, written by another process (c)"));
    assert!(leaks[1].contains("of w, written by another process (p)"));
    assert_eq!(problems.len(), 2, "only the leaks: {problems:?}");
}

#[test]
fn no_later_scheme_leaks() {
    for name in SCHEME_NAMES.iter().filter(|n| **n != "linux-5.7") {
        assert_eq!(run(name), (0, vec![]), "{name}");
    }
}
