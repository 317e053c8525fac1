//! Every scenario in tests/regressions replays under every scheme with the fuzzer's failure
//! rules (spec 3.5): no leak (except linux-5.7), no broken invariant, no wrong read, no
//! disagreement a scheme's check reports, no panic, no run error. The fuzzer saves each
//! shrunk failure there; this keeps it fixed.

use foliolab_fuzz::{run_one, ExecOptions, SchemeSpec};
use foliolab_scenario::{parse, validate};
use foliolab_testkit::scenarios_below;

#[test]
fn regression_scenarios_pass_under_every_scheme() {
    let files = scenarios_below(&["tests/regressions"], 6);
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let s = parse(&f.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
        validate(&s).unwrap_or_else(|e| panic!("{e}"));
        for spec in SchemeSpec::all() {
            if let Some(fail) = run_one(&s, &spec, ExecOptions::default()).failure {
                bad.push(format!("{}: {fail:?}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
