//! The generator emits only valid scenarios the model can perform: over many seeds, every
//! scenario validates, prints and parses back to the same program, and runs without a run
//! error under linux-6.18.

use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{run_one, ExecOptions, FailKind, Gen, Prng, Rng, SchemeSpec};
use foliolab_scenario::{parse, print};

#[test]
fn generated_scenarios_are_valid_and_runnable() {
    let support = model_support_table();
    let scheme = SchemeSpec::builtin("linux-6.18").unwrap();
    for seed in 0..40u64 {
        let mut g = Gen::new(Rng::new(Prng::new(seed)), &support);
        let s = g.scenario(150);
        let text = print(&s);
        let back = parse("back.scn", &text).unwrap();
        assert!(back.same_program(&s), "seed {seed}: print/parse differ");
        let r = run_one(&s, &scheme, ExecOptions::default());
        if let Some(f) = &r.failure {
            assert_ne!(f.kind, FailKind::RunError, "seed {seed}: {f:?}\n{text}");
            assert_ne!(f.kind, FailKind::Panic, "seed {seed}: {f:?}\n{text}");
        }
    }
}

#[test]
fn same_seed_same_scenario() {
    let support = model_support_table();
    let a = Gen::new(Rng::new(Prng::new(9)), &support).scenario(100);
    let b = Gen::new(Rng::new(Prng::new(9)), &support).scenario(100);
    assert_eq!(print(&a), print(&b));
}
