//! The decision points the 5.10 and 6.1 eras added, one test each: a small program whose
//! outcome the point decides, run under the old era and under 6.18 with everything else the
//! same. Scenarios naming no schemes describe the era's kernel, so their kernel-visible
//! expectations are checked under the era's own design.

use foliolab_driver::{drive, ExpectResult, PageRecord, Record};
use foliolab_model::era::{Era, HugeZeroWp, Khugepaged, TailFlags, ThpStats};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::by_name;
use foliolab_sim::ModelRunner;

/// Runs `text` under `era` (its own design); the failed expectations and the page records.
fn run(era: Era, text: &str) -> (Vec<u32>, Vec<PageRecord>) {
    let s = parse("t.scn", text).unwrap_or_else(|e| panic!("{e}"));
    validate(&s).unwrap_or_else(|e| panic!("{e}"));
    let mut runner = ModelRunner::with_era(era, by_name(era.design).unwrap());
    let (mut failed, mut pages) = (Vec::new(), Vec::new());
    let summary = drive(&s, &mut runner, &mut |r: &Record| match r {
        Record::Expect(e) if e.result == ExpectResult::Fail => failed.push(e.line),
        Record::Page(p) => pages.push(p.clone()),
        Record::Problem(p) => panic!("{:?}", p),
        _ => {}
    });
    assert!(summary.exit <= 1, "exit {}", summary.exit);
    (failed, pages)
}

/// 6.18 with one decision point set as `old` has it.
fn only(old: Era, f: impl Fn(&mut Era, &Era)) -> Era {
    let mut e = Era::LINUX_6_18;
    f(&mut e, &old);
    e
}

const HUGE_ZERO_WRITE: &str = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M
p: advise a hugepage
p: read a
p: expect a pmd
p: write a+0x3000 0x5
p: expect a+0x3000 order == 0
p: expect a+0x0 zeropage
p: expect a pte
";

#[test]
fn huge_zero_write_splits_the_zero_pmd_before_6_18() {
    assert_eq!(Era::LINUX_6_1.huge_zero_wp, HugeZeroWp::SplitPmd);
    assert!(run(Era::LINUX_6_1, HUGE_ZERO_WRITE).0.is_empty());
    let one = only(Era::LINUX_6_1, |e, o| e.huge_zero_wp = o.huge_zero_wp);
    assert!(run(one, HUGE_ZERO_WRITE).0.is_empty());
    assert_eq!(run(Era::LINUX_6_18, HUGE_ZERO_WRITE).0, vec![9, 10, 11]);
}

const THP_FORK_OBSERVE: &str = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M
p: advise a hugepage
p: write a 0x1
p: observe a[0..8K]
";

#[test]
fn tail_pages_show_their_own_flags_before_6_12() {
    let flags = |era: Era| -> Vec<Vec<String>> {
        run(era, THP_FORK_OBSERVE)
            .1
            .into_iter()
            .map(|p| p.flags)
            .collect()
    };
    let old = flags(Era::LINUX_6_1);
    assert!(old[0].contains(&"LRU".to_string()));
    // Only the head of a PMD-mapped THP carries PG_anon_exclusive.
    assert!(old[0].contains(&"MAPPEDTODISK".to_string()));
    assert_eq!(old[1], ["ANON", "COMPOUND_TAIL", "MMAP", "THP"]);
    assert_eq!(Era::LINUX_6_1.tail_kpageflags, TailFlags::OwnPage);
    let new = flags(Era::LINUX_6_18);
    assert!(new[1].contains(&"LRU".to_string()) && new[1].contains(&"UPTODATE".to_string()));
    // 5.10: no PageAnonExclusive, so no MAPPEDTODISK on the head or the tails.
    let v510 = flags(Era::LINUX_5_10);
    assert_eq!(v510[1], ["ANON", "COMPOUND_TAIL", "MMAP", "THP"]);
    assert!(!v510[0].contains(&"MAPPEDTODISK".to_string()));
}

const SWAPIN_READ_THEN_WRITE: &str = "scenario 1
thp 2M=never
swap 64M
spawn p
p: map a 16K
p: write a 0x41
p: advise a pageout
p: advise a willneed
p: read a
p: write a 0x42
p: expect faults == 4
";

#[test]
fn swap_in_on_a_read_fault_maps_read_only_before_6_12() {
    const { assert!(!Era::LINUX_6_1.swapin_writable_on_read) };
    assert!(run(Era::LINUX_6_1, SWAPIN_READ_THEN_WRITE).0.is_empty());
    let one = only(Era::LINUX_6_1, |e, o| {
        e.swapin_writable_on_read = o.swapin_writable_on_read
    });
    assert!(run(one, SWAPIN_READ_THEN_WRITE).0.is_empty());
    assert_eq!(run(Era::LINUX_6_18, SWAPIN_READ_THEN_WRITE).0, vec![11]);
}

/// A page read back into the swap cache and mapped by one process: 6.1 frees the swap cache
/// and reuses it on write, 5.10 (`page_count` only, the swap cache holds a reference) copies.
const SWAP_CACHE_WRITE: &str = "scenario 1
thp 2M=never
swap 64M
spawn p
p: map a 4K
p: write a 0x41
p: advise a pageout
p: advise a willneed
p: read a
p: remember s a
p: write a 0x42
p: expect a new s
";

#[test]
fn without_anon_exclusive_a_swap_cache_page_is_copied() {
    const { assert!(!Era::LINUX_5_10.anon_exclusive && Era::LINUX_6_1.anon_exclusive) };
    assert!(run(Era::LINUX_5_10, SWAP_CACHE_WRITE).0.is_empty());
    let one = Era {
        anon_exclusive: false,
        ..Era::LINUX_6_1
    };
    assert!(run(one, SWAP_CACHE_WRITE).0.is_empty());
    assert_eq!(run(Era::LINUX_6_1, SWAP_CACHE_WRITE).0, vec![12]);
}

const PSS_DIRTY: &str = "scenario 1
thp 2M=never
spawn p
p: map a 8K
p: write a 0x1
p: expect smaps a pss_dirty == 0K
";

#[test]
fn smaps_has_no_pss_dirty_before_6_0() {
    assert!(run(Era::LINUX_5_10, PSS_DIRTY).0.is_empty());
    assert_eq!(run(Era::LINUX_6_1, PSS_DIRTY).0, vec![6]);
}

/// A PTE-mapped THP shared with a child in its lower quarter only (tests/eras/6.1's
/// khugepaged-shared-per-page-2m, measured on 5.10, 6.1 and 6.12).
const KHUGEPAGED_LOWER_QUARTER: &str = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M
p: advise a hugepage
p: write a 0x1
p: protect a+4K r
p: protect a+4K rw
p: advise a[512K..2M] dontfork
p: fork c
p: advise a dofork
khugepaged
p: expect a pmd
";

#[test]
fn khugepaged_counts_shared_ptes_by_page_on_6_1() {
    assert_eq!(Era::LINUX_6_1.khugepaged, Khugepaged::PmdPageMapcount);
    assert!(run(Era::LINUX_6_1, KHUGEPAGED_LOWER_QUARTER).0.is_empty());
    assert!(run(Era::LINUX_5_10, KHUGEPAGED_LOWER_QUARTER).0.is_empty());
    let one = only(Era::LINUX_6_1, |e, o| e.khugepaged = o.khugepaged);
    assert!(run(one, KHUGEPAGED_LOWER_QUARTER).0.is_empty());
    // 6.12 and 6.18 count all 512 PTEs of a folio they call shared.
    assert_eq!(run(Era::LINUX_6_12, KHUGEPAGED_LOWER_QUARTER).0, vec![13]);
    assert_eq!(run(Era::LINUX_6_18, KHUGEPAGED_LOWER_QUARTER).0, vec![13]);
}

/// MADV_COLLAPSE ignores max_ptes_shared on 6.1 as later (`cc->is_khugepaged`); a range
/// fork write-protected whole fails for want of a writable PTE (`SCAN_PAGE_RO`) instead.
const COLLAPSE_SHARED: &str = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M
p: advise a nohugepage
p: write a 0x3
p: fork c
p: advise a hugepage
p: advise a collapse
p: expect a pte
";

#[test]
fn madv_collapse_of_a_read_only_range_fails_on_6_1() {
    assert!(run(Era::LINUX_6_1, COLLAPSE_SHARED).0.is_empty());
    let ro = only(Era::LINUX_6_1, |e, o| {
        e.collapse_needs_writable = o.collapse_needs_writable
    });
    assert!(run(ro, COLLAPSE_SHARED).0.is_empty());
    let limits = only(Era::LINUX_6_1, |e, o| e.khugepaged = o.khugepaged);
    assert_eq!(run(limits, COLLAPSE_SHARED).0, vec![10]);
    assert_eq!(run(Era::LINUX_6_18, COLLAPSE_SHARED).0, vec![10]);
}

#[test]
fn pre_mthp_statistics_have_no_per_size_counters() {
    let s = ThpStats::PmdOnly;
    assert!(s.exists("thp_fault_alloc") && s.exists("thp_deferred_split_page"));
    assert!(!s.exists("2M.anon_fault_alloc") && !s.exists("thp_underused_split_page"));
    assert!(ThpStats::Linux618.exists("2M.anon_fault_alloc"));
    assert_eq!(Era::LINUX_5_10.thp_stats, ThpStats::PmdOnly);
}

/// A scenario naming no schemes describes the era's kernel: under 6.1 its kernel-visible
/// expectations are checked (and fail where 6.1 differs), its model-only ones, which describe
/// linux-6.18's internals, are skipped.
#[test]
fn unnamed_scenarios_describe_the_era_kernel() {
    let text = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M
p: advise a hugepage
p: read a
p: write a+0x3000 0x5
p: expect a pmd
p: expect folio a+0x3000 refcount == 12345
";
    assert_eq!(run(Era::LINUX_6_1, text).0, vec![8]);
}

const PTE_MAPPED_COLD: &str = "scenario 1
thp 2M=madvise
spawn p
p: map a 2M align=2M
p: advise a hugepage
p: write a 0x1
p: protect a+4K r
p: protect a+4K rw
p: expect a pte
p: advise a cold
p: expect a order == 0
";

#[test]
fn cold_splits_a_pte_mapped_thp_covered_whole_before_6_9() {
    use foliolab_model::era::MadviseLarge;
    assert_eq!(
        Era::LINUX_6_1.madvise_large,
        MadviseLarge::SplitEveryPteMapped
    );
    assert!(run(Era::LINUX_5_10, PTE_MAPPED_COLD).0.is_empty());
    let one = only(Era::LINUX_6_1, |e, o| e.madvise_large = o.madvise_large);
    assert!(run(one, PTE_MAPPED_COLD).0.is_empty());
    assert_eq!(run(Era::LINUX_6_18, PTE_MAPPED_COLD).0, vec![11]);
}
