//! Each design's metadata as the kernel (or the proposal) lays it out in `struct page`, one
//! `#[repr(C)]` struct per place, every field with its value space and bias. A design's
//! [`crate::cost::Layout`] is derived from these sizes, and each size is asserted at compile
//! time, so a field added here changes the figures `foliolab compare` prints.
//!
//! "Raw" is the stored value. Most kernel mapcounts are stored biased by −1 (an unmapped state
//! reads −1), so the true value is raw + 1. `N` is the folio's number of pages; `MMs` the
//! number of processes mapping it. Designs that keep true values in Rust state (`PmCounts`,
//! `MmSlots`, ...) say so at their fields; `linux-6.18` stores these raw words themselves.

use std::mem::size_of;

/// `page->_mapcount` of each page, in designs that count per page (PAGE_MAPCOUNT, 6.1-6.18,
/// rmap-id). A small folio's only mapcount is this word of its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct PageMapcount {
    /// Raw = (PTE mappings of this page) − 1, so −1 is unmapped; true value 0..=MMs for an
    /// anon page (one PTE per MM), any count for a file page. Before 6.2 under PG_double_map
    /// every page of a THP holds one extra.
    pub mapcount: i32,
}
const _: () = assert!(size_of::<PageMapcount>() == 4);

/// Linux 6.15-6.18 page[1] of a large folio (64-bit, CONFIG_MM_ID, PAGE_MAPCOUNT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct Folio618 {
    /// `_large_mapcount`: raw = (all PTE and PMD entries mapping any page) − 1; true value
    /// 0..=(N + 1)·MMs.
    pub large_mapcount: i32,
    /// `_nr_pages_mapped`: unbiased; low 23 bits (`FOLIO_PAGES_MAPPED`) count the pages with
    /// a PTE mapping (0..=N); plus `ENTIRELY_MAPPED` (2^23) while a PMD maps the folio.
    pub nr_pages_mapped: i32,
    /// `_entire_mapcount`: raw = (PMD mappings) − 1; true value 0..=MMs.
    pub entire_mapcount: i32,
    /// `_mm_id_mapcount[k]`: raw = (entries of slot k's MM) − 1; −1 for a free slot.
    pub mm_id_mapcount: [i32; 2],
    /// `_mm_ids`: slot 0's MM id in bits 0..31, slot 1's in bits 32..63 (31 bits each, 0 is
    /// `MM_ID_DUMMY`, a free slot), the large-mapcount bit spinlock in bit 31 and the "maybe
    /// mapped shared" bit in bit 63.
    pub mm_ids: u64,
}
const _: () = assert!(size_of::<Folio618>() == 28);

impl Default for Folio618 {
    /// The words of a folio fresh from the allocator: every mapcount unmapped, slots free.
    fn default() -> Folio618 {
        Folio618 {
            large_mapcount: -1,
            nr_pages_mapped: 0,
            entire_mapcount: -1,
            mm_id_mapcount: [-1, -1],
            mm_ids: 0,
        }
    }
}

/// Linux 6.15+ page[1] with CONFIG_NO_PAGE_MAPCOUNT: no `_nr_pages_mapped`, no per-page word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct FolioNpm {
    /// `_large_mapcount`, as in [`Folio618`].
    pub large_mapcount: i32,
    /// `_entire_mapcount`, as in [`Folio618`].
    pub entire_mapcount: i32,
    /// `_mm_id_mapcount[2]`, as in [`Folio618`].
    pub mm_id_mapcount: [i32; 2],
    /// `_mm_ids`, as in [`Folio618`].
    pub mm_ids: u64,
}
const _: () = assert!(size_of::<FolioNpm>() == 24);

/// The April 2026 RFC's page[1]: `_entire_mapcount` becomes `_total_mapped_pages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct FolioRfc2026 {
    /// `_large_mapcount`, as in [`Folio618`].
    pub large_mapcount: i32,
    /// `_total_mapped_pages`: unbiased; pages mapped counting a PTE as 1 and a PMD as N,
    /// 0..=2N·MMs.
    pub total_mapped_pages: i32,
    /// `_mm_id_mapcount[2]`, as in [`Folio618`].
    pub mm_id_mapcount: [i32; 2],
    /// `_mm_ids`, as in [`Folio618`].
    pub mm_ids: u64,
}
const _: () = assert!(size_of::<FolioRfc2026>() == 24);

/// Linux 6.10-6.14 page[1]: a large mapcount, no MM slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Folio614 {
    /// `_large_mapcount`, as in [`Folio618`].
    pub large_mapcount: i32,
    /// `_nr_pages_mapped`, as in [`Folio618`].
    pub nr_pages_mapped: i32,
    /// `_entire_mapcount`, as in [`Folio618`].
    pub entire_mapcount: i32,
}
const _: () = assert!(size_of::<Folio614>() == 12);

/// Linux 6.3-6.9 page[1]: no total mapcount (`folio_mapcount` loops over the pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Folio65 {
    /// `_entire_mapcount`, as in [`Folio618`].
    pub entire_mapcount: i32,
    /// `_nr_pages_mapped` (`COMPOUND_MAPPED` for the PMD bit before 6.8), as in [`Folio618`].
    pub nr_pages_mapped: i32,
}
const _: () = assert!(size_of::<Folio65>() == 8);

/// Linux 6.1 page[1] (first tail): PG_double_map is a page flag, not a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Folio61 {
    /// `compound_mapcount`: raw = (PMD mappings) − 1; true value 0..=MMs.
    pub compound_mapcount: i32,
}
const _: () = assert!(size_of::<Folio61>() == 4);

/// The rmap-id RFC (Nov 2023) page[1], before its rmap values: 6.7-era words and a seqcount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FolioRmapId {
    /// The folio's total mapcount: raw = (all entries) − 1.
    pub total_mapcount: i32,
    /// `_entire_mapcount`, as in [`Folio618`].
    pub entire_mapcount: i32,
    /// `_nr_pages_mapped`, as in [`Folio618`].
    pub nr_pages_mapped: i32,
    /// The seqcount readers retry on while the rmap values change.
    pub seqcount: u32,
}
const _: () = assert!(size_of::<FolioRmapId>() == 16);

/// One rmap value of the rmap-id RFC: the sum over mapping MMs of their rmap id times their
/// mapping count, modulo 2^64; as many per folio as its order needs.
pub type RmapValue = u64;

/// vma-count: the VMA count in the head's `_mapcount` place and a PMD count in page[1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FolioVmaCount {
    /// VMAs mapping any page of the folio: unbiased, 0..=VMAs.
    pub vmas: i32,
    /// PMD mappings: unbiased, 0..=MMs (for NR_ANON_THPS).
    pub pmds: i32,
}
const _: () = assert!(size_of::<FolioVmaCount>() == 8);

/// `exact`: one folio total and, per (MM, page) pair mapped, the MM and its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ExactFolio {
    /// All entries mapping the folio: unbiased.
    pub total: u64,
}
const _: () = assert!(size_of::<ExactFolio>() == 8);

/// `exact`'s per (MM, page) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ExactPair {
    /// The MM (its 31-bit id).
    pub mm: u32,
    /// Entries of that MM mapping the page: unbiased, at least 1 while the pair exists.
    pub count: u32,
}
const _: () = assert!(size_of::<ExactPair>() == 8);

/// Bytes of `T`, for [`crate::cost::Layout`] fields.
pub const fn bytes<T>() -> u64 {
    size_of::<T>() as u64
}
