//! The model's invariants (kernel note section 14), checked against the oracle's recount.
//! Every message names the folio or process and the broken rule.

use crate::model::{Model, RssCounter};
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::{Page, PageFlags, PmdEntry};
use foliolab_schemes::FolioRef;
use foliolab_types::{FolioTruth, Order, TruthStore, PMD_ORDER};

impl Model {
    /// All invariants; `truth` is the oracle's recount of the current page tables.
    pub fn check_invariants(&mut self, truth: &TruthStore) -> Vec<String> {
        let mut out: Vec<String> = std::mem::take(&mut self.problems);
        if let Err(e) = self.mem.check_invariants() {
            out.push(e);
        }
        for (_, p) in self.processes() {
            if let Err(e) = p.aspace.vmas.check_invariants() {
                out.push(e);
            }
        }
        for t in truth.keys() {
            if !self.live.contains(&t) {
                out.push(format!("{t:?} is mapped but not allocated"));
            }
        }
        let mut unmapped: [Option<FolioTruth>; PMD_ORDER.0 as usize + 1] = Default::default();
        for head in self.live.iter() {
            let f = self.folio(head);
            let stored = truth.get(&head);
            let t = match &stored {
                Some(t) => &**t,
                None => unmapped[f.order.0 as usize]
                    .get_or_insert_with(|| FolioTruth::new(f.nr_pages())),
            };
            self.check_folio(f, t, &mut out);
        }
        self.check_stats(truth, &mut out);
        self.check_mappings(&mut out);
        self.check_swap(&mut out);
        out
    }

    pub(crate) fn check_folio(&self, f: FolioRef, t: &FolioTruth, out: &mut Vec<String>) {
        for i in 1..f.nr_pages() {
            if self.mem.page(f.head.add(i)).refcount != 0 {
                out.push(format!("{:?}: tail page {i} has a refcount", f.head));
            }
        }
        self.check_folio_counts(f, t, out);
    }

    /// [`Model::check_folio`] but for its tail pages' refcounts (which the check on
    /// touched state looks at only where a page changed).
    pub(crate) fn check_folio_counts(&self, f: FolioRef, t: &FolioTruth, out: &mut Vec<String>) {
        let refs = self.mem.refcount(f.head) as i64;
        let held = self.held_refs(f);
        let expected = t.total_entries() as i64 + self.extra_refs(f, held.refs);
        if refs != expected {
            out.push(format!(
                "{:?}: refcount {refs}, expected {expected} (mappings plus pins and caches)",
                f.head
            ));
        }
        if refs == 0 {
            out.push(format!("{:?}: live folio with no reference", f.head));
        }
        self.check_pincount(f, held.pins, out);
        self.check_design(f, t, out);
        self.check_exclusive(f, t, out);
        self.check_deferred(f, out);
    }

    /// Whether [`Model::check_folio_counts`] finds nothing wrong with the small folio `f`
    /// whose `struct page` is `page`, answered without building its messages: the touched
    /// check runs this on every order-0 folio a statement touched (and the full check when
    /// it says no).
    pub(crate) fn small_folio_counts_ok(&self, f: FolioRef, page: &Page, t: &FolioTruth) -> bool {
        debug_assert!(!f.is_large());
        self.small_refs_ok(f, page, t.total_entries(), false) && self.design_ok(f, t)
    }

    /// [`Model::small_folio_counts_ok`] but for the design's check (which the touched check
    /// asks a run of small folios at a time): the reference, pin and AnonExclusive rules of
    /// the small folio `f`, whose `struct page` is `page`, mapped by `entries` entries.
    /// `plain`: [`Model::refs_plain`], asked once by the caller.
    #[inline(always)]
    pub(crate) fn small_refs_ok(
        &self,
        f: FolioRef,
        page: &Page,
        entries: u64,
        plain: bool,
    ) -> bool {
        // extra_refs_of when nothing but the swap cache can hold a reference.
        let (extra, pins) = if plain {
            (page.flags.has(PageFlags::SWAPCACHE) as i64, 0)
        } else {
            let held = self.held_refs(f);
            (self.extra_refs_of(f, page.flags, held.refs), held.pins)
        };
        let refs = page.refcount as i64;
        // check_pincount: a small folio has no _pincount, and its pins count as references.
        // check_exclusive: with one page, "mapped more than once" is its total entries.
        // check_deferred: an order-0 folio is never queued nor flagged.
        refs == entries as i64 + extra
            && refs != 0
            && pins == 0
            && !(f.anon && entries > 1 && page.flags.has(PageFlags::ANON_EXCLUSIVE))
    }

    /// No holder, page cache or driver holds a reference on any folio: a small folio's
    /// references other than mappings are then its swap cache's alone.
    pub(crate) fn refs_plain(&self) -> bool {
        self.no_held_refs() && self.cache.holds_none() && self.drivers.owned.is_empty()
    }

    /// Whether [`Model::check_folio_counts`] finds nothing wrong with the large folio `f`
    /// whose `struct page`s are `pages` (the folio's, in order), answered without building
    /// its messages: the touched check runs this on every large folio a statement touched
    /// (and the full check when it says no). Reads the head and page[1] once and the pages'
    /// flags in one pass over the slice, only where a page is mapped more than once.
    pub(crate) fn large_folio_counts_ok(
        &self,
        f: FolioRef,
        pages: &[Page],
        t: &FolioTruth,
    ) -> bool {
        debug_assert!(f.is_large() && pages.len() as u64 == f.nr_pages());
        let (head, page1) = (&pages[0], &pages[1]);
        let refs = head.refcount as i64;
        let held = self.held_refs(f);
        refs == t.total_entries() as i64 + self.extra_refs_of(f, head.flags, held.refs)
            && refs != 0
            && page1.pincount() as i64 == held.pins
            && deferred_ok(f, page1.flags)
            && self.design_ok(f, t)
            && exclusive_ok(f, pages, t)
    }

    /// References other than mappings: pins (one per page of a large folio, the bias of a
    /// small one), pipes' plain references, and the swap cache.
    pub(crate) fn extra_refs(&self, f: FolioRef, pins: i64) -> i64 {
        self.extra_refs_of(f, self.mem.page(f.head).flags, pins)
    }

    /// [`Model::extra_refs`] with the head's flags `head_flags` already read.
    #[inline]
    pub(crate) fn extra_refs_of(&self, f: FolioRef, head_flags: PageFlags, pins: i64) -> i64 {
        let swapcache = if head_flags.has(PageFlags::SWAPCACHE) {
            f.nr_pages() as i64
        } else {
            0
        };
        let cache = if self.cache.holds(f.head) {
            f.nr_pages() as i64
        } else {
            0
        };
        pins + swapcache + cache + self.driver_refs(f)
    }

    /// `_pincount` of a large folio counts the pages its holders pinned (invariant 9).
    pub(crate) fn check_pincount(&self, f: FolioRef, pins: i64, out: &mut Vec<String>) {
        let pincount = if f.is_large() {
            self.mem.page(f.head.add(1)).pincount() as i64
        } else {
            0
        };
        if pincount != pins {
            out.push(format!(
                "{:?}: _pincount {pincount}, holders pinned {pins} pages",
                f.head
            ));
        }
    }

    /// PageAnonExclusive: an exclusive page is mapped at most once and never with a PMD
    /// alongside PTEs (quiescent form of 14.6).
    pub(crate) fn check_exclusive(&self, f: FolioRef, t: &FolioTruth, out: &mut Vec<String>) {
        if !f.anon {
            return;
        }
        if t.pmd_maps > 0 {
            if self.page_anon_exclusive(f.head) && (t.pmd_maps > 1 || t.pages_pte_mapped() > 0) {
                out.push(format!(
                    "{:?}: exclusive head mapped {} times",
                    f.head,
                    t.total_entries()
                ));
            }
            return;
        }
        // No page mapped twice (every PTE-mapped page has one PTE): nothing to look at.
        if t.pte_maps_per_page.sum() == t.pages_pte_mapped() {
            return;
        }
        let pages = self.mem.map.range(f.head, f.nr_pages() as usize);
        if pages.is_some_and(|pages| !exclusive_mapped_twice(pages, &t.pte_maps_per_page)) {
            return;
        }
        for i in 0..f.nr_pages() {
            let n = t.pte_maps_per_page[i as usize];
            if n > 1 && self.page_anon_exclusive(f.head.add(i)) {
                out.push(format!("{:?}: exclusive page {i} mapped {n} times", f.head));
            }
        }
    }

    pub(crate) fn check_deferred(&self, f: FolioRef, out: &mut Vec<String>) {
        if self.is_partially_mapped(f) && !self.is_queued(f) {
            out.push(format!("{:?}: partially mapped but not queued", f.head));
        }
        if self.is_queued(f) && (!f.anon || f.order.0 < 2) {
            out.push(format!(
                "{:?}: queued but not an anon folio of order >= 2",
                f.head
            ));
        }
    }

    /// Statistics conservation (14.8) and RSS per mm.
    fn check_stats(&self, truth: &TruthStore, out: &mut Vec<String>) {
        let mapped: Option<u64> = truth
            .iter()
            .filter(|(h, _)| self.folio(*h).anon)
            .map(|(h, t)| self.design_mapped_pages(self.folio(h), &t))
            .sum();
        // Designs whose statistic depends on the history (before 6.2) are not checked.
        let conserved = self.rmap.properties().anon_mapped_conserved;
        if let Some(mapped) =
            mapped.filter(|&m| conserved && self.stats.vm(VmStat::NrAnonMapped) != m as i64)
        {
            out.push(format!(
                "NR_ANON_MAPPED {}, page tables map {mapped} anon pages",
                self.stats.vm(VmStat::NrAnonMapped)
            ));
        }
        self.check_file_stats(truth, out);
        let thps = truth
            .iter()
            .filter(|(h, t)| t.pmd_maps > 0 && self.folio(*h).anon)
            .count() as i64;
        if self.stats.vm(VmStat::NrAnonTransparentHugepages) != thps {
            out.push(format!(
                "nr_anon_transparent_hugepages {}, {thps} PMD-mapped folios",
                self.stats.vm(VmStat::NrAnonTransparentHugepages)
            ));
        }
        let mut per_order = [0i64; 10];
        let mut flagged = [0i64; 10];
        for h in self.live.iter() {
            let f = self.folio(h);
            if f.anon && f.is_large() {
                per_order[f.order.0 as usize] += 1;
                flagged[f.order.0 as usize] += self.is_partially_mapped(f) as i64;
            }
        }
        for o in 2..=PMD_ORDER.0 {
            let (n, p) = (
                self.stats.mthp(Order(o), MthpStat::NrAnon),
                self.stats.mthp(Order(o), MthpStat::NrAnonPartiallyMapped),
            );
            if n != per_order[o as usize] || p != flagged[o as usize] {
                out.push(format!(
                    "order {o}: nr_anon {n} (live {}), nr_anon_partially_mapped {p} (flagged {})",
                    per_order[o as usize], flagged[o as usize]
                ));
            }
        }
    }

    /// NR_FILE_MAPPED and NR_SHMEM_PMDMAPPED equal what the page tables say of file folios.
    fn check_file_stats(&self, truth: &TruthStore, out: &mut Vec<String>) {
        let mut mapped = 0u64;
        let mut shmem_pmd = 0i64;
        for (h, t) in truth {
            let f = self.folio(h);
            if f.anon {
                continue;
            }
            match self.design_mapped_pages(f, &t) {
                Some(n) => mapped += n,
                None => return,
            }
            if t.pmd_maps > 0 && self.mem.page(f.head).flags.has(PageFlags::SWAPBACKED) {
                shmem_pmd += f.nr_pages() as i64;
            }
        }
        if self.stats.vm(VmStat::NrFileMapped) != mapped as i64 {
            out.push(format!(
                "NR_FILE_MAPPED {}, page tables map {mapped} file pages",
                self.stats.vm(VmStat::NrFileMapped)
            ));
        }
        if self.stats.vm(VmStat::NrShmemPmdmapped) != shmem_pmd {
            out.push(format!(
                "NR_SHMEM_PMDMAPPED {}, {shmem_pmd} pages of PMD-mapped shmem folios",
                self.stats.vm(VmStat::NrShmemPmdmapped)
            ));
        }
    }

    /// Per-mm RSS equals the pages its page tables map; writable anon PTEs map exclusive pages.
    fn check_mappings(&self, out: &mut Vec<String>) {
        for (pid, p) in self.processes() {
            let mut rss = [0i64; 4];
            for (va, e) in p.aspace.pt.iter() {
                match e {
                    PmdEntry::Leaf(l) if !l.is_special() => {
                        let f = self.folio_of_page(l.pfn());
                        rss[self.mm_counter(f) as usize] += PMD_ORDER.nr_pages() as i64;
                        if f.anon && l.writable() && !self.page_anon_exclusive(l.pfn()) {
                            out.push(format!(
                                "{pid:?}: writable PMD at {va:?} maps a non-exclusive folio"
                            ));
                        }
                    }
                    PmdEntry::Table(t) => {
                        for pte in t.ptes.iter().filter(|p| p.is_present() && !p.is_special()) {
                            let f = self.folio_of_page(pte.pfn());
                            rss[self.mm_counter(f) as usize] += 1;
                            if f.anon && pte.writable() && !self.page_anon_exclusive(pte.pfn()) {
                                out.push(format!(
                                    "{pid:?}: writable PTE maps non-exclusive page {:?}",
                                    pte.pfn()
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
            for c in [RssCounter::Anon, RssCounter::File, RssCounter::Shmem] {
                if p.rss[c as usize] != rss[c as usize] {
                    out.push(format!(
                        "{pid:?}: RSS counter {c:?} {}, page tables map {}",
                        p.rss[c as usize], rss[c as usize]
                    ));
                }
            }
        }
    }
}

/// [`Model::check_exclusive`] finds nothing: of the anon folio `f` whose `struct page`s are
/// `pages`, no exclusive head is mapped by a PMD and anything else, no exclusive page is
/// mapped by more than one PTE.
#[inline]
fn exclusive_ok(f: FolioRef, pages: &[Page], t: &FolioTruth) -> bool {
    if !f.anon {
        return true;
    }
    if t.pmd_maps > 0 {
        let exclusive = pages[0].flags.has(PageFlags::ANON_EXCLUSIVE);
        return !(exclusive && (t.pmd_maps > 1 || t.pages_pte_mapped() > 0));
    }
    t.pte_maps_per_page.sum() == t.pages_pte_mapped()
        || !exclusive_mapped_twice(pages, &t.pte_maps_per_page)
}

/// Whether a page of `pages` whose count in `counts` (same length) is above one is
/// AnonExclusive: one branch-free pass over both slices (a 64K folio's 16 flags words).
#[inline]
fn exclusive_mapped_twice(pages: &[Page], counts: &[u64]) -> bool {
    debug_assert_eq!(pages.len(), counts.len());
    pages.iter().zip(counts).fold(false, |any, (p, &n)| {
        any | (n > 1 && p.flags.has(PageFlags::ANON_EXCLUSIVE))
    })
}

/// [`Model::check_deferred`] finds nothing, from the flags of `f`'s page[1].
#[inline]
fn deferred_ok(f: FolioRef, page1_flags: PageFlags) -> bool {
    let large = f.order.0 >= 2;
    let partially = large && page1_flags.has(PageFlags::PARTIALLY_MAPPED);
    let queued = large && page1_flags.has(PageFlags::DEFERRED);
    // Flagged only while queued; queued only if anon.
    (!partially || queued) && (!queued || f.anon)
}
