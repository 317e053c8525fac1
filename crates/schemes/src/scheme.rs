//! The [`Scheme`] trait: one mapcount design.

use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use foliolab_types::{FolioTruth, Pfn};

/// A mapcount design. The model calls the mutating methods at exactly the points where
/// Linux 6.18 calls the rmap functions, with the same arguments, and asks the queries where
/// 6.18 decides something. Everything not here (refcounts, AnonExclusive, page tables, the
/// deferred queue itself) stays the model's.
pub trait Scheme {
    /// Name as used on the command line (`linux-6.18`).
    fn name(&self) -> &'static str;

    /// A new folio comes out of the allocator (`prep_compound_head` / page init).
    fn prep_folio(&mut self, folio: FolioRef);

    /// The folio is about to be freed (or split): every count must be back at its initial
    /// value; the error says which is not (a "bad page"). Resets the scheme's storage.
    fn free_folio(&mut self, folio: FolioRef) -> Result<(), String>;

    /// `folio_add_new_anon_rmap`: the first mapping of a new anon folio, by one PMD for a
    /// PMD-sized folio, by PTEs covering the whole folio otherwise.
    fn add_new_anon(&mut self, folio: FolioRef, ctx: Ctx) -> StatDelta;

    /// `folio_add_{anon,file}_rmap_{ptes,pmd}`: `nr` pages from `first` (the whole folio for
    /// a PMD).
    fn add(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta;

    /// `folio_try_dup_anon_rmap_*` / `folio_dup_file_rmap_*` at fork, after the model decided
    /// the dup may proceed; `ctx.mm` is the child's.
    fn dup(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx);

    /// `folio_remove_rmap_{ptes,pmd}`.
    fn remove(&mut self, folio: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed;

    /// `folio_mapcount`.
    fn mapcount(&self, folio: FolioRef) -> i64;

    /// What /proc/kpagecount reports for `page` (precise or an estimate).
    fn page_mapcount(&self, folio: FolioRef, page: Pfn) -> i64;

    /// pagemap bit 56 and the smaps private/shared split for a page mapped by a PTE.
    fn page_mapped_exclusively(&self, folio: FolioRef, page: Pfn) -> bool;

    /// `folio_maybe_mapped_shared` (or the era's equivalent).
    fn maybe_mapped_shared(&self, folio: FolioRef) -> bool;

    /// Whether a write fault may reuse this large anon folio (`refcount` is the folio's
    /// reference count, swap cache already dropped if it could be).
    fn can_reuse_large(&self, folio: FolioRef, refcount: i64, ctx: Ctx) -> bool;

    /// Field values for reports.
    fn counters(&self, folio: FolioRef) -> FolioCounters;

    /// Compares the counts this scheme claims to keep exactly with the truth; one message
    /// per disagreement or broken internal invariant.
    fn check(&self, folio: FolioRef, truth: &FolioTruth) -> Vec<String>;

    /// Whether a write fault may reuse this small anon folio (`wp_can_reuse_anon_folio`):
    /// since 5.8 only when the caller holds the sole reference. `linux-5.7` looks at the
    /// mapcount instead.
    fn can_reuse_small(&self, folio: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let _ = (folio, ctx);
        refcount == 1
    }

    /// Whether NR_ANON_MAPPED is a function of the page tables in this design (conserved, so
    /// the model checks it after every statement). Before 6.2 it depends on the history.
    fn anon_mapped_conserved(&self) -> bool {
        true
    }

    /// The pages this folio contributes to NR_ANON_MAPPED / NR_FILE_MAPPED, by this scheme's
    /// definition, when the page tables say `truth`: the precise mapped pages by default;
    /// the whole folio once any page is mapped for the average-based designs. `None` when
    /// the design's statistic depends on the path that led here, not only on the page
    /// tables (then the conservation invariant cannot be checked for it).
    fn nr_mapped_pages(&self, folio: FolioRef, truth: &FolioTruth) -> Option<u64> {
        let _ = folio;
        Some(truth.pages_mapped())
    }

    /// The "mapped shared" test of MADV_PAGEOUT, MADV_COLD and MADV_FREE, which skip folios
    /// other processes may map (6.15+: `folio_maybe_mapped_shared`; before: a mapcount of the
    /// first page other than 1). The swap and reclaim work calls it.
    fn madvise_skips_shared(&self, folio: FolioRef) -> bool {
        self.maybe_mapped_shared(folio)
    }

    /// Whether the model should show this scheme the oracle's truth of every live folio
    /// after each statement ([`Scheme::observe`]). Only shadow fan-outs want it.
    fn wants_observations(&self) -> bool {
        false
    }

    /// The observation step, apart from the read-only [`Scheme::check`]: the truth of one
    /// live folio after a statement, for designs that tally their answers against it.
    fn observe(&mut self, folio: FolioRef, truth: &FolioTruth) {
        let _ = (folio, truth);
    }

    /// Atomic RMWs and cachelines spent so far, by operation kind.
    fn costs(&self) -> Costs {
        Costs::default()
    }

    /// Metadata layout: bytes, overflow limit, speculative-reference hazard.
    fn layout(&self) -> Layout {
        Layout::default()
    }
}
