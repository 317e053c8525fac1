//! `rmap-id`: "mm: precise "mapped shared" vs. "mapped exclusively" detection for PTE-mapped
//! THP / partially-mappable folios" (Hildenbrand, RFC, Nov 2023, not merged).
//!
//! Rules as described (anchors 1.6, docs/schemes/rmap-id.md): every MM gets an rmap id; a
//! large folio keeps its total mapcount plus rmap values `V[X]`; mapping `n` pages adds
//! `n * subid(id, X)` to every `V[X]` (removal subtracts), under a seqcount. The folio is
//! mapped exclusively by MM `m` iff `V[X] == mapcount * subid(m, X)` for every `X`. The RFC
//! sized the number of values to the folio order so fixed-width words stay exact; the model
//! uses two unbounded sums with `subid(id, 1) = id` and `subid(id, 2) = id^2`: if
//! `sum c_i id_i = L m` and `sum c_i id_i^2 = L m^2` with `sum c_i = L`, the variance of the
//! ids is zero, so all are `m` (the same exactness by a different construction).
//!
//! The RFC sits on 6.7-era accounting, kept here as in `linux-6.14` (per-page `_mapcount`,
//! `_nr_pages_mapped`, `_entire_mapcount`, total mapcount): statistics, kpagecount, bit 56
//! and partial-map detection are exact; "mapped shared" and COW reuse are exact too.

use crate::cost::{lines, Costs, Layout, TailWords, PINCOUNT_BYTES, TAIL_WORDS_START};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::pm::PmCounts;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, FolioRmapId, PageMapcount, RmapValue};
use foliolab_types::{FolioTruth, MmId, Order, Pfn};

/// One folio's state under rmap-id (true values; the kernel words are
/// [`crate::words::FolioRmapId`] and the [`crate::words::RmapValue`]s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RmapIdState {
    /// The 6.7-era counts, true values (see [`PmCounts`]).
    pub pm: PmCounts,
    /// The rmap sums: `vals[0]` = Σ entries·id, `vals[1]` = Σ entries·id² over the mapping
    /// MMs; 0 when unmapped, never negative (unbounded here; the RFC's words wrap).
    pub vals: [i128; 2],
}

impl RmapIdState {
    /// Mapped by `m` alone (and mapped at all).
    fn exclusive_to(&self, m: MmId) -> bool {
        let (l, id) = (self.pm.l as i128, m.0 as i128);
        l > 0 && self.vals[0] == l * id && self.vals[1] == l * id * id
    }
    /// Mapped by a single MM (whichever).
    fn exclusive(&self) -> bool {
        let l = self.pm.l as i128;
        l > 0 && self.vals[0] % l == 0 && self.exclusive_to(MmId((self.vals[0] / l) as u32))
    }
    fn account(&mut self, m: MmId, n: i64) {
        let id = m.0 as i128;
        self.vals[0] += n as i128 * id;
        self.vals[1] += n as i128 * id * id;
    }
}

impl FolioState for RmapIdState {
    fn fresh(f: FolioRef) -> RmapIdState {
        RmapIdState {
            pm: PmCounts::new(f.nr_pages()),
            vals: [0, 0],
        }
    }
    fn leftovers(&self) -> Option<String> {
        (!self.pm.is_initial() || self.vals != [0, 0]).then(|| format!("left: {:?}", self.vals))
    }
}

/// Number of 64-bit rmap values the RFC keeps for a folio of `order`: 1 up to order 2,
/// 2 up to order 5, 4 beyond (its 8/16/32 bytes at orders 2/5/10; steps in between assumed).
pub fn rmap_values(order: Order) -> u64 {
    match order.0 {
        0..=2 => 1,
        3..=5 => 2,
        _ => 4,
    }
}

/// The November 2023 rmap-id RFC.
#[derive(Clone, Default)]
pub struct RmapId {
    kit: Kit<RmapIdState>,
}

impl RmapId {
    pub fn new() -> RmapId {
        RmapId::default()
    }

    /// 6.7-era atomics, plus one per rmap value and two for the seqcount.
    fn cost(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        if !f.is_large() {
            self.kit.costs.record(ctx.cause, 1, 1);
            return;
        }
        let extra = rmap_values(f.order) + 2;
        let (rmw, touched) = match level {
            Level::Pmd => (3 + extra, 2),
            Level::Pte => (nr + 2 + extra, lines(f.index_of(first) as u64, nr, &[1, 2])),
        };
        self.kit.costs.record(ctx.cause, rmw, touched);
    }

    fn change(
        &mut self,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        ctx: Ctx,
        dir: i64,
    ) -> Removed {
        self.cost(f, first, nr, level, ctx);
        let idx = f.index_of(first);
        let s = self.kit.folios.get_mut(f);
        let diff = if level == Level::Pmd { 1 } else { nr as i64 };
        if f.is_large() {
            s.account(ctx.mm, dir * diff);
        }
        match (level, dir > 0) {
            (Level::Pmd, true) => Removed {
                stat: s.pm.add_pmd().0,
                partially_mapped: false,
            },
            (Level::Pte, true) => Removed {
                stat: s.pm.add_ptes(idx, nr).0,
                partially_mapped: false,
            },
            (Level::Pmd, false) => s.pm.remove_pmd().0,
            (Level::Pte, false) => s.pm.remove_ptes(idx, nr).0,
        }
    }
}

impl RmapEvents for RmapId {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.kit.costs.record(
            ctx.cause,
            0,
            if f.pmd_mappable() {
                2
            } else {
                f.nr_pages().max(1)
            },
        );
        let s = self.kit.folios.get_mut(f);
        let stat = s.pm.add_new(f.pmd_mappable());
        if f.is_large() {
            let l = s.pm.l;
            s.account(ctx.mm, l);
        }
        stat
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.change(f, first, nr, level, ctx, 1).stat
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        self.change(f, first, nr, level, ctx, 1);
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.change(f, first, nr, level, ctx, -1)
    }
}

impl Queries for RmapId {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).pm.l
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.kit.folios.get(f).pm.page_mapcount(f.index_of(page))
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        let s = self.kit.folios.get(f);
        if !f.is_large() {
            return s.pm.l > 1;
        }
        s.pm.l > 0 && !s.exclusive()
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let s = self.kit.folios.get(f);
        s.pm.l > 1 && s.exclusive_to(ctx.mm) && s.pm.l == refcount
    }
}

impl Reporting for RmapId {
    fn name(&self) -> &'static str {
        "rmap-id"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let s = self.kit.folios.get(f);
        let large = f.is_large();
        FolioCounters {
            mapcount: Some(s.pm.l),
            large_mapcount: large.then_some(s.pm.l),
            entire_mapcount: large.then_some(s.pm.e),
            nr_pages_mapped: large.then_some(s.pm.npm),
            maybe_shared: Some(self.maybe_mapped_shared(f)),
            ..Default::default()
        }
    }
    /// Everything exact, "mapped shared" included.
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.kit.folios.get(f);
        let mut out = Vec::new();
        s.pm.check(truth, &mut out);
        if f.is_large() && s.pm.l > 0 && s.exclusive() != (truth.nr_mms() == 1) {
            out.push(format!(
                "rmap values say exclusive={}, {} MMs map it",
                s.exclusive(),
                truth.nr_mms()
            ));
        }
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        // The rmap values are counted at order 9.
        // The RFC keeps its words in page[1] and `_rmap_val0..3` in page[3] after `_head_3`
        // (`_rmap_val4..5`, for orders above 10, in page[4]).
        let values = bytes::<RmapValue>() * rmap_values(Order(9));
        let words = TailWords {
            page: 1,
            offset: TAIL_WORDS_START,
            bytes: bytes::<FolioRmapId>() + PINCOUNT_BYTES,
            what: "folio words and _pincount",
        };
        let vals = TailWords {
            page: 3,
            offset: TAIL_WORDS_START,
            bytes: values,
            what: "_rmap_val0..3",
        };
        Layout {
            folio_bytes: bytes::<FolioRmapId>() + values,
            page_bytes: bytes::<PageMapcount>(),
            tail_placement: Some([words, vals]),
            ..Layout::default()
        }
    }
}
