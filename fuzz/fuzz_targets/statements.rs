//! Bytes drive the scenario generator (instead of the seeded PRNG), so libFuzzer's coverage
//! feedback steers statement sequences; every scenario runs under every scheme with the
//! checks after every statement, and any failure (spec 3.5) is a crash.
#![no_main]

use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{run_one, ByteEntropy, ExecOptions, Gen, Rng, SchemeSpec, Supported};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static SUPPORT: OnceLock<Supported> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let support = SUPPORT.get_or_init(model_support_table);
    let steps = data.first().map_or(8, |&b| 8 + b as usize % 120);
    let rest = data.get(1..).unwrap_or_default();
    let scenario = Gen::new(Rng::new(ByteEntropy::new(rest)), support).scenario(steps);
    let opts = ExecOptions {
        count_disagreements: false,
    };
    for spec in SchemeSpec::all() {
        if let Some(f) = run_one(&scenario, &spec, opts).failure {
            panic!(
                "{f:?}\n{}",
                foliolab_scenario::print(&scenario)
            );
        }
    }
});
