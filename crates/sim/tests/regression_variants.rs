//! Each regression scenario named after a kernel bug passes on the model and fails when the
//! model is switched to a deliberately broken variant that reintroduces that bug, so the
//! scenario really guards against it.

use foliolab_driver::{drive, Record};
use foliolab_model::Variants;
use foliolab_scenario::{parse, validate};
use foliolab_sim::ModelRunner;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Runs a regression scenario with the given variants; returns (exit status, problems), or
/// an exit of 101 if the broken model panicked (a kernel BUG, in effect).
fn run(name: &str, variants: Variants) -> (i32, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/regressions")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let s = parse(name, &text).unwrap();
    validate(&s).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut runner = ModelRunner::new("linux-6.18").unwrap();
        runner.model_mut().variants = variants;
        let mut problems = Vec::new();
        let summary = drive(&s, &mut runner, &mut |r: &Record| {
            if let Record::Problem(p) = r {
                problems.push(format!("line {}: {}", p.line, p.message));
            }
        });
        (summary.exit, problems)
    }));
    result.unwrap_or((101, vec!["the model panicked".into()]))
}

#[test]
fn bug1_batch_through_non_present_pte() {
    let name = "0001-batch-through-non-present-pte.scn";
    assert_eq!(run(name, Variants::default()), (0, vec![]));
    let broken = Variants {
        zap_batch_through_holes: true,
        ..Variants::default()
    };
    let (exit, problems) = run(name, broken);
    assert_ne!(exit, 0, "the broken zap batch went unnoticed: {problems:?}");
}

#[test]
fn bug2_lazyfree_batch_across_page_tables() {
    let name = "0002-lazyfree-batch-across-page-tables.scn";
    assert_eq!(run(name, Variants::default()), (0, vec![]));
    let broken = Variants {
        lazyfree_batch_one_table: true,
        ..Variants::default()
    };
    let (exit, problems) = run(name, broken);
    assert_eq!(exit, 1, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("mapped but not allocated")),
        "{problems:?}"
    );
}

#[test]
fn bug9_partial_zeromap_swapin() {
    let name = "0003-partial-zeromap-swapin.scn";
    assert_eq!(run(name, Variants::default()), (0, vec![]));
    let broken = Variants {
        swapin_zeromap_first_only: true,
        ..Variants::default()
    };
    let (exit, problems) = run(name, broken);
    assert_eq!(exit, 1, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("expected 0x91")),
        "{problems:?}"
    );
}
