//! The canary: a linux-6.18 that forgets the third MM. When a large folio is already owned
//! by two MMs (both MM_ID slots taken, by other MMs than the one forking into it), the dup
//! at fork is dropped, so `_large_mapcount` and the slots undercount. The fuzzer must catch
//! it within a fixed budget of cases and shrink it to at most 20 statements; if this test
//! fails, the fuzzer (generator, checks or shrinker) lost its teeth.

mod common;

use common::{canary_campaign, first_failing_case};
use foliolab_fuzz::shrink::shrink;
use foliolab_fuzz::{FailKind, SchemeSpec};
use foliolab_schemes::{Bugs, Linux618};

const SHRINK_BUDGET: u64 = 3000;

#[test]
fn the_fuzzer_catches_and_shrinks_the_canary() {
    foliolab_fuzz::panics::install_quiet_hook();
    let canary = SchemeSpec::custom("canary-forgets-third-mm", move || {
        let mut s = Linux618::new(foliolab_types::MODEL_NR_PAGES);
        s.bugs = Bugs {
            forget_third_mm_dup: true,
            ..Bugs::default()
        };
        Box::new(s)
    });
    let c = canary_campaign(0xc0ffee, canary.clone());
    let case = first_failing_case(&c).expect("the canary escaped the fuzzer");
    let failure = case.runs[0].1.failure.clone().unwrap();
    assert!(
        matches!(failure.kind, FailKind::Invariant | FailKind::Oracle),
        "{failure:?}"
    );
    let s = shrink(&case.scenario, &failure, &canary, SHRINK_BUDGET);
    let text = foliolab_scenario::print(&s.scenario);
    let n = s.scenario.statements().count();
    eprintln!(
        "canary: case {} caught, shrunk to {n} statements in {} runs:\n{text}",
        case.index, s.tries
    );
    assert!(n <= 20, "shrunk only to {n} statements:\n{text}");
    assert_eq!(s.failure.signature(), failure.signature());
}
