//! One wrong answer of a shadow design, named by the statement it came from and the folio it
//! was about, for `foliolab compare --explain`.

use foliolab_types::{Order, Pfn};

/// Where a wrong answer was given: the question the kernel asks there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Site {
    /// A write fault's reuse decision (`wp_can_reuse_anon_folio`, `do_huge_pmd_wp_page`).
    Cow,
    /// The madvise "mapped shared" skip (MADV_COLD, MADV_PAGEOUT, MADV_FREE).
    Madvise,
    /// pagemap bit 56 (PM_MMAP_EXCLUSIVE) and the smaps private/shared split.
    Pagemap,
    /// `folio_maybe_mapped_shared` as read between statements.
    MaybeShared,
    /// `folio_mapcount`.
    Mapcount,
    /// /proc/kpagecount (the per-page mapcount smaps' PSS divides by).
    Kpagecount,
    /// NR_ANON_MAPPED / NR_FILE_MAPPED / the PMD-mapped counters, or the PSS.
    Stats,
    /// "Partially mapped" at a removal (deferred split).
    DeferredSplit,
}

impl Site {
    pub fn name(self) -> &'static str {
        match self {
            Site::Cow => "cow",
            Site::Madvise => "madvise",
            Site::Pagemap => "pagemap",
            Site::MaybeShared => "maybe-shared",
            Site::Mapcount => "mapcount",
            Site::Kpagecount => "kpagecount",
            Site::Stats => "stats",
            Site::DeferredSplit => "deferred-split",
        }
    }
}

/// One wrong answer. For what userspace reads between statements it is recorded when the
/// answer turns wrong (not again while it stays wrong); decisions, at each decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrong {
    /// The statement's position in the run (0 = the first statement performed).
    pub stmt: u64,
    pub site: Site,
    pub head: Pfn,
    pub order: Order,
    /// What the design answered and what is true.
    pub detail: String,
}
