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
            assert_ne!(f.kind, FailKind::Expect, "seed {seed}: {f:?}\n{text}");
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

/// Every statement the model supports is emitted by some seed, and none it does not.
#[test]
fn every_supported_statement_is_generated() {
    use foliolab_fuzz::ops::OPS;
    let support = model_support_table();
    let mut seen = vec![false; OPS.len()];
    for seed in 0..60u64 {
        let mut g = Gen::new(Rng::new(Prng::new(seed)), &support);
        let s = g.scenario(200);
        for st in s.statements() {
            let text = foliolab_scenario::print_stmt(st);
            for (i, op) in OPS.iter().enumerate() {
                let sample = foliolab_scenario::print_stmt(&foliolab_scenario::Stmt {
                    pos: Default::default(),
                    kind: (op.sample)(),
                    comment: None,
                    tokens: Vec::new(),
                });
                if same_shape(&text, &sample) {
                    seen[i] = true;
                }
            }
        }
    }
    for (i, op) in OPS.iter().enumerate() {
        assert_eq!(
            seen[i], support[i],
            "{}: generated {} supported {}",
            op.name, seen[i], support[i]
        );
    }
}

/// Same statement word (and advice or map kind): `p1: advise r3[0..8K] dontneed` and
/// `p: advise a dontneed`.
fn same_shape(a: &str, b: &str) -> bool {
    let key = |s: &str| -> String {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (w, rest) = match words.first() {
            Some(w) if w.ends_with(':') => (words.get(1).copied().unwrap_or(""), &words[2..]),
            Some(w) => (*w, &words[1..]),
            None => ("", &words[..]),
        };
        match w {
            "advise" => format!("advise {}", rest.last().unwrap_or(&"")),
            "expect" => format!("expect {}", rest.first().unwrap_or(&"")),
            "map" => format!("map {}", rest.contains(&"shmem")),
            "observe" => format!("observe {}", rest.first().unwrap_or(&""))
                .replace(|c: char| c.is_ascii_digit(), ""),
            other => other.to_string(),
        }
    };
    let (ka, kb) = (key(a), key(b));
    if ka.starts_with("observe") && kb.starts_with("observe") {
        let cls = |k: &str| {
            if k.contains("smaps") {
                1
            } else if k.contains("stats") {
                2
            } else {
                0
            }
        };
        return cls(&ka) == cls(&kb);
    }
    ka == kb
}
