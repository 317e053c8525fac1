//! `linux-6.1`: the 53f9263baba6 design quoted in the seeds (003), as in era-6.1 `mm/rmap.c`.
//! A PMD mapping raises `compound_mapcount` (first tail page); a PTE mapping raises the page's
//! own `_mapcount`. When a PMD is split while other PMDs still map the folio, `PG_double_map`
//! is set and every page's `_mapcount` gets +1, removed with the last compound mapping, so
//! "the last mapping of a page" can be seen per page. `page_mapcount` = page + compound
//! (- 1 under DoubleMap); `total_mapcount` loops over all pages. rmap calls come per page
//! ([`crate::per_page`]); a page's last PTE unmap queues the whole folio for deferred split.
//! COW: a large folio is reused only with a single reference (`page_count == 1`).
//!
//! `linux-5.7` ([`crate::linux_5_7`]) shares this accounting with the pre-5.8 COW rule.

use crate::cost::{Costs, Layout};
use crate::event::{Cause, Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{first_page_mismatch, FolioState, Kit};
use crate::per_page::each_page;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, Folio61, PageMapcount};
use foliolab_types::{FolioTruth, Pfn};

/// Which COW rule applies on top of the 6.1-era accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CowRule {
    /// 5.8+ : reuse only with the sole reference.
    Since58,
    /// Before 5.8: reuse when every page's mapcount is at most one (`reuse_swap_page`).
    Before58,
}

/// One folio's 6.1-era counts, true values (the kernel words are
/// [`crate::words::PageMapcount`] and [`crate::words::Folio61`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct St61 {
    /// `_mapcount + 1` of each page: PTE mappings, plus one under DoubleMap (0..=MMs + 1).
    pub p: Vec<i64>,
    /// `compound_mapcount + 1`: PMD mappings, 0..=MMs.
    pub compound: i64,
    /// PG_double_map: set when a PMD was split while other PMDs still map the folio, until
    /// the last PMD mapping goes.
    pub double_map: bool,
}

impl St61 {
    pub fn page_mapcount(&self, i: usize) -> i64 {
        self.p[i] + self.compound - self.double_map as i64
    }
    /// `total_mapcount`: a loop over every page.
    pub fn total(&self) -> i64 {
        let dm = if self.double_map {
            self.p.len() as i64
        } else {
            0
        };
        self.compound + self.p.iter().sum::<i64>() - dm
    }
    /// `page_trans_huge_map_swapcount` without swap: the largest page mapcount.
    pub fn max_page_mapcount(&self) -> i64 {
        (0..self.p.len())
            .map(|i| self.page_mapcount(i))
            .max()
            .unwrap_or(0)
    }
    fn set_double_map(&mut self, on: bool) {
        let d = if on { 1 } else { -1 };
        self.p.iter_mut().for_each(|x| *x += d);
        self.double_map = on;
    }
}

impl FolioState for St61 {
    fn fresh(f: FolioRef) -> St61 {
        St61 {
            p: vec![0; f.nr_pages() as usize],
            compound: 0,
            double_map: false,
        }
    }
    fn leftovers(&self) -> Option<String> {
        (self.compound != 0 || self.double_map || self.p.iter().any(|&x| x != 0))
            .then(|| format!("compound {} total {}", self.compound, self.total()))
    }
}

/// 6.1-era accounting (and 5.7's, with [`CowRule::Before58`]).
#[derive(Clone)]
pub struct Era61 {
    cow: CowRule,
    kit: Kit<St61>,
}

impl Era61 {
    pub fn new(cow: CowRule) -> Era61 {
        Era61 {
            cow,
            kit: Kit::default(),
        }
    }

    /// A PTE maps `page`. NR_ANON_MAPPED/NR_FILE_MAPPED count it when its `_mapcount` goes
    /// from -1 to 0; a file THP's PMD mappings are in every subpage's `_mapcount` too
    /// (`page_add_file_rmap`), so a file page mapped by a PMD elsewhere is already counted.
    fn add_page(&mut self, f: FolioRef, page: Pfn, stats: bool, ctx: Ctx) -> StatDelta {
        self.kit.costs.record(ctx.cause, 1, 1);
        let s = self.kit.folios.get_mut(f);
        let i = f.index_of(page);
        s.p[i] += 1;
        let file_pmd = !f.anon && s.compound > 0;
        StatDelta {
            nr: (stats && s.p[i] == 1 && !file_pmd) as i64,
            nr_pmd: 0,
        }
    }

    fn remove_page(&mut self, f: FolioRef, page: Pfn, ctx: Ctx) -> Removed {
        self.kit.costs.record(ctx.cause, 1, 1);
        let s = self.kit.folios.get_mut(f);
        let i = f.index_of(page);
        s.p[i] -= 1;
        let last = s.p[i] == 0 && (f.anon || s.compound == 0);
        Removed {
            stat: StatDelta {
                nr: -(last as i64),
                nr_pmd: 0,
            },
            partially_mapped: last && f.is_large(),
        }
    }

    /// A PMD maps the folio. For a file THP, `page_add_file_rmap(compound)` raised every
    /// subpage's `_mapcount` and counted in NR_FILE_MAPPED only the pages no PTE mapped yet.
    fn add_pmd(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.kit.costs.record(ctx.cause, 1, 1);
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        s.compound += 1;
        if s.compound != 1 {
            return StatDelta::default();
        }
        let nr = if f.anon {
            n
        } else {
            s.p.iter().filter(|&&x| x == 0).count() as i64
        };
        StatDelta { nr, nr_pmd: n }
    }

    /// A PMD goes: through `__split_huge_pmd_locked` (statistics of THPs only) or through
    /// `page_remove_rmap(compound)` (the DoubleMap pages still mapped stay counted).
    fn remove_pmd(&mut self, f: FolioRef, ctx: Ctx) -> Removed {
        self.kit.costs.record(ctx.cause, 1, 1);
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        s.compound -= 1;
        let mut r = Removed::default();
        if s.compound != 0 {
            return r;
        }
        r.stat.nr_pmd = -n;
        if !f.anon {
            // `page_remove_file_rmap(compound)`, also when a split zaps a file PMD: the
            // pages no PTE maps leave NR_FILE_MAPPED.
            r.stat.nr = -(s.p.iter().filter(|&&x| x == 0).count() as i64);
            return r;
        }
        let dm = s.double_map;
        if dm {
            s.set_double_map(false);
            self.kit.costs.record(ctx.cause, n as u64, n as u64);
        }
        if ctx.cause == Cause::PmdSplit {
            return r;
        }
        let s = self.kit.folios.get(f);
        let nr = if dm {
            s.p.iter().filter(|&&x| x == 0).count() as i64
        } else {
            n
        };
        r.stat.nr = -nr;
        r.partially_mapped = nr > 0 && nr < n;
        r
    }

    /// `__split_huge_pmd_locked`: DoubleMap first if other PMDs stay, then the PTEs.
    fn split_ptes(&mut self, f: FolioRef, first: Pfn, nr: u64, ctx: Ctx) -> StatDelta {
        let n = f.nr_pages();
        let s = self.kit.folios.get_mut(f);
        if s.compound > 1 && !s.double_map {
            s.set_double_map(true);
            self.kit.costs.record(ctx.cause, n, n);
        }
        each_page(first, nr, |p| Removed {
            stat: self.add_page(f, p, false, ctx),
            partially_mapped: false,
        })
        .stat
    }

    fn st(&self, f: FolioRef) -> std::borrow::Cow<'_, St61> {
        self.kit.folios.get(f)
    }
}

impl RmapEvents for Era61 {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        if f.pmd_mappable() {
            s.compound = 1;
            self.kit.costs.record(ctx.cause, 0, 1);
            return StatDelta { nr: n, nr_pmd: n };
        }
        s.p.iter_mut().for_each(|x| *x = 1);
        self.kit.costs.record(ctx.cause, 0, n as u64);
        StatDelta { nr: n, nr_pmd: 0 }
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        match level {
            Level::Pmd => self.add_pmd(f, ctx),
            Level::Pte if ctx.cause == Cause::PmdSplit && f.is_large() => {
                self.split_ptes(f, first, nr, ctx)
            }
            Level::Pte => {
                each_page(first, nr, |p| Removed {
                    stat: self.add_page(f, p, true, ctx),
                    partially_mapped: false,
                })
                .stat
            }
        }
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        match level {
            Level::Pmd => {
                self.kit.costs.record(ctx.cause, 1, 1);
                self.kit.folios.get_mut(f).compound += 1;
            }
            Level::Pte => {
                each_page(first, nr, |p| {
                    self.add_page(f, p, false, ctx);
                    Removed::default()
                });
            }
        }
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        match level {
            Level::Pmd => self.remove_pmd(f, ctx),
            Level::Pte => each_page(first, nr, |p| self.remove_page(f, p, ctx)),
        }
    }
}

impl Queries for Era61 {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.st(f).total()
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.st(f).page_mapcount(f.index_of(page))
    }
    /// madvise's `page_mapcount(page) != 1` on the head page.
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.st(f).page_mapcount(0) > 1
    }
    /// `page_mapcount(page) != 1` on the head page.
    fn madvise_skips_shared(&self, f: FolioRef) -> bool {
        self.st(f).page_mapcount(0) != 1
    }
    fn can_reuse_small(&self, f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        match self.cow {
            CowRule::Since58 => refcount == 1,
            CowRule::Before58 => crate::linux_5_7::reuse_small(&self.st(f)),
        }
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        match self.cow {
            CowRule::Since58 => refcount == 1,
            CowRule::Before58 => crate::linux_5_7::reuse_large(&self.st(f)),
        }
    }
}

impl Reporting for Era61 {
    fn name(&self) -> &'static str {
        match self.cow {
            CowRule::Since58 => "linux-6.1",
            CowRule::Before58 => "linux-5.7",
        }
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let s = self.st(f);
        let large = f.is_large();
        FolioCounters {
            mapcount: Some(s.total()),
            entire_mapcount: large.then_some(s.compound),
            maybe_shared: Some(s.page_mapcount(0) > 1),
            ..Default::default()
        }
    }
    /// Exact: compound mapcount, every page's mapcount, the total.
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.st(f);
        let mut out = Vec::new();
        if s.total() != truth.total_entries() as i64 {
            out.push(format!(
                "total_mapcount {}, mapped {} times",
                s.total(),
                truth.total_entries()
            ));
        }
        if s.compound != truth.pmd_maps as i64 {
            out.push(format!(
                "compound_mapcount {}, {} PMD mappings",
                s.compound, truth.pmd_maps
            ));
        }
        // page_mapcount(i) = p[i] + compound − double_map against PTEs[i] + PMDs.
        let offset = s.compound - s.double_map as i64 - truth.pmd_maps as i64;
        if let Some(i) = first_page_mismatch(&s.p, &truth.pte_maps_per_page, |&p| p + offset) {
            out.push(format!(
                "page_mapcount[{i}] {}, mapped {} times",
                s.page_mapcount(i),
                truth.page_mapcount(i)
            ));
        }
        if s.double_map && s.compound == 0 {
            out.push("PG_double_map without a compound mapping".into());
        }
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        Layout {
            folio_bytes: bytes::<Folio61>(),
            page_bytes: bytes::<PageMapcount>(),
            ..Layout::default()
        }
    }
}
