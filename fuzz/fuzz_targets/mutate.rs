//! The repository's scenarios, mutated by foliolab's own mutator (libFuzzer picks which
//! input to mutate and keeps what reaches new code), each run through `foliolab run`'s
//! path in-process. A panic, an exit status other than 0 to 3, or an invalid scenario
//! whose message does not say `file:line:column` is a crash; libFuzzer's `-rss_limit_mb`
//! and `-malloc_limit_mb` turn running out of memory into one too.
//!
//! `mkdir -p corpus/mutate && cargo +nightly fuzz run mutate corpus/mutate ../examples
//! ../tests -- -rss_limit_mb=4096 -malloc_limit_mb=2048`
#![no_main]

use foliolab_cli::builtin::{COMPARE_SUITE, EXAMPLES};
use foliolab_cli::mutate::{mutate, run_case};
use foliolab_cli::run::RunOptions;
use foliolab_fuzz::{Prng, Rng};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    let r = run_case("mutant.scn", data, &RunOptions::default());
    assert!(r.exit <= 3, "exit status {}", r.exit);
    if r.exit == 2 {
        let out = String::from_utf8_lossy(&r.stdout).to_string() + &String::from_utf8_lossy(&r.stderr);
        assert!(out.contains("mutant.scn:"), "an invalid scenario without a position:\n{out}");
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let text = String::from_utf8_lossy(&data[..size]).into_owned();
    let mut rng = Rng::new(Prng::new(u64::from(seed)));
    let donors: Vec<&str> = EXAMPLES.iter().chain(COMPARE_SUITE).map(|(_, t)| *t).collect();
    let out = mutate(&text, &donors, &mut rng);
    let n = out.len().min(max_size);
    data[..n].copy_from_slice(&out[..n]);
    n
});
