//! Each design's known behaviour, pinned on small scenarios: the shadow fan-out counts where a
//! scheme's answers differ from the truth, drive runs show what it decides.

use foliolab_driver::drive;
use foliolab_scenario::{parse, validate, Scenario};
use foliolab_schemes::shadow::{FanOut, Tally};
use foliolab_schemes::{by_name, SCHEME_NAMES};
use foliolab_sim::ModelRunner;

const PAGES: u64 = 1 << 22;

fn scenario(text: &str) -> Scenario {
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    s
}

/// linux-6.18 drives; every scheme shadows. The driver's run must pass.
fn shadow(text: &str) -> Vec<Tally> {
    let shadows = SCHEME_NAMES
        .iter()
        .map(|n| by_name(n, PAGES).unwrap())
        .collect();
    let (fan, tallies) = FanOut::new(by_name("linux-6.18", PAGES).unwrap(), shadows);
    let mut runner = ModelRunner::with_scheme(Box::new(fan));
    let summary = drive(&scenario(text), &mut runner, &mut |_| {});
    assert_eq!(summary.exit, 0, "{text}");
    let out = tallies.borrow().clone();
    out
}

fn tally<'a>(t: &'a [Tally], name: &str) -> &'a Tally {
    t.iter().find(|t| t.name == name).unwrap()
}

/// (copies, reuses) when `scheme` drives.
fn cow(text: &str, scheme: &str) -> (u64, u64) {
    let mut runner = ModelRunner::new(scheme).unwrap();
    let summary = drive(&scenario(text), &mut runner, &mut |_| {});
    assert_eq!(summary.exit, 0, "{scheme}");
    let c = runner.model().stats.cow;
    (c.copies, c.reuses)
}

const THREE: &str = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\n\
p: advise a hugepage\np: write a 0x1\np: fork c1\np: fork c2\np: exit\nc1: exit\n\
c2: write a+0 0x2\nc2: write a+0x1000 0x3\n";

#[test]
fn mm_id_keeps_three_process_sharing_sticky() {
    let t = shadow(THREE);
    for name in ["linux-6.18", "linux-6.18-npm", "rfc-2026"] {
        let s = tally(&t, name);
        assert!(s.maybe_shared_fp > 0, "{name}: {s:?}");
        assert!(s.cow_fp > 0, "{name} copies although c2 is the only mapper");
    }
    for name in ["exact", "rmap-id"] {
        assert_eq!(tally(&t, name).false_shared(), 0, "{name}");
    }
}

const BLIND_SPOT: &str = "scenario 1\nspawn p\np: map a 2M\np: advise a hugepage\np: write a 0x1\n\
p: protect a[0..4K] r\np: protect a[0..4K] rw\np: fork c\np: unmap a[0..1M]\nc: unmap a[0..1M]\n";

#[test]
fn no_page_mapcount_misses_a_partial_mapping_shared_by_two_processes() {
    let t = shadow(BLIND_SPOT);
    for name in ["linux-6.18-npm", "rfc-2026"] {
        assert_eq!(tally(&t, name).partial_missed, 1, "{name}");
    }
    for name in ["linux-6.18", "linux-6.14", "rmap-id", "exact"] {
        assert_eq!(tally(&t, name).partial_map_errors(), 0, "{name}");
    }
    // Half the folio is unmapped in both, yet the average designs count all 512 pages.
    assert!(tally(&t, "linux-6.18-npm").stats_errors > 0);
    assert_eq!(tally(&t, "linux-6.18").stats_errors, 0);
}

const PAGE0_COW: &str = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\n\
p: advise a hugepage\np: write a 0x1\np: fork c\nc: write a+0 0x2\n";

#[test]
fn estimated_sharers_misses_sharing_once_page_0_is_private() {
    let t = shadow(PAGE0_COW);
    for name in ["linux-6.5", "linux-6.1", "linux-5.7"] {
        assert!(tally(&t, name).maybe_shared_fn > 0, "{name}");
    }
    // 6.10+ also looks at the large mapcount (L = 31 > 16): still shared.
    assert_eq!(tally(&t, "linux-6.14").maybe_shared_fn, 0);
}

const DISJOINT: &str = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\n\
p: advise a hugepage\np: write a 0x1\np: fork c\np: unmap a[0..32K]\nc: unmap a[32K..64K]\n\
p: write a+0x8000 0x2\nc: write a+0 0x3\np: expect a+0x8000 == 0x2\nc: expect a+0 == 0x3\n";

#[test]
fn linux_5_7_reuses_pages_mapped_once_where_6_18_copies() {
    let (copies_618, reuses_618) = cow(DISJOINT, "linux-6.18");
    let (copies_57, reuses_57) = cow(DISJOINT, "linux-5.7");
    assert!(
        reuses_57 > reuses_618,
        "5.7 {reuses_57} vs 6.18 {reuses_618}"
    );
    assert!(copies_57 < copies_618);
    assert_eq!(
        cow(DISJOINT, "linux-6.14").1,
        0,
        "6.14 never reuses a large folio"
    );
}

const FORK_COW: &str = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\n\
p: advise a hugepage\np: write a 0x1\np: fork c\nc: write a+0x3000 0x2\nc: exit\n\
p: write a+0x5000 0x3\n";

#[test]
fn vma_count_counts_mappers_not_entries_and_flags_partial_mappings_from_one_side() {
    let t = shadow(FORK_COW);
    let v = tally(&t, "vma-count");
    assert!(v.mapcount_errors > 0, "a VMA count is not the PTE count");
    assert!(
        v.partial_spurious > 0,
        "the child's COW looks partial from its side"
    );
    assert_eq!(v.cow_fp + v.cow_fn, 0, "its COW decisions match exact's");
    assert_eq!(tally(&t, "exact").mapcount_errors, 0);
}

#[test]
fn rmap_id_answers_every_sharing_question_precisely() {
    for text in [THREE, BLIND_SPOT, PAGE0_COW, DISJOINT, FORK_COW] {
        let t = shadow(text);
        let r = tally(&t, "rmap-id");
        assert_eq!(r.false_shared() + r.false_exclusive(), 0, "{text}");
        assert_eq!(r.mapcount_errors + r.kpagecount_errors + r.stats_errors, 0);
    }
}

#[test]
fn per_page_designs_queue_a_folio_that_a_whole_zap_unmaps() {
    let text = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\n\
p: advise a hugepage\np: write a 0x1\np: unmap a\n";
    let t = shadow(text);
    for name in ["linux-6.1", "linux-5.7"] {
        assert_eq!(tally(&t, name).partial_spurious, 1, "{name}");
    }
    // 6.5 also removes page by page but queues only PMD-mappable folios.
    assert_eq!(tally(&t, "linux-6.5").partial_spurious, 0);
    assert_eq!(tally(&t, "linux-6.18").partial_spurious, 0);
}

#[test]
fn exact_never_disagrees_and_batched_designs_cost_fewer_calls() {
    let t = shadow(FORK_COW);
    let e = tally(&t, "exact");
    assert_eq!(
        e.false_shared() + e.false_exclusive() + e.partial_map_errors(),
        0
    );
    let calls = |n: &str| tally(&t, n).costs.total().calls;
    assert!(calls("linux-6.1") > calls("linux-6.18"));
    assert!(
        tally(&t, "linux-6.18-npm").costs.total().atomic_rmw
            < tally(&t, "linux-6.18").costs.total().atomic_rmw
    );
}
