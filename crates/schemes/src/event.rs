//! The rmap event contract: what every scheme is told, identically, about each mapping
//! change, and the decisions and answers it gives back.

use foliolab_types::{FolioTruth, MmId, Order, Pfn, VmaId, PMD_ORDER};

/// Page-table level of a mapping change (`enum pgtable_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Pte,
    Pmd,
}

/// Why a mapping changes; schemes from before batching, and cost reports, look at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A fault mapped a new or existing folio.
    Fault,
    /// fork() duplicated the parent's mapping into the child.
    Fork,
    /// munmap, MADV_DONTNEED or exit removed the mapping.
    Zap,
    /// A write fault replaced the mapping with a private copy.
    Cow,
    /// A PMD mapping was remapped as PTEs.
    PmdSplit,
    /// A folio split unmapped or remapped the pages.
    FolioSplit,
    /// Migration replaced the mappings by migration entries, or restored them.
    Migrate,
}

/// The folio an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolioRef {
    pub head: Pfn,
    pub order: Order,
    pub anon: bool,
}

impl FolioRef {
    #[inline]
    pub fn nr_pages(self) -> u64 {
        self.order.nr_pages()
    }
    #[inline]
    pub fn is_large(self) -> bool {
        self.order.0 > 0
    }
    #[inline]
    pub fn pmd_mappable(self) -> bool {
        self.order >= PMD_ORDER
    }
    /// Index of `page` inside the folio.
    pub fn index_of(self, page: Pfn) -> usize {
        debug_assert!(page >= self.head && page.0 < self.head.0 + self.nr_pages());
        page.offset_from(self.head) as usize
    }
}

/// How many of `items` from the first are small folios (`folio` of each) at consecutive
/// PFNs within one 2 MiB block (0 when the first is large): a run whose per-page words lie
/// side by side, in one section of any PFN-indexed array.
#[inline]
pub fn small_run<T>(items: &[T], folio: impl Fn(&T) -> FolioRef) -> usize {
    let Some(first) = items.first().map(|x| folio(x).head) else {
        return 0;
    };
    items
        .iter()
        .enumerate()
        .take_while(|(k, x)| {
            let g = folio(x);
            !g.is_large() && g.head.0 == first.0 + *k as u64 && (g.head.0 ^ first.0) >> 9 == 0
        })
        .count()
}

/// One folio's part of a batched rmap call ([`crate::RmapEvents::dup_batch`],
/// [`crate::RmapEvents::remove_batch`]): `nr` pages of `folio` from `first` (the whole folio
/// for a PMD), as one per-folio call would name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub folio: FolioRef,
    pub first: Pfn,
    pub nr: u64,
}

/// One small (order-0) folio of a [`SmallRun`]: whether it is anon, the oracle's truth of
/// it (an unmapped folio's when no page table maps it) and the entries mapping it (the
/// truth's `total_entries`, read once by the caller).
#[derive(Clone, Copy, Debug)]
pub struct SmallFolio<'a> {
    pub anon: bool,
    pub entries: u64,
    pub truth: &'a FolioTruth,
}

/// Small folios at consecutive PFNs from `first` (folio `i`'s head is `first + i`), never
/// crossing a PMD-order boundary: what the touched check hands a design in one call
/// ([`crate::Reporting::small_run_ok`], [`crate::Queries::small_run_mapped_pages`]).
#[derive(Clone, Copy, Debug)]
pub struct SmallRun<'a> {
    pub first: Pfn,
    pub folios: &'a [SmallFolio<'a>],
}

impl<'a> SmallRun<'a> {
    /// Each folio of the run with its [`FolioRef`], in PFN order.
    #[inline]
    pub fn iter(self) -> impl Iterator<Item = (FolioRef, &'a SmallFolio<'a>)> {
        let first = self.first;
        self.folios.iter().enumerate().map(move |(i, s)| {
            let f = FolioRef {
                head: first.add(i as u64),
                order: Order(0),
                anon: s.anon,
            };
            (f, s)
        })
    }
}

/// Who maps: the VMA the mapping belongs to, its MM (`vma->vm_mm->mm_id`), and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    pub mm: MmId,
    pub vma: VmaId,
    pub cause: Cause,
}

/// Mappings of `mm` that changed VMA without changing (a VMA split, merge or move): they
/// belonged to `from` and belong to `to` now ([`crate::RmapEvents::vma_changed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaChange {
    pub mm: MmId,
    pub from: VmaId,
    pub to: VmaId,
}

/// Changes to NR_ANON_MAPPED/NR_FILE_MAPPED (`nr`, pages) and the PMD-mapped counters
/// (`nr_pmd`, pages) that one event causes (`__folio_mod_stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatDelta {
    pub nr: i64,
    pub nr_pmd: i64,
}

/// Result of removing mappings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub stat: StatDelta,
    /// The scheme considers the folio partially mapped now (queue it for deferred split).
    pub partially_mapped: bool,
}

/// The folio-level state a scheme reports for `expect folio` and `observe`. `None`: the
/// scheme has no such field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolioCounters {
    pub mapcount: Option<i64>,
    pub large_mapcount: Option<i64>,
    pub entire_mapcount: Option<i64>,
    pub nr_pages_mapped: Option<i64>,
    /// `Some(None)`: free slot; `Some(Some((mm, count)))`: occupied.
    pub slot0: Option<Option<(MmId, i64)>>,
    pub slot1: Option<Option<(MmId, i64)>>,
    pub maybe_shared: Option<bool>,
}
