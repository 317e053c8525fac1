//! `vma-count`: the seeds' proposal (Willy, seeds 003; linux-mm Dec 2021 and Jan 2023): the
//! folio mapcount counts the VMAs (Jan 2023: (VMA, page table) pairs) that map any page of
//! the folio, so a PMD split or a PTE batch does not change it, and no per-page count exists.
//!
//! Rules derived from the text (reasoning in docs/schemes/vma-count.md):
//! - The count rises when a VMA maps its first page of the folio and falls when it unmaps its
//!   last one. Knowing "first" and "last" needs a look at that VMA's page table around the
//!   folio (the proposal's "one call per (vma, page table) tuple"); the scheme keeps a
//!   per-MM page map standing for that scan and uses it only for the faulting VMA.
//! - The rmap events carry the MM, not the VMA: a VMA is approximated by its MM (exact while
//!   no MM maps one folio through two VMAs).
//! - kpagecount reports the VMA count for every page; bit 56 and "maybe shared" are
//!   `count > 1`; NR_ANON_MAPPED counts whole folios; a PMD-mapping count is kept for
//!   NR_ANON_THPS.
//! - Partial mappings: the scan of the unmapping VMA shows whether it still maps some but not
//!   all pages; other VMAs are not looked at, so a page still mapped elsewhere makes a false
//!   positive (David's "add it to the deferred split queue more frequently", seeds 001).
//! - COW reuse: one VMA maps the folio and the scan finds as many entries as references.

use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::tracker::Tracked;
use crate::words::{bytes, FolioVmaCount, PageMapcount};
use foliolab_types::{FolioTruth, Pfn};

/// One folio's state under vma-count, true values (the kernel words would be
/// [`crate::words::FolioVmaCount`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaState {
    /// VMAs (approximated by MMs) mapping any page of the folio, 0..=VMAs, unbiased.
    pub count: i64,
    /// PMD mappings, 0..=MMs, unbiased.
    pub pmd: i64,
    /// Stands for the page tables: consulted only for the VMA (MM) of the current event.
    scan: Tracked,
}

impl FolioState for VmaState {
    fn fresh(f: FolioRef) -> VmaState {
        VmaState {
            count: 0,
            pmd: 0,
            scan: Tracked::new(f.nr_pages()),
        }
    }
    fn leftovers(&self) -> Option<String> {
        (self.count != 0 || self.pmd != 0).then(|| format!("count {} pmd {}", self.count, self.pmd))
    }
}

/// Page-table entries scanned per cacheline (8-byte PTEs).
const PTES_PER_LINE: u64 = 8;

/// Willy's VMA-count design.
#[derive(Clone, Default)]
pub struct VmaCount {
    kit: Kit<VmaState>,
}

impl VmaCount {
    pub fn new() -> VmaCount {
        VmaCount::default()
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
        let n = f.nr_pages() as i64;
        let idx = f.index_of(first);
        let nr = if level == Level::Pmd { n as u64 } else { nr };
        let s = self.kit.folios.get_mut(f);
        let had = s.scan.mm(ctx.mm).is_some();
        let (count0, pmd0) = (s.count, s.pmd);
        if add {
            s.scan.add(idx, nr, level, ctx.mm);
        } else {
            s.scan.remove(idx, nr, level, ctx.mm);
        }
        let has = s.scan.mm(ctx.mm);
        s.count += has.is_some() as i64 - had as i64;
        if level == Level::Pmd {
            s.pmd += if add { 1 } else { -1 };
        }
        let still = has.map_or(0, |m| m.pages_mapped());
        let partial = !add && still > 0 && still < n as u64;
        let stat = StatDelta {
            nr: n * ((s.count > 0) as i64 - (count0 > 0) as i64),
            nr_pmd: n * ((s.pmd > 0) as i64 - (pmd0 > 0) as i64),
        };
        let rmw = (s.count != count0) as u64 + (s.pmd != pmd0) as u64;
        // The head's count, plus the folio's range of the VMA's page table (not struct page).
        let scan_lines = if f.is_large() {
            (n as u64).div_ceil(PTES_PER_LINE)
        } else {
            0
        };
        self.kit.costs.record(ctx.cause, rmw, 1 + scan_lines);
        (stat, partial)
    }
}

impl RmapEvents for VmaCount {
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

impl Queries for VmaCount {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).count
    }
    fn page_mapcount(&self, f: FolioRef, _page: Pfn) -> i64 {
        self.kit.folios.get(f).count
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.kit.folios.get(f).count > 1
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let s = self.kit.folios.get(f);
        let entries = s.scan.mm(ctx.mm).map_or(0, |m| m.entries()) as i64;
        s.count == 1 && entries > 1 && entries == refcount
    }
    fn nr_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        Some(crate::avg::whole_folio_mapped_pages(f, truth))
    }
}

impl Reporting for VmaCount {
    fn name(&self) -> &'static str {
        "vma-count"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let s = self.kit.folios.get(f);
        FolioCounters {
            mapcount: Some(s.count),
            entire_mapcount: f.is_large().then_some(s.pmd),
            maybe_shared: Some(s.count > 1),
            ..Default::default()
        }
    }
    /// Exact: the number of MMs (standing for VMAs) and of PMD mappings.
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.kit.folios.get(f);
        let mut out = Vec::new();
        if s.count != truth.nr_mms() as i64 {
            out.push(format!(
                "VMA count {}, {} MMs map the folio",
                s.count,
                truth.nr_mms()
            ));
        }
        if s.pmd != truth.pmd_maps as i64 {
            out.push(format!(
                "PMD count {}, {} PMD mappings",
                s.pmd, truth.pmd_maps
            ));
        }
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        // With one reference per VMA too (seeds 003), a 2 MiB folio takes 2^31 VMAs to
        // overflow.
        Layout {
            small_bytes: bytes::<PageMapcount>(),
            folio_bytes: bytes::<FolioVmaCount>(),
            overflow_counter: "_mapcount (VMAs)",
            overflow_mms_2m: 1u64 << 31,
            ..Layout::default()
        }
    }
}
