//! Rules of single designs, on hand-made event sequences.

use foliolab_schemes::linux_6_1::{CowRule, Era61};
use foliolab_schemes::rfc_2026::Rfc2026;
use foliolab_schemes::*;
use foliolab_types::{MmId, Order, Pfn};

const P: MmId = MmId(7);
const C: MmId = MmId(9);
const D: MmId = MmId(11);

fn thp() -> FolioRef {
    FolioRef {
        head: Pfn(512),
        order: Order(9),
        anon: true,
    }
}

fn mthp() -> FolioRef {
    FolioRef {
        head: Pfn(16),
        order: Order(4),
        anon: true,
    }
}

/// One VMA per MM here.
fn ctx(mm: MmId, cause: Cause) -> Ctx {
    let vma = foliolab_types::VmaId(mm.0 as u64);
    Ctx { mm, vma, cause }
}

#[test]
fn rfc_2026_two_pmds_and_one_pte_give_mapcount_3_and_1025_mapped_pages() {
    let f = thp();
    let mut s = Rfc2026::new();
    s.prep_folio(f);
    s.add_new_anon(f, ctx(P, Cause::Fault));
    s.dup(f, f.head, 512, Level::Pmd, ctx(C, Cause::Fork));
    s.add(f, f.head.add(3), 1, Level::Pte, ctx(D, Cause::Fault));
    assert_eq!(s.mapcount(f), 3);
    // Two PMDs derived from L and T; the average (1025 / 512, rounded) is kpagecount.
    assert_eq!(s.counters(f).entire_mapcount, Some(2));
    assert_eq!(s.page_mapcount(f, f.head.add(100)), 2);
    assert!(s.maybe_mapped_shared(f));
}

#[test]
fn linux_6_1_double_map_keeps_page_mapcounts_across_a_pmd_split() {
    let f = thp();
    let mut s = Era61::new(CowRule::Since58);
    s.prep_folio(f);
    s.add_new_anon(f, ctx(P, Cause::Fault));
    s.dup(f, f.head, 512, Level::Pmd, ctx(C, Cause::Fork));
    // The child's PMD is split while the parent's stays: PG_double_map.
    s.add(f, f.head, 512, Level::Pte, ctx(C, Cause::PmdSplit));
    let r = s.remove(f, f.head, 512, Level::Pmd, ctx(C, Cause::PmdSplit));
    assert_eq!(r.stat.nr, 0);
    assert_eq!(s.page_mapcount(f, f.head.add(5)), 2);
    assert_eq!(s.mapcount(f), 513);
    // The parent's last PMD goes: every page is still PTE-mapped, nothing is partial.
    let r = s.remove(f, f.head, 512, Level::Pmd, ctx(P, Cause::Zap));
    assert_eq!(
        (r.stat.nr, r.stat.nr_pmd, r.partially_mapped),
        (0, -512, false)
    );
    assert_eq!(s.page_mapcount(f, f.head.add(5)), 1);
}

#[test]
fn per_page_removal_flags_partial_on_the_first_page() {
    let f = mthp();
    let mut s = Era61::new(CowRule::Since58);
    s.prep_folio(f);
    s.add_new_anon(f, ctx(P, Cause::Fault));
    let r = s.remove(f, f.head, 16, Level::Pte, ctx(P, Cause::Zap));
    assert!(
        r.partially_mapped,
        "the first of 16 per-page calls leaves 15 mapped"
    );
    assert_eq!(r.stat.nr, -16);
    assert!(s.free_folio(f).is_ok());
}

#[test]
fn npm_average_mapcount_never_drops_to_zero_while_mapped() {
    let f = mthp();
    let mut s = by_name("linux-6.18-npm").unwrap();
    s.prep_folio(f);
    s.add_new_anon(f, ctx(P, Cause::Fault));
    let r = s.remove(f, f.head, 12, Level::Pte, ctx(P, Cause::Zap));
    assert!(r.partially_mapped && r.stat.nr == 0, "{r:?}");
    // 4 of 16 pages mapped: the average rounds to 0 but a mapped folio reads at least 1,
    // on unmapped pages as well.
    assert_eq!(s.page_mapcount(f, f.head.add(15)), 1);
    assert_eq!(s.page_mapcount(f, f.head.add(0)), 1);
}

#[test]
fn mm_id_slots_clear_the_shared_bit_when_the_child_leaves() {
    let f = mthp();
    let mut s = by_name("rfc-2026").unwrap();
    s.prep_folio(f);
    s.add_new_anon(f, ctx(P, Cause::Fault));
    s.dup(f, f.head, 16, Level::Pte, ctx(C, Cause::Fork));
    assert!(s.maybe_mapped_shared(f));
    s.remove(f, f.head, 16, Level::Pte, ctx(C, Cause::Zap));
    assert!(!s.maybe_mapped_shared(f));
    assert!(s.can_reuse_large(f, 16, ctx(P, Cause::Cow)));
}

#[test]
fn every_scheme_is_registered_and_reports_a_layout() {
    for name in registry::names() {
        let s = by_name(name).unwrap();
        assert_eq!(s.name(), name);
        assert!(s.layout().metadata_bytes(Order(9)) > 0, "{name}");
    }
    assert!(by_name("linux-9.9").is_none());
}

#[test]
fn per_page_mapcounts_cost_4_bytes_per_page_and_mm_id_a_constant() {
    let b = |n: &str| by_name(n).unwrap().layout().metadata_bytes(Order(9));
    assert_eq!(b("linux-6.18"), 512 * 4 + 28);
    assert_eq!(b("linux-6.18-npm"), b("rfc-2026"));
    assert!(b("linux-6.18-npm") < 64);
    assert!(b("vma-count") < b("linux-6.18-npm"));
}

#[test]
fn madvise_shared_skip_follows_each_era() {
    let f = mthp();
    let page0_private = |name: &str| {
        let mut s = by_name(name).unwrap();
        s.prep_folio(f);
        s.add_new_anon(f, ctx(P, Cause::Fault));
        s.dup(f, f.head, 16, Level::Pte, ctx(C, Cause::Fork));
        s.remove(f, f.head, 1, Level::Pte, ctx(C, Cause::Cow));
        s.madvise_skips_shared(f)
    };
    // The child COWed page 0: the folio is still shared, but page 0 is not.
    assert!(!page0_private("linux-6.5"));
    assert!(!page0_private("linux-6.1"));
    assert!(page0_private("linux-6.18"));
    assert!(page0_private("exact"));
}

#[test]
fn the_registry_is_one_table_of_unique_names_with_their_properties() {
    let names: Vec<&str> = registry::names().collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "unique names");
    assert_eq!(names.len(), DESIGNS.len());
    let leaky: Vec<&str> = DESIGNS
        .iter()
        .filter(|d| d.properties.leaks_by_design)
        .map(|d| d.name)
        .collect();
    assert_eq!(leaky, ["linux-5.7"], "only the pre-5.8 COW rule leaks");
    assert!(!registry::properties("linux-6.1").anon_mapped_conserved);
    assert!(registry::properties("linux-6.18").anon_mapped_conserved);
    assert_eq!(registry::properties("not-registered"), registry::PLAIN);
    let s = by_name("linux-5.7").unwrap();
    assert!(
        s.properties().leaks_by_design,
        "properties come from the row"
    );
}
