//! The rmap event contract: what every scheme is told, identically, about each mapping
//! change, and the decisions and answers it gives back.

use foliolab_types::{FolioTruth, MmId, Order, Pfn, TruthStore, VmaId, PMD_ORDER};
use std::borrow::Cow;

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

/// Small (order-0) folios at consecutive PFNs from `first` (folio `i`'s head is
/// `first + i`), never crossing a PMD-order boundary: what the touched check hands a
/// design in one call ([`crate::Reporting::small_run_ok`],
/// [`crate::Queries::small_run_mapped_pages`]). Per folio, in slices of one length:
/// whether it is anon and the entries mapping it (its truth's `total_entries`, 0 when no
/// page table maps it); its truth itself is looked up on demand ([`SmallRun::truth`]), so
/// that a design whose check needs only the entries reads no truth.
#[derive(Clone, Copy, Debug)]
pub struct SmallRun<'a> {
    pub first: Pfn,
    pub anon: &'a [bool],
    /// Below 2^30 each (a run with more is checked folio by folio): 32-bit lanes.
    pub entries: &'a [u32],
    /// The oracle's truths, by head.
    pub truths: &'a TruthStore,
    /// The truth of a one-page folio no page table maps.
    pub unmapped: &'a FolioTruth,
}

impl<'a> SmallRun<'a> {
    /// Folios in the run.
    #[inline]
    pub fn len(self) -> usize {
        self.entries.len()
    }

    /// Whether the run is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.entries.is_empty()
    }

    /// The [`FolioRef`] of folio `i`.
    #[inline]
    pub fn folio(self, i: usize) -> FolioRef {
        FolioRef {
            head: self.first.add(i as u64),
            order: Order(0),
            anon: self.anon[i],
        }
    }

    /// The oracle's truth of folio `i` (the unmapped one's when none is stored).
    #[inline]
    pub fn truth(self, i: usize) -> Cow<'a, FolioTruth> {
        self.truths
            .get(&self.first.add(i as u64))
            .unwrap_or(Cow::Borrowed(self.unmapped))
    }

    /// Whether the oracle stores a truth for folio `i` (some page table maps it).
    #[inline]
    pub fn stored(self, i: usize) -> bool {
        self.truths.contains_key(&self.first.add(i as u64))
    }

    /// Each folio of the run with its [`FolioRef`] and truth, in PFN order.
    #[inline]
    pub fn iter(self) -> impl Iterator<Item = (FolioRef, Cow<'a, FolioTruth>)> {
        (0..self.len()).map(move |i| (self.folio(i), self.truth(i)))
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
