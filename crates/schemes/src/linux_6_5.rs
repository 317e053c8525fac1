//! `linux-6.5`: 6.3-6.7 accounting (era-6.5 `mm/rmap.c`). `_entire_mapcount`,
//! `_nr_pages_mapped` (with the COMPOUND_MAPPED bit) and per-page `_mapcount`; no total
//! mapcount, so `folio_mapcount` is `folio_total_mapcount`, a loop over every page. rmap
//! calls come one page at a time ([`crate::per_page`]); a page's last unmap queues the folio
//! for deferred split, but only PMD-mappable folios are ever queued (smaller large folios'
//! partial mappings are missed). Sharing is guessed by `folio_estimated_sharers`, the
//! mapcount of page 0, which misses sharing of a PTE-mapped THP whose first page is not
//! shared (seeds 001). A large folio is reused only with a single reference.

use crate::cost::{lines, Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::Kit;
use crate::per_page::each_page;
use crate::pm::PmCounts;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, Folio65, PageMapcount};
use foliolab_types::{FolioTruth, Pfn};

/// Linux 6.3-6.7.
#[derive(Clone, Default)]
pub struct Linux65 {
    kit: Kit<PmCounts>,
}

impl Linux65 {
    pub fn new() -> Linux65 {
        Linux65::default()
    }

    fn add_page(&mut self, f: FolioRef, page: Pfn, ctx: Ctx) -> StatDelta {
        let (stat, changed) = self.kit.folios.get_mut(f).add_ptes(f.index_of(page), 1);
        self.cost_page(f, page, changed, ctx);
        stat
    }

    fn remove_page(&mut self, f: FolioRef, page: Pfn, ctx: Ctx) -> Removed {
        let (mut r, changed) = self.kit.folios.get_mut(f).remove_ptes(f.index_of(page), 1);
        self.cost_page(f, page, changed, ctx);
        r.partially_mapped = r.stat.nr != 0 && f.pmd_mappable();
        r
    }

    /// One atomic on the page's `_mapcount`, one on `_nr_pages_mapped` if it changed state.
    fn cost_page(&mut self, f: FolioRef, page: Pfn, changed: bool, ctx: Ctx) {
        let extra: &[u64] = if changed && f.is_large() { &[1] } else { &[] };
        self.kit.costs.record(
            ctx.cause,
            1 + changed as u64,
            lines(f.index_of(page) as u64, 1, extra),
        );
    }

    /// `folio_total_mapcount`.
    fn total(c: &PmCounts) -> i64 {
        c.e + c.p.iter().sum::<i64>()
    }
}

impl RmapEvents for Linux65 {
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
        if level == Level::Pmd {
            self.kit.costs.record(ctx.cause, 2, 1);
            return self.kit.folios.get_mut(f).add_pmd().0;
        }
        each_page(first, nr, |p| Removed {
            stat: self.add_page(f, p, ctx),
            partially_mapped: false,
        })
        .stat
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        if level == Level::Pmd {
            self.kit.costs.record(ctx.cause, 1, 1);
            return self.kit.folios.get_mut(f).dup_pmd();
        }
        for i in 0..nr {
            self.kit
                .folios
                .get_mut(f)
                .dup_ptes(f.index_of(first.add(i)), 1);
            self.kit.costs.record(ctx.cause, 1, 1);
        }
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        if level == Level::Pmd {
            self.kit.costs.record(ctx.cause, 2, 1);
            let (mut r, _) = self.kit.folios.get_mut(f).remove_pmd();
            r.partially_mapped &= f.pmd_mappable();
            return r;
        }
        each_page(first, nr, |p| self.remove_page(f, p, ctx))
    }
}

impl Queries for Linux65 {
    fn mapcount(&self, f: FolioRef) -> i64 {
        Self::total(&self.kit.folios.get(f))
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.kit.folios.get(f).page_mapcount(f.index_of(page))
    }
    /// `folio_estimated_sharers(folio) > 1`: page 0's mapcount.
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.kit.folios.get(f).page_mapcount(0) > 1
    }
    /// `folio_estimated_sharers(folio) != 1`.
    fn madvise_skips_shared(&self, f: FolioRef) -> bool {
        self.kit.folios.get(f).page_mapcount(0) != 1
    }
    fn can_reuse_large(&self, _f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        refcount == 1
    }
}

impl Reporting for Linux65 {
    fn name(&self) -> &'static str {
        "linux-6.5"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let c = self.kit.folios.get(f);
        let large = f.is_large();
        FolioCounters {
            mapcount: Some(Self::total(&c)),
            entire_mapcount: large.then_some(c.e),
            nr_pages_mapped: large.then_some(c.npm),
            maybe_shared: Some(c.page_mapcount(0) > 1),
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
            folio_bytes: bytes::<Folio65>(),
            page_bytes: bytes::<PageMapcount>(),
            ..Layout::default()
        }
    }
}
