//! The refcount ceiling (seed 004, kernel note section 11): one PMD-sized page-cache folio
//! (512 page-cache references) fully PTE-mapped by ever more MMs, or by ever more VMAs of
//! one MM, costs 512 references and 512 mapcount per mapping. The kernel's counters are
//! 32-bit signed; this harness runs every scheme's own arithmetic and asks, for a simulated
//! counter width W, at which mapping each counter would pass 2^(W-1) - 1 and wrap. Small
//! widths (12, 16, 20 bits) keep it fast; the closed form checked against them gives the
//! 32-bit answer: the refcount wraps at the 2^22 - 1 = 4,194,303rd MM (2^22 for an anon
//! folio, which has no page-cache references), one mapping before `folio_mapcount`, and no
//! scheme's counter wraps before the refcount. Only GUP guards the refcount
//! (`try_get_folio` refuses a negative count); the mapping paths (fault, fork, PMD split)
//! take references unchecked, so the first wrapped value comes from a mapping.

use foliolab_schemes::{by_name, registry, Cause, Ctx, FolioRef, Level, Scheme};
use foliolab_types::{MmId, Order, Pfn, VmaId, PMD_NR_PAGES};

/// The first mapping (1-based) at which each counter passes the W-bit signed maximum.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wraps {
    refcount: Option<u64>,
    folio_mapcount: Option<u64>,
    page_mapcount: Option<u64>,
    /// An MM_ID slot's count (`_mm_id_mapcount`), for the schemes that have slots.
    slot: Option<u64>,
    /// Mappings GUP (`try_get_folio`) still accepted: the last one before the wrap.
    gup_refuses_after: Option<u64>,
}

const FOLIO: FolioRef = FolioRef {
    head: Pfn(0x1000),
    order: Order(9),
    anon: false,
};

fn limit(width: u32) -> i64 {
    (1i64 << (width - 1)) - 1
}

/// Maps the folio `mappings` times with 512 PTEs each: by a new MM each time (`per_mm`) or
/// by new VMAs of MM 1; records where each counter would wrap at `width` bits.
fn run(scheme: &mut dyn Scheme, width: u32, mappings: u64, per_mm: bool) -> Wraps {
    scheme.prep_folio(FOLIO);
    let max = limit(width);
    let mut w = Wraps::default();
    let mut refcount = PMD_NR_PAGES as i64; // the page cache's references
    for k in 1..=mappings {
        let mm = MmId(if per_mm { k as u32 } else { 1 });
        // Each mapping is a VMA of its own.
        let ctx = Ctx {
            mm,
            vma: VmaId(k),
            cause: Cause::Fault,
        };
        refcount += PMD_NR_PAGES as i64;
        scheme.add(FOLIO, FOLIO.head, PMD_NR_PAGES, Level::Pte, ctx);
        let c = scheme.counters(FOLIO);
        let slot = [c.slot0, c.slot1]
            .into_iter()
            .flatten()
            .flatten()
            .map(|(_, n)| n)
            .max();
        note(&mut w.refcount, k, refcount > max);
        note(&mut w.folio_mapcount, k, scheme.mapcount(FOLIO) > max);
        note(
            &mut w.page_mapcount,
            k,
            scheme.page_mapcount(FOLIO, FOLIO.head) > max,
        );
        note(&mut w.slot, k, slot.is_some_and(|n| n > max));
        if w.refcount.is_some() && w.gup_refuses_after.is_none() {
            w.gup_refuses_after = Some(k - 1);
        }
    }
    w
}

fn note(at: &mut Option<u64>, k: u64, wrapped: bool) {
    if wrapped && at.is_none() {
        *at = Some(k);
    }
}

/// The mapping at which the refcount of a PMD folio with `extra` references besides its
/// mappings wraps at `width` bits: the first k with extra + 512k > 2^(W-1) - 1.
fn refcount_wrap(width: u32, extra: i64) -> u64 {
    ((limit(width) - extra) / PMD_NR_PAGES as i64 + 1) as u64
}

#[test]
fn the_refcount_wraps_first_in_every_scheme_and_width() {
    for width in [12u32, 16, 20] {
        let mappings = refcount_wrap(width, 0) + 2;
        for name in registry::names() {
            for per_mm in [true, false] {
                let mut s = by_name(name).expect("scheme");
                let w = run(s.as_mut(), width, mappings, per_mm);
                let r = w.refcount.expect("the refcount wraps");
                assert_eq!(
                    r,
                    refcount_wrap(width, PMD_NR_PAGES as i64),
                    "{name} W={width}"
                );
                assert_eq!(w.gup_refuses_after, Some(r - 1));
                for (what, at) in [
                    ("folio_mapcount", w.folio_mapcount),
                    ("page_mapcount", w.page_mapcount),
                    ("slot", w.slot),
                ] {
                    assert!(
                        at.is_none_or(|k| k > r),
                        "{name} W={width} per_mm={per_mm}: {what} wraps at {at:?} before the refcount ({r})"
                    );
                }
            }
        }
    }
}

#[test]
fn precise_schemes_wrap_folio_mapcount_one_mapping_after_the_refcount() {
    for width in [12u32, 16, 20] {
        let mappings = refcount_wrap(width, 0) + 1;
        let mut s = by_name("linux-6.18").expect("scheme");
        let w = run(s.as_mut(), width, mappings, true);
        assert_eq!(w.folio_mapcount, Some(refcount_wrap(width, 0)));
        assert_eq!(w.folio_mapcount, w.refcount.map(|k| k + 1));
        // One PTE per page per MM: a page's mapcount is the number of MMs, far from the edge.
        assert_eq!(w.page_mapcount, None);
        // Per MM a slot holds 512: only one MM (many VMAs) drives it to the edge, with L.
        assert_eq!(w.slot, None);
        let mut s = by_name("linux-6.18").expect("scheme");
        let one_mm = run(s.as_mut(), width, mappings, false);
        assert_eq!(one_mm.slot, one_mm.folio_mapcount);
    }
}

#[test]
fn at_32_bits_the_ceiling_is_about_four_million_mms() {
    // The closed form agrees with the simulation at small widths (tests above); at 32 bits:
    assert_eq!(refcount_wrap(32, 0), 1 << 22);
    assert_eq!(refcount_wrap(32, PMD_NR_PAGES as i64), (1 << 22) - 1);
    assert_eq!(refcount_wrap(32, 0), 4_194_304);
}
