//! The search itself: state-hash reduction changes cost, not verdicts; the preemption bound
//! bounds; PCT is reproducible from its seed and finds what the exhaustive search finds.

mod common;

use foliolab_explore::pct::Campaign;
use foliolab_explore::races;
use foliolab_explore::trace::encode;
use foliolab_explore::{explore, replay, CaseResult, Limits, Mode};

fn one(race: &str, variant: &str, design: &str, case: &str, mode: Mode) -> CaseResult {
    let race = races::by_name(race).unwrap();
    let v = race.variant(variant).unwrap();
    let mut r = explore(race, &v, design, Some(case), mode).unwrap();
    assert_eq!(r.len(), 1);
    r.remove(0)
}

fn exhaustive(bound: u32, state_hashing: bool) -> Mode {
    Mode::Exhaustive(Limits {
        bound,
        state_hashing,
    })
}

/// Without the reduction every interleaving within the bound runs to its end: more steps
/// (and, with three threads, more executions), the same states and the same verdicts.
#[test]
fn state_hashing_changes_the_cost_not_the_verdict() {
    let cases = [
        ("cow-reuse", "kernel", "linux-6.18", "unmap"),
        ("cow-reuse", "kernel", "linux-5.7", "unmap"),
        ("mmid-slots", "kernel", "linux-6.18", "two-unmaps"),
        ("mmid-slots", "mmid-no-lock", "linux-6.18", "two-unmaps"),
        ("zap-no-gather", "ryan-v1", "linux-6.18-npm", "last"),
    ];
    for (race, variant, design, case) in cases {
        let bound = 2;
        let with = one(race, variant, design, case, exhaustive(bound, true));
        let without = one(race, variant, design, case, exhaustive(bound, false));
        let what = format!("{race} {variant} {design} {case}");
        assert_eq!(
            with.outcome.violation.is_some(),
            without.outcome.violation.is_some(),
            "{what}"
        );
        if with.outcome.violation.is_none() {
            let (a, b) = (with.outcome.stats, without.outcome.stats);
            assert!(a.steps < b.steps && a.executions <= b.executions, "{what}");
            assert_eq!(
                with.outcome.stats.states, without.outcome.stats.states,
                "{what}"
            );
            let kinds = |r: &CaseResult| r.outcome.observations.keys().cloned().collect::<Vec<_>>();
            assert_eq!(kinds(&with), kinds(&without), "{what}");
        }
    }
}

/// A larger bound explores at least as much; bound 0 runs each thread to its end in turn.
#[test]
fn the_preemption_bound_bounds() {
    let mut last = 0;
    for bound in 0..=2 {
        let r = one(
            "cow-reuse",
            "kernel",
            "linux-6.18",
            "gup",
            exhaustive(bound, true),
        );
        assert!(r.outcome.violation.is_none());
        assert!(r.outcome.stats.states >= last);
        last = r.outcome.stats.states;
    }
    let r = one(
        "cow-reuse",
        "kernel",
        "linux-5.7",
        "unmap",
        exhaustive(0, true),
    );
    assert!(r.outcome.violation.is_none(), "the race needs a preemption");
    let r = one(
        "cow-reuse",
        "kernel",
        "linux-5.7",
        "unmap",
        exhaustive(1, true),
    );
    assert!(r.outcome.violation.is_some(), "one preemption shows it");
}

#[test]
fn pct_is_reproducible_and_finds_the_unsafe_variant() {
    let campaign = Campaign {
        seed: 0x5eed,
        runs: 3000,
        depth: 3,
    };
    let a = one(
        "gup-fast-vs-free",
        "gup-no-recheck",
        "linux-6.18",
        "reuse-as-head",
        Mode::Random(campaign),
    );
    let b = one(
        "gup-fast-vs-free",
        "gup-no-recheck",
        "linux-6.18",
        "reuse-as-head",
        Mode::Random(campaign),
    );
    assert_eq!(a, b, "same seed, same runs");
    let found = a.outcome.violation.expect("PCT finds it");
    assert!(a.failing_run.is_some());
    let race = races::by_name("gup-fast-vs-free").unwrap();
    let v = race.variant("gup-no-recheck").unwrap();
    let trace = replay(
        race,
        &v,
        "linux-6.18",
        "reuse-as-head",
        &encode(&found.schedule),
    );
    let last = trace.unwrap().pop().unwrap();
    assert!(format!("{:?}", last.events).contains(&found.message));
}

#[test]
fn pct_finds_nothing_in_the_kernel_variant() {
    let campaign = Campaign {
        seed: 42,
        runs: 500,
        depth: 3,
    };
    let r = one(
        "cow-reuse",
        "kernel",
        "linux-6.18",
        "gup-unmap",
        Mode::Random(campaign),
    );
    assert!(r.outcome.violation.is_none());
    assert_eq!(r.outcome.stats.executions, 500);
    assert!(r.outcome.observations.contains_key("COW: reused"));
}
