//! The one door between the model and the mapcount design: every call of a [`Scheme`] is in
//! this file (the scheme sits in [`Rmap`], whose field only this module can reach).
//!
//! - lifecycle: a folio's words are prepared at allocation and checked at free or split;
//! - events: `folio_add_new_anon_rmap`, `folio_add_{anon,file}_rmap_*`, the fork dup and
//!   `folio_remove_rmap_*`, each with its statistics (`__folio_mod_stat`), and the removal's
//!   deferred-split queueing;
//! - the context an event carries (the VMA at the mapping's address, its mm, the cause) and
//!   `mm_counter`; VMA boundary changes for a design that counts VMAs (`vma_bounds.rs`
//!   finds the mappings);
//! - queries: folio mapcount, kpagecount, bit 56, "maybe mapped shared", the madvise skip;
//! - the COW reuse decision, one for write faults and FAULT_FLAG_UNSHARE, PTE and PMD;
//! - reporting: the scheme's counters, its own checks against the oracle's truth, and the
//!   explicit observation step that lets shadow schemes tally their answers.

use crate::era::CowReuse;
use crate::model::{Model, Pid, RssCounter};
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::PageFlags;
use foliolab_schemes::{
    Cause, Ctx, FolioCounters, FolioRef, Level, Properties, Removed, Scheme, SmallRun, Span,
    VmaChange,
};
use foliolab_types::{FolioTruth, Pfn, VirtAddr, VmaId, PMD_ORDER};
use std::collections::{BTreeMap, BTreeSet};

/// The design the model drives. Its scheme is private to this module.
pub struct Rmap {
    scheme: Box<dyn Scheme>,
    /// The design counts VMAs ([`foliolab_schemes::Reporting::counts_vmas`], asked once).
    counts_vmas: bool,
}

/// Where a mapping is: the process and an address inside the mapping (its VMA is the one
/// there; the rmap calls of the kernel take the VMA and the address too).
#[derive(Clone, Copy, Debug)]
pub(crate) struct At(pub Pid, pub VirtAddr);

impl Rmap {
    pub(crate) fn new(scheme: Box<dyn Scheme>) -> Rmap {
        let counts_vmas = scheme.counts_vmas();
        Rmap {
            scheme,
            counts_vmas,
        }
    }
    /// The design's name (`linux-6.18`).
    pub fn name(&self) -> &'static str {
        self.scheme.name()
    }
    /// What the design declares of itself (its registry row).
    pub fn properties(&self) -> Properties {
        self.scheme.properties()
    }
}

impl Model {
    /// Who maps and why: the VMA at the address, the mm of the process, and the cause. An
    /// address outside every VMA (a model bug) gives [`VmaId::NONE`], which the VMA check
    /// of a design that counts VMAs reports.
    fn rmap_ctx(&self, at: At, cause: Cause) -> Ctx {
        let space = &self.proc(at.0).aspace;
        let vma = space.vmas.find(at.1).map_or(VmaId::NONE, |v| v.id);
        debug_assert!(vma != VmaId::NONE, "rmap event outside any VMA: {at:?}");
        Ctx {
            mm: space.id,
            vma,
            cause,
        }
    }

    // ---- lifecycle ----

    /// A folio comes out of the allocator (or out of a split): fresh mapcount words.
    pub(crate) fn rmap_prep_folio(&mut self, f: FolioRef) {
        self.rmap.scheme.prep_folio(f);
    }

    /// A folio is freed (or split): every count must be back at its initial value; a "bad
    /// page" is reported by the next check.
    pub(crate) fn rmap_free_folio(&mut self, f: FolioRef) {
        self.revmap.forget(f.head, f.nr_pages());
        if let Err(e) = self.rmap.scheme.free_folio(f) {
            self.problems.push(e);
        }
    }

    /// [`Model::rmap_free_folio`] of each folio, in order, in one call.
    pub(crate) fn rmap_free_folios(&mut self, folios: &[FolioRef]) {
        self.revmap.forget_folios(folios);
        self.rmap.scheme.free_folios(folios, &mut self.problems);
    }

    // ---- events ----

    /// `folio_add_new_anon_rmap` with RMAP_EXCLUSIVE: marks a fresh folio anonymous and maps
    /// it for the first time (a PMD for a PMD-sized folio, PTEs over the whole folio
    /// otherwise).
    pub(crate) fn rmap_add_new_anon(
        &mut self,
        f: FolioRef,
        at: At,
        anon_vma: u32,
        cause: Cause,
    ) -> FolioRef {
        let f = FolioRef { anon: true, ..f };
        {
            let h = self.mem.page_mut(f.head);
            h.flags.set(
                PageFlags::ANON | PageFlags::SWAPBACKED | PageFlags::LRU | PageFlags::UPTODATE,
                true,
            );
            h.set_anon_vma(anon_vma);
        }
        let ae_pages = if f.pmd_mappable() { 1 } else { f.nr_pages() };
        for i in 0..ae_pages {
            self.mem
                .page_mut(f.head.add(i))
                .flags
                .set(PageFlags::ANON_EXCLUSIVE, true);
        }
        self.revmap_added(f, at, f.nr_pages());
        let ctx = self.rmap_ctx(at, cause);
        let stat = self.rmap.scheme.add_new_anon(f, ctx);
        self.apply_stat(f, stat);
        if f.is_large() {
            self.stats.count_mthp(f.order, MthpStat::NrAnon, 1);
        }
        f
    }

    /// `folio_add_{anon,file}_rmap_{ptes,pmd}`: `nr` pages from `first` (the whole folio for
    /// a PMD) gain a mapping at `at`.
    pub(crate) fn rmap_add(
        &mut self,
        at: At,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        cause: Cause,
    ) {
        self.revmap_added(
            f,
            at,
            if level == Level::Pmd {
                f.nr_pages()
            } else {
                nr
            },
        );
        let ctx = self.rmap_ctx(at, cause);
        let stat = self.rmap.scheme.add(f, first, nr, level, ctx);
        self.apply_stat(f, stat);
    }

    /// `folio_try_dup_anon_rmap_*` / `folio_dup_file_rmap_*` at fork, once the model decided
    /// the dup may proceed: the child's mappings (no statistics change).
    pub(crate) fn rmap_dup(&mut self, child: At, f: FolioRef, first: Pfn, nr: u64, level: Level) {
        let ctx = self.rmap_ctx(child, Cause::Fork);
        self.rmap.scheme.dup(f, first, nr, level, ctx);
    }

    /// [`Model::rmap_dup`] of each span, in order: the batches of one page table in one VMA
    /// (fork), one context and one call to the design.
    pub(crate) fn rmap_dup_batch(&mut self, child: At, spans: &[Span], level: Level) {
        if spans.is_empty() {
            return;
        }
        let ctx = self.rmap_ctx(child, Cause::Fork);
        self.rmap.scheme.dup_batch(spans, level, ctx);
    }

    /// [`Model::rmap_remove`] of each span, in order: the batches of one page table in one
    /// VMA (zap), one context and one call to the design, then each span's statistics and
    /// deferred-split queueing in order (nothing the design sees depends on those). `removed`
    /// is scratch space.
    pub(crate) fn rmap_remove_batch(
        &mut self,
        at: At,
        spans: &[Span],
        level: Level,
        cause: Cause,
        removed: &mut Vec<Removed>,
    ) {
        if spans.is_empty() {
            return;
        }
        let ctx = self.rmap_ctx(at, cause);
        removed.clear();
        removed.resize(spans.len(), Removed::default());
        self.rmap.scheme.remove_batch(spans, level, ctx, removed);
        // Anon statistics summed over the batch (`apply_stat` of each, added up).
        let (mut anon_pages, mut anon_thps) = (0, 0);
        for (s, r) in spans.iter().zip(removed.iter()) {
            let f = s.folio;
            if f.anon {
                anon_pages += r.stat.nr;
                if r.stat.nr_pmd != 0 {
                    anon_thps += r.stat.nr_pmd / PMD_ORDER.nr_pages() as i64;
                }
            } else {
                self.apply_stat(f, r.stat);
            }
            if r.partially_mapped && f.anon && !self.is_partially_mapped(f) {
                self.deferred_split_folio(f, true);
            }
        }
        self.stats.count_vm(VmStat::NrAnonMapped, anon_pages);
        self.stats
            .count_vm(VmStat::NrAnonTransparentHugepages, anon_thps);
    }

    /// `folio_remove_rmap_{ptes,pmd}` plus its statistics and deferred-split queueing.
    pub(crate) fn rmap_remove(
        &mut self,
        at: At,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        cause: Cause,
    ) {
        let ctx = self.rmap_ctx(at, cause);
        let r = self.rmap.scheme.remove(f, first, nr, level, ctx);
        self.apply_stat(f, r.stat);
        if r.partially_mapped && f.anon && !self.is_partially_mapped(f) {
            self.deferred_split_folio(f, true);
        }
    }

    /// Mappings of `pid` moved from VMA `vmas.0` to `vmas.1` without changing (a VMA split,
    /// merge or move), for a design that counts VMAs.
    pub(crate) fn rmap_vma_changed(
        &mut self,
        pid: Pid,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        vmas: (VmaId, VmaId),
    ) {
        let change = VmaChange {
            mm: self.mm_id(pid),
            from: vmas.0,
            to: vmas.1,
        };
        self.rmap.scheme.vma_changed(f, first, nr, level, change);
        // No page changed, but the design's answers about the folio did: checks that look
        // only at what a statement touched must look at it again.
        self.mem.touched.page(f.head);
    }

    /// Whether the design counts VMAs (then VMA boundary changes are sent to it).
    pub fn design_counts_vmas(&self) -> bool {
        self.rmap.counts_vmas
    }

    /// An rmap call's statistics (`__folio_mod_stat`).
    fn apply_stat(&mut self, f: FolioRef, stat: foliolab_schemes::StatDelta) {
        if f.anon {
            self.stats.count_vm(VmStat::NrAnonMapped, stat.nr);
            self.stats.count_vm(
                VmStat::NrAnonTransparentHugepages,
                stat.nr_pmd / PMD_ORDER.nr_pages() as i64,
            );
        } else {
            self.stats.count_vm(VmStat::NrFileMapped, stat.nr);
            if self.mem.page(f.head).flags.has(PageFlags::SWAPBACKED) {
                self.stats.count_vm(VmStat::NrShmemPmdmapped, stat.nr_pmd);
            }
        }
    }

    /// `mm_counter`: which RSS counter a folio's mappings count in.
    pub(crate) fn mm_counter(&self, f: FolioRef) -> RssCounter {
        if f.anon {
            RssCounter::Anon
        } else if self.mem.page(f.head).flags.has(PageFlags::SWAPBACKED) {
            RssCounter::Shmem
        } else {
            RssCounter::File
        }
    }

    // ---- queries ----

    /// `folio_mapcount` as the design keeps it.
    pub fn folio_mapcount(&self, f: FolioRef) -> i64 {
        self.rmap.scheme.mapcount(f)
    }

    /// `folio_mapped`.
    pub(crate) fn folio_mapped(&self, f: FolioRef) -> bool {
        self.folio_mapcount(f) > 0
    }

    /// `folio_maybe_mapped_shared` (or the design's equivalent).
    pub fn folio_maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.rmap.scheme.maybe_mapped_shared(f)
    }

    /// The "mapped shared" test of MADV_COLD, MADV_PAGEOUT and MADV_FREE.
    pub(crate) fn madvise_skips_shared(&self, f: FolioRef) -> bool {
        self.rmap.scheme.madvise_skips_shared(f)
    }

    /// What /proc/kpagecount reports for `page` of `f`.
    pub fn kpagecount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.rmap.scheme.page_mapcount(f, page)
    }

    /// pagemap bit 56 and the smaps private/shared split for `page` of `f`.
    pub(crate) fn page_mapped_exclusively(&self, f: FolioRef, page: Pfn) -> bool {
        self.rmap.scheme.page_mapped_exclusively(f, page)
    }

    /// The design's folio fields for reports (`expect folio`, `observe`).
    pub fn folio_counters(&self, f: FolioRef) -> FolioCounters {
        self.rmap.scheme.counters(f)
    }

    // ---- the COW reuse decision ----

    /// The reuse branch of `do_wp_page`, shared by write faults and FAULT_FLAG_UNSHARE: an
    /// anon page that is AnonExclusive, or whose folio `wp_can_reuse_anon_folio` (freeing
    /// the swap cache first) lets this mapping take over, becomes AnonExclusive and the
    /// folio moves to this VMA's anon_vma (`folio_move_anon_rmap`, small folios). The
    /// caller then makes the PTE writable (write) or leaves it read-only (unshare).
    pub(crate) fn wp_can_reuse_anon(&mut self, pid: Pid, va: VirtAddr, page: Pfn) -> bool {
        let f = self.folio_of_page(page);
        if !f.anon {
            return false;
        }
        // Era: without PageAnonExclusive (5.10) every write fault asks `page_count`, and the
        // swap cache is not dropped first (a page it holds is copied).
        if !self.era.anon_exclusive || !self.page_anon_exclusive(page) {
            if self.era.anon_exclusive {
                self.reuse_frees_swap(f);
            }
            if !self.design_allows_reuse(At(pid, va), f) {
                return false;
            }
        }
        self.mem
            .page_mut(page)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, true);
        let anon_vma = self.anon_vma_prepare(pid, va);
        if !f.is_large() {
            self.mem.page_mut(f.head).set_anon_vma(anon_vma);
        }
        true
    }

    /// The swap-cache step of `wp_can_reuse_anon_folio`: a small folio referenced only by
    /// this mapping and the swap cache leaves the cache if no swap PTE needs it.
    fn reuse_frees_swap(&mut self, f: FolioRef) {
        let flags = self.mem.page(f.head).flags;
        if !f.is_large() && flags.has(PageFlags::SWAPCACHE) && self.mem.refcount(f.head) <= 2 {
            self.folio_free_swap(f);
        }
    }

    /// `wp_can_reuse_anon_folio` (small) and `__wp_can_reuse_large_anon_folio` (large),
    /// asked of the design, with the reference count as it stands.
    fn design_allows_reuse(&self, at: At, f: FolioRef) -> bool {
        let refcount = self.mem.refcount(f.head) as i64;
        if self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            return false;
        }
        let ctx = self.rmap_ctx(at, Cause::Cow);
        if !f.is_large() {
            return self.rmap.scheme.can_reuse_small(f, refcount, ctx);
        }
        // Era: whether a large folio may be reused at all.
        match self.era.cow_reuse {
            CowReuse::SmallOnly => false,
            CowReuse::SmallAndLarge => self.rmap.scheme.can_reuse_large(f, refcount, ctx),
        }
    }

    /// The reuse branch of `do_huge_pmd_wp_page`, shared by write faults and
    /// FAULT_FLAG_UNSHARE: the head is AnonExclusive, or the mapping holds the only
    /// reference (a PMD-mapped folio never sits in the model's swap cache); the head becomes
    /// AnonExclusive.
    /// Era: without PageAnonExclusive (5.10), `reuse_swap_page`: the mapping is the folio's
    /// only one (the reference count is not asked).
    pub(crate) fn wp_can_reuse_pmd(&mut self, f: FolioRef) -> bool {
        let cached = self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE);
        let reuse = if self.era.anon_exclusive {
            let sole = self.mem.refcount(f.head) == 1 && !cached;
            self.page_anon_exclusive(f.head) || sole
        } else {
            !cached && self.folio_mapcount(f) == 1
        };
        if !reuse {
            return false;
        }
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, true);
        true
    }

    // ---- reporting and checks ----

    /// The design's own checks of the counts it claims to keep exactly, one message each.
    pub(crate) fn check_design(&self, f: FolioRef, truth: &FolioTruth, out: &mut Vec<String>) {
        for m in self.rmap.scheme.check(f, truth) {
            out.push(format!("{:?} ({}): {m}", f.head, self.rmap.scheme.name()));
        }
    }

    /// Whether [`Model::check_design`] finds nothing.
    #[inline]
    pub(crate) fn design_ok(&self, f: FolioRef, truth: &FolioTruth) -> bool {
        self.rmap.scheme.check(f, truth).is_empty()
    }

    /// Whether [`Model::design_ok`] holds for every folio of `run`: one call per run of
    /// small folios.
    #[inline]
    pub(crate) fn design_small_run_ok(&self, run: SmallRun<'_>) -> bool {
        self.rmap.scheme.small_run_ok(run)
    }

    /// [`Model::design_mapped_pages`] of each folio of `run`, appended to `out`: one call per
    /// run of small folios.
    #[inline]
    pub(crate) fn design_small_run_mapped_pages(
        &self,
        run: SmallRun<'_>,
        out: &mut Vec<Option<u64>>,
    ) {
        self.rmap.scheme.small_run_mapped_pages(run, out)
    }

    /// Whether the design's mapped pages of every small folio are the precise ones, so
    /// that [`Model::design_small_run_mapped_pages`] need not be asked.
    #[inline]
    pub(crate) fn design_small_mapped_pages_precise(&self) -> bool {
        self.rmap.scheme.small_mapped_pages_precise()
    }

    /// The design's VMA count of every live folio against the oracle's (`vmas`: the VMAs
    /// mapping each folio, `foliolab_oracle::vmas_per_folio`), one message per disagreement;
    /// nothing for a design that does not count VMAs.
    pub fn check_design_vmas(&self, vmas: &BTreeMap<Pfn, BTreeSet<VmaId>>) -> Vec<String> {
        if !self.rmap.counts_vmas {
            return Vec::new();
        }
        let mut out = Vec::new();
        for head in self.live.iter() {
            let f = self.folio(head);
            let nr = vmas.get(&head).map_or(0, |s| s.len()) as u64;
            for m in self.rmap.scheme.check_vmas(f, nr) {
                out.push(format!("{:?} ({}): {m}", f.head, self.rmap.scheme.name()));
            }
        }
        out
    }

    /// [`Model::check_design_vmas`] on the live folios among `heads` (sorted) only, each
    /// against the VMAs the rmap walk finds mapping it ([`Model::nr_vmas_mapping`]).
    pub fn check_design_vmas_of(&self, heads: &[Pfn]) -> Vec<String> {
        let mut out = Vec::new();
        for &head in heads
            .iter()
            .filter(|&&h| self.rmap.counts_vmas && self.live.contains(&h))
        {
            let f = self.folio(head);
            for m in self.rmap.scheme.check_vmas(f, self.nr_vmas_mapping(f)) {
                out.push(format!("{:?} ({}): {m}", f.head, self.rmap.scheme.name()));
            }
        }
        out
    }

    /// The pages `f` contributes to NR_ANON_MAPPED / NR_FILE_MAPPED by the design's
    /// definition (`None`: it depends on the history).
    pub(crate) fn design_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        self.rmap.scheme.nr_mapped_pages(f, truth)
    }

    /// The explicit observation step after a statement, apart from the read-only checks:
    /// shadow designs tally their answers (a no-op for plain designs). `truth` is the
    /// oracle's recount when the runner took one.
    pub fn observe_designs(&mut self, truth: Option<&foliolab_types::TruthStore>) {
        if self.rmap.scheme.wants_observations() {
            self.rmap.scheme.end_statement(truth);
        }
    }

    /// Whether the design wants the observation step after each statement.
    pub fn design_wants_observations(&self) -> bool {
        self.rmap.scheme.wants_observations()
    }
}
