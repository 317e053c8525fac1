//! `rfc-2026`: "mm/rmap: support arbitrary folio mappings" (Hildenbrand, April 2026, not
//! merged). No per-page mapcount and no `_nr_pages_mapped`; `_entire_mapcount` is replaced by
//! `_total_mapped_pages` `T` (a PTE adds 1, a PMD adds N), kept with `_large_mapcount` `L`
//! and the MM_ID slots under the large-mapcount lock. The NO_PAGE_MAPCOUNT semantics become
//! unconditional: average-based kpagecount and PSS (`T / N`), bit 56 and USS from "maybe
//! mapped shared", whole-folio NR_ANON_MAPPED, and partial mappings detected only when the
//! average falls below one (`0 < T < N`).
//!
//! Derived here, not stated by the RFC: the number of PMD mappings needed for
//! NR_ANON_THPS follows from `L` and `T`, since with p PMDs and q PTEs `L = p + q` and
//! `T = pN + q`, so `p = (T - L) / (N - 1)`.

use crate::avg::{check_small, exclusive, slot_counters, small_change};
use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::mmid::MmSlots;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, FolioRfc2026};
use foliolab_types::{FolioTruth, MmId, Pfn};

/// One folio's state under the April 2026 RFC, true values (the kernel words are
/// [`crate::words::FolioRfc2026`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RfcState {
    /// `L`, the slots and `S` (see [`MmSlots`]); a small folio's mapcount in `slots.l`.
    pub slots: MmSlots,
    /// `T`, `_total_mapped_pages`: a PTE counts 1, a PMD N; 0..=2N·MMs, unbiased.
    pub t: i64,
}

impl RfcState {
    /// PMD mappings, from `L` and `T`.
    fn pmds(&self, n: i64) -> i64 {
        if n <= 1 {
            return 0;
        }
        (self.t - self.slots.l) / (n - 1)
    }
}

impl FolioState for RfcState {
    fn fresh(_f: FolioRef) -> RfcState {
        RfcState::default()
    }
    fn leftovers(&self) -> Option<String> {
        (self.slots.l != 0 || self.t != 0 || self.slots.t != [0, 0])
            .then(|| format!("left: {self:?}"))
    }
}

/// The April 2026 RFC.
#[derive(Clone, Default)]
pub struct Rfc2026 {
    kit: Kit<RfcState>,
}

impl Rfc2026 {
    pub fn new() -> Rfc2026 {
        Rfc2026::default()
    }

    fn change(
        &mut self,
        f: FolioRef,
        nr: u64,
        level: Level,
        mm: MmId,
        add: bool,
    ) -> (StatDelta, i64) {
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        let (pmds, l_before) = (s.pmds(n), s.slots.l);
        let (diff, pages) = match level {
            Level::Pmd => (1, n),
            Level::Pte => (nr as i64, nr as i64),
        };
        let l = if add {
            s.t += pages;
            s.slots.add(diff, mm)
        } else {
            s.t -= pages;
            s.slots.sub(diff, mm)
        };
        let pmds_after = s.pmds(n);
        let stat = StatDelta {
            nr: n * ((l > 0) as i64 - (l_before > 0) as i64),
            nr_pmd: n * ((pmds_after > 0) as i64 - (pmds > 0) as i64),
        };
        (stat, s.t)
    }

    fn average(&self, f: FolioRef) -> i64 {
        let s = self.kit.folios.get(f);
        let n = f.nr_pages() as i64;
        if s.slots.l <= 0 {
            return 0;
        }
        ((s.t + n / 2) / n).max(1)
    }
}

impl RmapEvents for Rfc2026 {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.kit.costs.record(ctx.cause, 0, 1);
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        if !f.is_large() {
            s.slots.l = 1;
            return StatDelta { nr: 1, nr_pmd: 0 };
        }
        let pmd = f.pmd_mappable();
        s.slots.set(if pmd { 1 } else { n }, ctx.mm);
        s.t = n;
        StatDelta {
            nr: n,
            nr_pmd: if pmd { n } else { 0 },
        }
    }
    fn add(&mut self, f: FolioRef, _first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        // `L`, `T` and the slots change under the one bit spinlock in page[1].
        self.kit.costs.record(ctx.cause, 1, 1);
        if !f.is_large() {
            let nr = small_change(&mut self.kit.folios.get_mut(f).slots, 1);
            return StatDelta { nr, nr_pmd: 0 };
        }
        self.change(f, nr, level, ctx.mm, true).0
    }
    fn remove(&mut self, f: FolioRef, _first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.kit.costs.record(ctx.cause, 1, 1);
        if !f.is_large() {
            let nr = small_change(&mut self.kit.folios.get_mut(f).slots, -1);
            return Removed {
                stat: StatDelta { nr, nr_pmd: 0 },
                partially_mapped: false,
            };
        }
        let (stat, t) = self.change(f, nr, level, ctx.mm, false);
        Removed {
            stat,
            partially_mapped: t > 0 && t < f.nr_pages() as i64,
        }
    }
}

impl Queries for Rfc2026 {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).slots.l
    }
    fn page_mapcount(&self, f: FolioRef, _page: Pfn) -> i64 {
        if !f.is_large() {
            return self.kit.folios.get(f).slots.l;
        }
        self.average(f)
    }
    fn page_mapped_exclusively(&self, f: FolioRef, _page: Pfn) -> bool {
        exclusive(&self.kit.folios.get(f).slots, f.is_large())
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.kit
            .folios
            .get(f)
            .slots
            .maybe_mapped_shared(f.is_large())
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        self.kit.folios.get(f).slots.can_reuse(refcount)
    }
    fn nr_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        Some(crate::avg::whole_folio_mapped_pages(f, truth))
    }
}

impl Reporting for Rfc2026 {
    fn name(&self) -> &'static str {
        "rfc-2026"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let s = self.kit.folios.get(f);
        slot_counters(&s.slots, s.pmds(f.nr_pages() as i64), f.is_large())
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.kit.folios.get(f);
        if !f.is_large() {
            return check_small(&s.slots, truth);
        }
        let mut out = Vec::new();
        s.slots.check(truth, &mut out);
        let t = truth.pte_maps_per_page.sum() + truth.pmd_maps * f.nr_pages();
        if s.t != t as i64 {
            out.push(format!(
                "_total_mapped_pages {}, page tables map {t} pages",
                s.t
            ));
        }
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        Layout {
            folio_bytes: bytes::<FolioRfc2026>(),
            ..Layout::default()
        }
    }
}
