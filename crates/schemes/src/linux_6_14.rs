//! `linux-6.14`: 6.10-6.14 accounting. `_large_mapcount` (the seeds' "total mapcount"),
//! `_entire_mapcount`, `_nr_pages_mapped` and per-page `_mapcount`, batched rmap calls, no
//! MM_ID. Sharing is guessed by `folio_likely_mapped_shared` (kernel note 5.2), which can miss
//! sharing of a partially mapped folio; a write to a non-exclusive page of a large folio always
//! copies (large-folio COW reuse came in 6.15). Counts, statistics and partial-map detection
//! are exact.

use crate::cost::{lines, Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::pm::PmCounts;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, Folio614, PageMapcount};
use foliolab_types::{FolioTruth, Pfn};

impl FolioState for PmCounts {
    fn fresh(f: FolioRef) -> PmCounts {
        PmCounts::new(f.nr_pages())
    }
    fn leftovers(&self) -> Option<String> {
        (!self.is_initial())
            .then(|| format!("counts left: L={} E={} NPM={}", self.l, self.e, self.npm))
    }
}

/// Linux 6.10-6.14.
#[derive(Clone, Default)]
pub struct Linux614 {
    kit: Kit<PmCounts>,
}

impl Linux614 {
    pub fn new() -> Linux614 {
        Linux614::default()
    }

    /// Atomics: one per page `_mapcount`, one for NPM if a page changed state, one for `L`.
    fn cost(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, changed: bool, ctx: Ctx) {
        let (rmw, touched) = match level {
            Level::Pmd => (2 + changed as u64, 1),
            Level::Pte if !f.is_large() => (1, 1),
            Level::Pte => (
                nr + 1 + changed as u64,
                lines(f.index_of(first) as u64, nr, &[1]),
            ),
        };
        self.kit.costs.record(ctx.cause, rmw, touched);
    }
}

/// `folio_likely_mapped_shared` (6.10-6.14).
pub fn likely_mapped_shared(f: FolioRef, c: &PmCounts) -> bool {
    if !f.is_large() {
        return c.l > 1;
    }
    if c.l <= 1 {
        return false;
    }
    if c.e >= 1 || c.l > f.nr_pages() as i64 {
        return true;
    }
    c.p[0] > 1
}

impl RmapEvents for Linux614 {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        let touched = if f.pmd_mappable() { 1 } else { f.nr_pages() };
        self.kit.costs.record(ctx.cause, 0, touched);
        self.kit.folios.get_mut(f).add_new(f.pmd_mappable())
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        let c = self.kit.folios.get_mut(f);
        let (stat, changed) = match level {
            Level::Pmd => c.add_pmd(),
            Level::Pte => c.add_ptes(f.index_of(first), nr),
        };
        self.cost(f, first, nr, level, changed, ctx);
        stat
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        let c = self.kit.folios.get_mut(f);
        match level {
            Level::Pmd => c.dup_pmd(),
            Level::Pte => c.dup_ptes(f.index_of(first), nr),
        }
        self.cost(f, first, nr, level, false, ctx);
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        let c = self.kit.folios.get_mut(f);
        let (r, changed) = match level {
            Level::Pmd => c.remove_pmd(),
            Level::Pte => c.remove_ptes(f.index_of(first), nr),
        };
        self.cost(f, first, nr, level, changed, ctx);
        r
    }
}

impl Queries for Linux614 {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).l
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.kit.folios.get(f).page_mapcount(f.index_of(page))
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        likely_mapped_shared(f, &self.kit.folios.get(f))
    }
    /// Before 6.15 a large folio was never reused: every write copies one page.
    fn can_reuse_large(&self, _f: FolioRef, _refcount: i64, _ctx: Ctx) -> bool {
        false
    }
}

impl Reporting for Linux614 {
    fn name(&self) -> &'static str {
        "linux-6.14"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let c = self.kit.folios.get(f);
        let large = f.is_large();
        FolioCounters {
            mapcount: Some(c.l),
            large_mapcount: large.then_some(c.l),
            entire_mapcount: large.then_some(c.e),
            nr_pages_mapped: large.then_some(c.npm),
            maybe_shared: Some(likely_mapped_shared(f, &c)),
            ..Default::default()
        }
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let mut out = Vec::new();
        self.kit.folios.get(f).check(truth, &mut out);
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        Layout {
            folio_bytes: bytes::<Folio614>(),
            page_bytes: bytes::<PageMapcount>(),
            ..Layout::default()
        }
    }
}
