//! Shared parts of the average-based designs (`linux-6.18-npm`, `rfc-2026`): MM_ID slots for
//! sharing, no per-page mapcount. kpagecount and PSS use the average per-page mapcount,
//! pagemap bit 56 and USS use "maybe mapped shared", NR_ANON_MAPPED counts a whole folio as
//! soon as any page is mapped, and a partial mapping is detected only when the average
//! mapcount falls below one.

use crate::event::FolioCounters;
use crate::mmid::MmSlots;
use foliolab_types::FolioTruth;

/// `folio_average_page_mapcount` from the large mapcount `l`, the PMD-level count `e` and
/// the folio size `n`.
pub fn average_mapcount(l: i64, e: i64, n: i64) -> i64 {
    if l <= 0 {
        return 0;
    }
    if l <= e {
        return e;
    }
    let order = n.trailing_zeros();
    ((((l - e) + n / 2) >> order) + e).max(1)
}

/// pagemap bit 56 / USS "private" without per-page counts: not maybe shared.
pub fn exclusive(slots: &MmSlots, large: bool) -> bool {
    if large {
        !slots.maybe_shared()
    } else {
        slots.l == 1
    }
}

/// Small-folio mapcount changes (no slots for order 0): `(new mapcount, stat delta)`.
pub fn small_change(slots: &mut MmSlots, diff: i64) -> i64 {
    slots.l += diff;
    match (diff > 0, slots.l) {
        (true, 1) => 1,
        (false, 0) => -1,
        _ => 0,
    }
}

/// NR_ANON_MAPPED without per-page mapcounts: the whole folio while any page is mapped.
pub fn whole_folio_mapped_pages(
    f: crate::event::FolioRef,
    truth: &foliolab_types::FolioTruth,
) -> u64 {
    if truth.total_entries() > 0 {
        f.nr_pages()
    } else {
        0
    }
}

/// The report fields of a design built on MM_ID slots without per-page counts; `entire` is
/// its count of PMD mappings.
pub fn slot_counters(slots: &MmSlots, entire: i64, large: bool) -> FolioCounters {
    FolioCounters {
        mapcount: Some(slots.l),
        large_mapcount: large.then_some(slots.l),
        entire_mapcount: large.then_some(entire),
        slot0: large.then_some(slots.slot(0)),
        slot1: large.then_some(slots.slot(1)),
        maybe_shared: Some(slots.maybe_mapped_shared(large)),
        ..Default::default()
    }
}

/// The exact mapcount of a small folio (kept in `slots.l`) against the truth.
pub fn check_small(slots: &MmSlots, truth: &FolioTruth) -> Vec<String> {
    if slots.l == truth.total_entries() as i64 {
        return Vec::new();
    }
    vec![format!(
        "_mapcount {}, mapped {} times",
        slots.l,
        truth.total_entries()
    )]
}
