//! `vma-count`: the seeds' proposal (Willy, seeds 003; linux-mm Dec 2021 and Jan 2023): the
//! folio mapcount counts the VMAs (Jan 2023: (VMA, page table) pairs) that map any page of
//! the folio, so a PMD split or a PTE batch does not change it, and no per-page count exists.
//!
//! Rules derived from the text (reasoning in docs/schemes/vma-count.md):
//! - The count rises when a VMA maps its first page of the folio and falls when it unmaps its
//!   last one. Knowing "first" and "last" needs a look at that VMA's page table around the
//!   folio (the proposal's "one call per (vma, page table) tuple"); the scheme keeps a
//!   per-VMA page map standing for that scan and uses it only for the event's VMA
//!   (`ctx.vma`).
//! - A VMA split, merge or move changes which VMA maps which page without any rmap call
//!   ([`RmapEvents::vma_changed`]): a folio that straddles a new boundary is counted once
//!   more, one whose VMAs merge once less. One process mapping a THP through three VMAs (an
//!   mprotect of the middle page) counts 3 and reads "shared".
//! - kpagecount reports the VMA count for every page; bit 56 and "maybe shared" are
//!   `count > 1`; NR_ANON_MAPPED counts whole folios; a PMD-mapping count is kept for
//!   NR_ANON_THPS.
//! - Partial mappings: the scan of the unmapping VMA shows whether it still maps some but not
//!   all pages; other VMAs are not looked at, so a page still mapped elsewhere makes a false
//!   positive (David's "add it to the deferred split queue more frequently", seeds 001).
//! - COW: one VMA maps the folio and the scan finds as many entries as references.

use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta, VmaChange};
use crate::kit::{FolioState, Kit};
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::tracker::MmMaps;
use crate::words::{bytes, FolioVmaCount, PageMapcount};
use foliolab_types::{FolioTruth, Pfn, VmaId};
use std::collections::BTreeMap;

/// One folio's state under vma-count, true values (the kernel words would be
/// [`crate::words::FolioVmaCount`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmaState {
    /// VMAs mapping any page of the folio, 0..=VMAs, unbiased.
    pub count: i64,
    /// PMD mappings, 0..=VMAs, unbiased.
    pub pmd: i64,
    /// Stands for the page tables: what each VMA maps of the folio, consulted only for the
    /// VMA of the current event (a VMA with nothing mapped has no key).
    scan: BTreeMap<VmaId, MmMaps>,
}

impl FolioState for VmaState {
    fn fresh(_f: FolioRef) -> VmaState {
        VmaState {
            count: 0,
            pmd: 0,
            scan: BTreeMap::new(),
        }
    }
    fn leftovers(&self) -> Option<String> {
        (self.count != 0 || self.pmd != 0).then(|| format!("count {} pmd {}", self.count, self.pmd))
    }
}

impl VmaState {
    /// `nr` pages from `idx` (the whole folio for a PMD) gain (`add`) or lose a mapping in
    /// `vma`; keeps `count` equal to the VMAs with an entry.
    ///
    /// # Panics
    /// On a removal of entries `vma` does not hold (unbalanced events: a model bug).
    fn map(&mut self, size: u64, vma: VmaId, idx: usize, nr: u64, level: Level, add: bool) {
        let had = self.scan.contains_key(&vma);
        let m = self.scan.entry(vma).or_insert_with(|| MmMaps {
            pmd: 0,
            pte: vec![0; size as usize],
        });
        let unbalanced = "unbalanced rmap removal from a VMA";
        match (level, add) {
            (Level::Pmd, true) => m.pmd += 1,
            (Level::Pmd, false) => m.pmd = m.pmd.checked_sub(1).expect(unbalanced),
            (Level::Pte, _) => {
                for n in &mut m.pte[idx..idx + nr as usize] {
                    *n = if add {
                        *n + 1
                    } else {
                        n.checked_sub(1).expect(unbalanced)
                    };
                }
            }
        }
        if m.entries() == 0 {
            self.scan.remove(&vma);
        }
        self.count += self.scan.contains_key(&vma) as i64 - had as i64;
    }
}

/// Page-table entries scanned per cacheline (8-byte PTEs).
const PTES_PER_LINE: u64 = 8;

/// Willy's VMA-count design.
#[derive(Clone, Default)]
pub struct VmaCount {
    kit: Kit<VmaState>,
    /// A broken variant (tests only): VMA boundary changes are ignored, so the count goes
    /// wrong when a VMA splits or merges under a mapped folio.
    #[cfg(feature = "test-variants")]
    pub forget_vma_changes: bool,
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
        let (count0, pmd0) = (s.count, s.pmd);
        s.map(n as u64, ctx.vma, idx, nr, level, add);
        if level == Level::Pmd {
            s.pmd += if add { 1 } else { -1 };
        }
        let still = s.scan.get(&ctx.vma).map_or(0, |m| m.pages_mapped());
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
    /// The mappings move from one VMA's scan to the other's: the count changes when the
    /// folio now straddles a boundary (a split) or no longer does (a merge). No statistic
    /// changes. The kernel would rescan the folio at the boundary; that work belongs to the
    /// VMA operation, which the per-cause cost table has no row for, so it is not counted.
    fn vma_changed(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ch: VmaChange) {
        #[cfg(feature = "test-variants")]
        if self.forget_vma_changes {
            return;
        }
        let n = f.nr_pages();
        let idx = f.index_of(first);
        let nr = if level == Level::Pmd { n } else { nr };
        let s = self.kit.folios.get_mut(f);
        s.map(n, ch.from, idx, nr, level, false);
        s.map(n, ch.to, idx, nr, level, true);
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
        let entries = s.scan.get(&ctx.vma).map_or(0, |m| m.entries()) as i64;
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
    /// Exact: the PMD mappings (the VMA count is checked by [`Reporting::check_vmas`]).
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.kit.folios.get(f);
        let mut out = Vec::new();
        if s.pmd != truth.pmd_maps as i64 {
            out.push(format!(
                "PMD count {}, {} PMD mappings",
                s.pmd, truth.pmd_maps
            ));
        }
        out
    }
    fn counts_vmas(&self) -> bool {
        true
    }
    /// Exact: the number of VMAs mapping any page of the folio.
    fn check_vmas(&self, f: FolioRef, nr_vmas: u64) -> Vec<String> {
        let s = self.kit.folios.get(f);
        if s.count == nr_vmas as i64 {
            return Vec::new();
        }
        vec![format!(
            "VMA count {}, {nr_vmas} VMAs map the folio",
            s.count
        )]
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
