//! Campaign mechanics: shards partition the cases, results come in index order, a case
//! replays alone, and the determinism check finds nothing to report on the model.

use foliolab_fuzz::campaign::Campaign;
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{ExecOptions, SchemeSpec};

fn campaign(shard: (u64, u64), check_determinism: bool) -> Campaign {
    Campaign {
        seed: 0x5eed,
        steps: 60,
        schemes: SchemeSpec::all(),
        support: model_support_table(),
        opts: ExecOptions::default(),
        check_determinism,
        shard,
    }
}

fn indices(c: &Campaign, count: u64) -> Vec<u64> {
    let mut out = Vec::new();
    c.sweep(2, Some(count), &|| false, &mut |r| out.push(r.index));
    out
}

#[test]
fn shards_partition_the_cases_in_order() {
    let all = indices(&campaign((0, 1), false), 9);
    assert_eq!(all, (0..9).collect::<Vec<_>>());
    let a = indices(&campaign((0, 3), false), 3);
    let b = indices(&campaign((1, 3), false), 3);
    let c = indices(&campaign((2, 3), false), 3);
    assert_eq!(a, vec![0, 3, 6]);
    assert_eq!(b, vec![1, 4, 7]);
    assert_eq!(c, vec![2, 5, 8]);
}

#[test]
fn a_case_replays_alone_with_the_same_output() {
    let c = campaign((0, 1), false);
    let mut in_sweep = Vec::new();
    c.sweep(2, Some(5), &|| false, &mut |r| in_sweep.push(r.lines));
    assert_eq!(c.case(4).lines, in_sweep[4]);
}

#[test]
fn the_model_is_deterministic() {
    let c = campaign((0, 1), true);
    c.sweep(2, Some(6), &|| false, &mut |r| {
        assert_eq!(r.nondeterminism, None, "case {}", r.index);
        assert!(!r.failed(), "case {}: {:?}", r.index, r.runs);
    });
}
