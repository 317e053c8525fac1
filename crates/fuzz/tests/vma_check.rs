//! The fuzzer runs the VMA-count check of a design that counts VMAs (the oracle's VMAs per
//! folio against the design's count, as `foliolab run` does): a vma-count that ignores VMA
//! boundary changes must be caught, as an invariant failure naming the VMA count. Nothing
//! else catches this variant (its estimates are counted, not failures), so the test fails
//! if the fuzzer stops running that check.

use foliolab_fuzz::campaign::Campaign;
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{ExecOptions, FailKind, SchemeSpec};
use foliolab_schemes::vma_count::VmaCount;

const CASES_BUDGET: u64 = 64;

fn campaign(scheme: SchemeSpec) -> Campaign {
    Campaign {
        seed: 0x7a5_c0de,
        steps: 120,
        schemes: vec![scheme],
        support: model_support_table(),
        opts: ExecOptions {
            count_disagreements: false,
            ..ExecOptions::default()
        },
        check_determinism: false,
        shard: (0, 1),
    }
}

/// The first failing case of the campaign and its failure, if any within the budget.
fn first_failure(c: &Campaign) -> Option<(u64, foliolab_fuzz::Failure)> {
    let mut caught = None;
    c.sweep(2, Some(CASES_BUDGET), &|| false, &mut |r| {
        if caught.is_none() && r.failed() {
            caught = Some((r.index, r.runs[0].1.failure.clone().unwrap()));
        }
    });
    caught
}

#[test]
fn the_fuzzer_catches_a_vma_count_that_ignores_vma_changes() {
    foliolab_fuzz::panics::install_quiet_hook();
    let canary = SchemeSpec::custom("vma-count-forgets-vma-changes", || {
        let mut s = VmaCount::new();
        s.forget_vma_changes = true;
        Box::new(s)
    });
    let (index, failure) = first_failure(&campaign(canary)).expect("the canary escaped");
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
    assert_eq!(first_failure(&campaign(sound)), None);
}
