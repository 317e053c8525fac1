//! The fuzzer runs the VMA-count check of a design that counts VMAs (the oracle's VMAs per
//! folio against the design's count, as `foliolab run` does): a vma-count that ignores VMA
//! boundary changes must be caught, as an invariant failure naming the VMA count. Nothing
//! else catches this variant (its estimates are counted, not failures), so the test fails
//! if the fuzzer stops running that check.

mod common;

use common::{canary_campaign, first_failing_case};
use foliolab_fuzz::{FailKind, SchemeSpec};
use foliolab_schemes::vma_count::VmaCount;

const SEED: u64 = 0x7a5_c0de;

#[test]
fn the_fuzzer_catches_a_vma_count_that_ignores_vma_changes() {
    foliolab_fuzz::panics::install_quiet_hook();
    let canary = SchemeSpec::custom("vma-count-forgets-vma-changes", || {
        let mut s = VmaCount::new();
        s.forget_vma_changes = true;
        Box::new(s)
    });
    let case = first_failing_case(&canary_campaign(SEED, canary)).expect("the canary escaped");
    let (index, failure) = (case.index, case.runs[0].1.failure.clone().unwrap());
    assert_eq!(
        failure.kind,
        FailKind::Invariant,
        "case {index}: {failure:?}"
    );
    assert!(
        failure.message.contains("VMA count"),
        "case {index}: {failure:?}"
    );
}

#[test]
fn the_sound_vma_count_passes_the_same_cases() {
    let sound = SchemeSpec::builtin("vma-count").unwrap();
    let caught = first_failing_case(&canary_campaign(SEED, sound));
    assert!(caught.is_none(), "{caught:?}");
}
