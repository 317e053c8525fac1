//! On fuzz cases, the checks on what a statement touched agree with the full check after
//! every statement (the runner panics otherwise, a `panic` failure), and a campaign reports
//! the same lines, failures, problem counts and estimate disagreements whichever runs.

use foliolab_fuzz::campaign::{Campaign, CaseResult};
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{ExecOptions, FailKind, SchemeSpec};

/// Cases per campaign, and statements per case.
const CASES: u64 = 16;
const STEPS: usize = 300;

fn campaign(opts: ExecOptions) -> Campaign {
    Campaign {
        seed: 0xa9_7ee,
        steps: STEPS,
        schemes: SchemeSpec::all(),
        support: model_support_table(),
        opts,
        check_determinism: false,
        shard: (0, 1),
    }
}

fn sweep(opts: ExecOptions) -> Vec<CaseResult> {
    let mut out = Vec::new();
    campaign(opts).sweep(2, Some(CASES), &|| false, &mut |r| out.push(r));
    out
}

#[test]
fn both_checks_agree_after_every_fuzz_statement() {
    let results = sweep(ExecOptions {
        check_agreement: true,
        ..ExecOptions::default()
    });
    assert_eq!(results.len() as u64, CASES);
    let statements: u64 = results.iter().map(|r| r.statements()).sum();
    assert!(
        statements >= CASES * STEPS as u64 / 2,
        "{statements} statements"
    );
    for r in &results {
        for (scheme, run) in &r.runs {
            if let Some(f) = run.failure.as_ref().filter(|f| f.kind == FailKind::Panic) {
                panic!("case {} under {scheme}: {}", r.index, f.message);
            }
        }
    }
}

#[test]
fn a_campaign_reports_the_same_whichever_check_runs() {
    let touched = sweep(ExecOptions {
        full_check_every: 0,
        digest: true,
        ..ExecOptions::default()
    });
    let full = sweep(ExecOptions {
        full_check: true,
        digest: true,
        ..ExecOptions::default()
    });
    for (a, b) in touched.iter().zip(&full) {
        assert_eq!(a.lines, b.lines, "case {}", a.index);
        for ((name, x), (_, y)) in a.runs.iter().zip(&b.runs) {
            let what = format!("case {} under {name}", a.index);
            assert_eq!(x.failure, y.failure, "{what}");
            assert_eq!(x.problems, y.problems, "{what}");
            assert_eq!(x.disagreements, y.disagreements, "{what}");
            assert_eq!(x.digest, y.digest, "{what}");
        }
    }
}
