//! `exact`: what a design with unlimited metadata could know. It keeps, from the rmap events
//! alone, every (MM, page) mapping count of every folio ([`Tracked`]), so each query is
//! answered precisely: the folio mapcount, each page's mapcount, "mapped by more than one
//! MM", the precise mapped pages for NR_ANON_MAPPED, and "partially mapped" exactly when some
//! but not all pages stay mapped. Its `check` claims everything the oracle knows.

use crate::cost::{lines, Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::tracker::Tracked;
use crate::words::{bytes, ExactFolio, ExactPair, PageMapcount};
use foliolab_types::{FolioTruth, Pfn};

impl FolioState for Tracked {
    fn fresh(f: FolioRef) -> Tracked {
        Tracked::new(f.nr_pages())
    }
    fn leftovers(&self) -> Option<String> {
        (!self.is_unmapped()).then(|| format!("{} mappings left", self.total_entries()))
    }
}

/// Exact per-(MM, page) bookkeeping.
#[derive(Clone, Default)]
pub struct Exact {
    kit: Kit<Tracked>,
}

impl Exact {
    pub fn new() -> Exact {
        Exact::default()
    }

    /// The folio's mappings as this scheme knows them.
    pub fn tracked(&self, f: FolioRef) -> Tracked {
        self.kit.folios.get(f).into_owned()
    }

    /// Some but not all pages mapped: what deferred split should catch.
    pub fn is_partial(&self, f: FolioRef) -> bool {
        self.kit.folios.get(f).is_partial()
    }

    fn change(
        &mut self,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        ctx: Ctx,
        add: bool,
    ) -> (StatDelta, bool) {
        let n = f.nr_pages();
        let nr = if level == Level::Pmd { n } else { nr };
        let idx = f.index_of(first);
        let t = self.kit.folios.get_mut(f);
        let (before, pmd_before) = (t.pages_mapped() as i64, t.pmd() > 0);
        if add {
            t.add(idx, nr, level, ctx.mm);
        } else {
            t.remove(idx, nr, level, ctx.mm);
        }
        let after = t.pages_mapped() as i64;
        let pmd_delta = (t.pmd() > 0) as i64 - pmd_before as i64;
        let partial = after < before && t.is_partial();
        // One counter per (MM, page) pair and one folio total; 16 pairs per cacheline.
        let touched = if level == Level::Pmd { 1 } else { nr };
        self.kit
            .record(ctx.cause, touched + 1, lines(0, touched.div_ceil(16), &[0]));
        let stat = StatDelta {
            nr: after - before,
            nr_pmd: pmd_delta * n as i64,
        };
        (stat, partial)
    }
}

impl RmapEvents for Exact {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.change(f, first, nr, level, ctx, true).0
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        let (stat, partially_mapped) = self.change(f, first, nr, level, ctx, false);
        Removed {
            stat,
            partially_mapped,
        }
    }
}

impl Queries for Exact {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).total_entries() as i64
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.kit.folios.get(f).page_mapcount(f.index_of(page)) as i64
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.kit.folios.get(f).truth.is_mapped_shared()
    }
    /// Reuse exactly when the faulting MM is the only mapper and holds every reference; like
    /// 6.18 it still copies a folio mapped by a single entry (the large folio can then go).
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let t = self.kit.folios.get(f);
        let l = t.total_entries() as i64;
        l > 1 && t.sole_mm() == Some(ctx.mm) && l == refcount
    }
}

impl Reporting for Exact {
    fn name(&self) -> &'static str {
        "exact"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let t = self.kit.folios.get(f);
        let large = f.is_large();
        FolioCounters {
            mapcount: Some(t.total_entries() as i64),
            large_mapcount: large.then_some(t.total_entries() as i64),
            entire_mapcount: large.then_some(t.pmd() as i64),
            nr_pages_mapped: large.then_some(t.pages_pte_mapped() as i64),
            maybe_shared: Some(self.maybe_mapped_shared(f)),
            ..Default::default()
        }
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let mine = self.kit.folios.get(f).to_truth();
        if &mine == truth {
            return Vec::new();
        }
        vec![format!(
            "exact bookkeeping {mine:?}, page tables say {truth:?}"
        )]
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        Layout {
            small_bytes: bytes::<PageMapcount>(),
            folio_bytes: bytes::<ExactFolio>(),
            page_bytes: 0,
            mm_page_bytes: bytes::<ExactPair>(),
            overflow_counter: "_refcount",
            ..Layout::default()
        }
    }
}
