//! One mapcount design, as three traits: what the model tells it ([`RmapEvents`]), what the
//! model asks it ([`Queries`]) and what it reports about itself ([`Reporting`]). [`Scheme`]
//! is all three; every type implementing them is a `Scheme`.
//!
//! The model calls the events at exactly the points where Linux 6.18 calls its rmap
//! functions, with the same arguments, and asks the queries where 6.18 decides something.
//! Everything not here (refcounts, AnonExclusive, page tables, the deferred queue itself)
//! stays the model's.

use crate::cost::{Costs, Layout};
use crate::event::{
    Ctx, FolioCounters, FolioRef, Level, Removed, SmallRun, Span, StatDelta, VmaChange,
};
use foliolab_types::{FolioTruth, Pfn, TruthStore};

/// The rmap events, identical for every design.
pub trait RmapEvents {
    /// A new folio comes out of the allocator (`prep_compound_head` / page init).
    fn prep_folio(&mut self, folio: FolioRef);

    /// The folio is about to be freed (or split): every count must be back at its initial
    /// value; the error says which is not (a "bad page"). Resets the design's storage.
    fn free_folio(&mut self, folio: FolioRef) -> Result<(), String>;

    /// [`RmapEvents::free_folio`] of each folio in order (the folios a TLB flush frees
    /// together, `free_unref_folios`); each error is appended to `errors`, in order. By
    /// default one `free_folio` each; a design may override it where one call is cheaper,
    /// with exactly their effect and errors.
    fn free_folios(&mut self, folios: &[FolioRef], errors: &mut Vec<String>) {
        for &f in folios {
            if let Err(e) = self.free_folio(f) {
                errors.push(e);
            }
        }
    }

    /// `folio_add_new_anon_rmap`: the first mapping of a new anon folio, by one PMD for a
    /// PMD-sized folio, by PTEs covering the whole folio otherwise. By default the same as
    /// [`RmapEvents::add`] of the whole folio at that level.
    fn add_new_anon(&mut self, folio: FolioRef, ctx: Ctx) -> StatDelta {
        let level = if folio.pmd_mappable() {
            Level::Pmd
        } else {
            Level::Pte
        };
        self.add(folio, folio.head, folio.nr_pages(), level, ctx)
    }

    /// `folio_add_{anon,file}_rmap_{ptes,pmd}`: `nr` pages from `first` (the whole folio for
    /// a PMD).
    fn add(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta;

    /// `folio_try_dup_anon_rmap_*` / `folio_dup_file_rmap_*` at fork, after the model decided
    /// the dup may proceed; `ctx.mm` is the child's. By default an [`RmapEvents::add`] whose
    /// statistics are dropped (every page is mapped already).
    fn dup(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        let _ = self.add(folio, first, nr, level, ctx);
    }

    /// `folio_remove_rmap_{ptes,pmd}`.
    fn remove(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed;

    /// [`RmapEvents::dup`] of each span in order, all at `level` with one context: fork's
    /// batches of one page table (consecutive entries in one VMA), one call for many small
    /// folios. By default one `dup` per span; a design may override it where one call is
    /// cheaper, with exactly the effect of those `dup`s.
    fn dup_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx) {
        for s in spans {
            self.dup(s.folio, s.first, s.nr, level, ctx);
        }
    }

    /// [`RmapEvents::remove`] of each span in order, all at `level` with one context (zap's
    /// batches of one page table); span `i`'s result goes to `out[i]` (one entry per span,
    /// each [`Removed::default`] on entry). By default one `remove` per span; a design may
    /// override it where one call is cheaper, with exactly the effect and results of those
    /// `remove`s.
    fn remove_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx, out: &mut [Removed]) {
        for (s, r) in spans.iter().zip(out) {
            *r = self.remove(s.folio, s.first, s.nr, level, ctx);
        }
    }

    /// A VMA boundary moved under existing mappings (a split or merge by mprotect, munmap,
    /// madvise; an mremap move): the `nr` pages from `first` (the whole folio for a PMD) that
    /// `change.mm` maps at `level` belong to VMA `change.to` now, no longer to
    /// `change.from`. No page-table entry changed. The model sends it only to a design that
    /// [`Reporting::counts_vmas`]; by default nothing happens.
    fn vma_changed(
        &mut self,
        folio: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        change: VmaChange,
    ) {
        let _ = (folio, first, nr, level, change);
    }
}

/// The questions the model asks where 6.18 decides something or userspace reads a count.
pub trait Queries {
    /// `folio_mapcount`.
    fn mapcount(&self, folio: FolioRef) -> i64;

    /// What /proc/kpagecount reports for `page` (precise or an estimate).
    fn page_mapcount(&self, folio: FolioRef, page: Pfn) -> i64;

    /// pagemap bit 56 and the smaps private/shared split for a page mapped by a PTE: by
    /// default, the page is mapped exactly once.
    fn page_mapped_exclusively(&self, folio: FolioRef, page: Pfn) -> bool {
        self.page_mapcount(folio, page) == 1
    }

    /// `folio_maybe_mapped_shared` (or the era's equivalent).
    fn maybe_mapped_shared(&self, folio: FolioRef) -> bool;

    /// The "mapped shared" test of MADV_PAGEOUT, MADV_COLD and MADV_FREE, which skip folios
    /// other processes may map (6.15+: `folio_maybe_mapped_shared`; before: a mapcount of the
    /// first page other than 1). The swap and reclaim work calls it.
    fn madvise_skips_shared(&self, folio: FolioRef) -> bool {
        self.maybe_mapped_shared(folio)
    }

    /// Whether a write fault may reuse this small anon folio (`wp_can_reuse_anon_folio`):
    /// since 5.8 only when the caller holds the sole reference. `linux-5.7` looks at the
    /// mapcount instead.
    fn can_reuse_small(&self, folio: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let _ = (folio, ctx);
        refcount == 1
    }

    /// Whether a write fault may reuse this large anon folio (`refcount` is the folio's
    /// reference count, swap cache already dropped if it could be).
    fn can_reuse_large(&self, folio: FolioRef, refcount: i64, ctx: Ctx) -> bool;

    /// The pages this folio contributes to NR_ANON_MAPPED / NR_FILE_MAPPED, by this design's
    /// definition, when the page tables say `truth`: the precise mapped pages by default;
    /// the whole folio once any page is mapped for the average-based designs. `None` when
    /// the design's statistic depends on the path that led here, not only on the page
    /// tables (then the conservation invariant cannot be checked for it).
    fn nr_mapped_pages(&self, folio: FolioRef, truth: &FolioTruth) -> Option<u64> {
        let _ = folio;
        Some(truth.pages_mapped())
    }

    /// [`Queries::nr_mapped_pages`] of each folio of `run`, in order, appended to `out`: one
    /// call per run of small folios from the touched check, which asks only a design that
    /// is not [`Queries::small_mapped_pages_precise`]. By default one `nr_mapped_pages` per
    /// folio; a design may override it with a tight loop giving exactly those answers.
    fn small_run_mapped_pages(&self, run: SmallRun<'_>, out: &mut Vec<Option<u64>>) {
        out.extend(run.iter().map(|(f, t)| self.nr_mapped_pages(f, &t)));
    }

    /// Whether [`Queries::nr_mapped_pages`] of every small folio is the precise answer
    /// (`Some(1)` when some entry maps it, else `Some(0)`), whatever the design holds: the
    /// touched check then keeps a run's statistics in its one pass over the run's pages,
    /// without [`Queries::small_run_mapped_pages`]. By default false, which costs only a
    /// second pass.
    fn small_mapped_pages_precise(&self) -> bool {
        false
    }
}

/// What a design reports about itself.
pub trait Reporting {
    /// Name as used on the command line and in the registry (`linux-6.18`).
    fn name(&self) -> &'static str;

    /// Field values for reports.
    fn counters(&self, folio: FolioRef) -> FolioCounters;

    /// Compares the counts this design claims to keep exactly with the truth; one message
    /// per disagreement or broken internal invariant. Read-only.
    fn check(&self, folio: FolioRef, truth: &FolioTruth) -> Vec<String>;

    /// Whether [`Reporting::check`] finds nothing for every folio of `run` (small folios
    /// at consecutive PFNs): one call per run of small folios from the touched check. By
    /// default one `check` per folio; a design may override it with a tight loop over its
    /// words giving exactly that verdict (the messages come from `check`, which the full
    /// check runs when the answer is no).
    fn small_run_ok(&self, run: SmallRun<'_>) -> bool {
        run.iter().all(|(f, t)| self.check(f, &t).is_empty())
    }

    /// Atomic RMWs and cachelines spent so far, by operation kind.
    fn costs(&self) -> Costs {
        Costs::default()
    }

    /// Metadata layout: bytes, overflow limit, speculative-reference hazard.
    fn layout(&self) -> Layout {
        Layout::default()
    }

    /// What the design declares of itself: by default its row of the registry
    /// ([`crate::registry::properties`]).
    fn properties(&self) -> crate::registry::Properties {
        crate::registry::properties(self.name())
    }

    /// Whether the design counts VMAs: then the model tells it of VMA boundary changes
    /// ([`RmapEvents::vma_changed`]) and checks it against the oracle's VMAs per folio
    /// ([`Reporting::check_vmas`]); other designs cost nothing of that.
    fn counts_vmas(&self) -> bool {
        false
    }

    /// Compares the design's VMA count with the truth: `nr_vmas` VMAs map some page of the
    /// folio (the oracle's `vmas_per_folio`). Read-only; only asked when
    /// [`Reporting::counts_vmas`].
    fn check_vmas(&self, folio: FolioRef, nr_vmas: u64) -> Vec<String> {
        let _ = (folio, nr_vmas);
        Vec::new()
    }

    /// Whether the model should run the observation step ([`Reporting::end_statement`])
    /// after each statement. Only shadow fan-outs want it.
    fn wants_observations(&self) -> bool {
        false
    }

    /// The observation step, apart from the read-only [`Reporting::check`]: a statement
    /// ended. `truth` is the oracle's recount of every live folio when the runner took one
    /// (per-statement checks on); without it, a design tallying its answers uses the truth
    /// it keeps from the events.
    fn end_statement(&mut self, truth: Option<&TruthStore>) {
        let _ = truth;
    }
}

/// A mapcount design: it takes the rmap events, answers the queries and reports.
pub trait Scheme: RmapEvents + Queries + Reporting {}

impl<T: RmapEvents + Queries + Reporting + ?Sized> Scheme for T {}
