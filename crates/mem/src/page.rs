//! `struct page`, as far as the model needs it, with every field at the place the kernel keeps
//! it (kernel note section 1.1):
//!
//! | page    | field            | model field          |
//! |---------|------------------|----------------------|
//! | any     | flags            | `flags`              |
//! | head    | `_refcount`      | `refcount` (tails: always 0) |
//! | tail    | `compound_head`  | `head`               |
//! | head    | `mapping`, `index` | `anon_vma`         |
//! | page[1] | `_flags_1` order | `order`              |
//! | page[1] | `_pincount`      | `pincount`           |
//! | page[2] | `_deferred_list` | `link_prev`/`link_next` |
//! | free    | buddy `lru`      | `link_prev`/`link_next` on the first page |
//!
//! Mapcount words are not here: each scheme keeps its own, in its own layout, so that every
//! scheme can shadow the same run.

use foliolab_types::Pfn;

/// Page flag bits (a subset of `enum pageflags` plus the page types the model needs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageFlags(pub u32);

impl PageFlags {
    /// First page of a large folio.
    pub const HEAD: u32 = 1 << 0;
    /// Any page of an anonymous folio (`PAGE_MAPPING_ANON` in `mapping`), head only.
    pub const ANON: u32 = 1 << 1;
    /// `PG_anon_exclusive`, per page.
    pub const ANON_EXCLUSIVE: u32 = 1 << 2;
    /// `PG_partially_mapped`, on page[1].
    pub const PARTIALLY_MAPPED: u32 = 1 << 3;
    /// On the deferred split queue (model shortcut for `!list_empty(_deferred_list)`), page[1].
    pub const DEFERRED: u32 = 1 << 4;
    pub const SWAPCACHE: u32 = 1 << 5;
    pub const SWAPBACKED: u32 = 1 << 6;
    pub const LRU: u32 = 1 << 7;
    pub const DIRTY: u32 = 1 << 8;
    /// First page of a free buddy block (a page type in the kernel).
    pub const BUDDY: u32 = 1 << 9;
    /// The shared zero page or a page of the huge zero folio.
    pub const ZERO: u32 = 1 << 10;
    pub const REFERENCED: u32 = 1 << 11;
    pub const UPTODATE: u32 = 1 << 12;
    pub const MLOCKED: u32 = 1 << 13;
    /// `PG_large_rmappable`, on page[1].
    pub const LARGE_RMAPPABLE: u32 = 1 << 14;
    /// Allocated (not in the buddy); model shortcut used by invariant checks.
    pub const ALLOCATED: u32 = 1 << 15;
    /// `PG_active`: set when reclaim gives up on a folio (`activate_locked`).
    pub const ACTIVE: u32 = 1 << 16;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// Sentinel for an empty list link.
pub const NIL: u32 = u32::MAX;

/// One `struct page`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub flags: PageFlags,
    /// `_refcount`, unbiased: references to the folio (mappings, pins, caches, the
    /// allocation's own until it is mapped), >= 1 while allocated, 0 when free; meaningful on
    /// a folio's first page only, tails stay 0 (a speculative reference must never see a
    /// tail count).
    pub refcount: i32,
    /// `compound_head`: the folio's first page (a small folio or head points at itself).
    pub head: Pfn,
    /// page[1]: folio order 1..=9; in a free block's first page: the buddy order.
    pub order: u8,
    /// page[1]: `_pincount` of a large folio, unbiased: FOLL_PIN pins on its pages (one per
    /// pinned page), 0 unpinned. Small folios count a pin as 1024 references instead.
    pub pincount: i32,
    /// page[2] `_deferred_list` links, or buddy free-list links on a free block's first page
    /// (PFN offsets; [`NIL`] for none).
    pub link_prev: u32,
    pub link_next: u32,
    /// head: the anon_vma the folio belongs to (`folio->mapping`), 0 for none.
    pub anon_vma: u32,
}

// The model's `struct page` stays small: a 16 GiB memmap is touched section by section.
const _: () = assert!(std::mem::size_of::<Page>() == 40);

impl Default for Page {
    fn default() -> Page {
        Page {
            flags: PageFlags::default(),
            refcount: 0,
            head: Pfn(0),
            order: 0,
            pincount: 0,
            link_prev: NIL,
            link_next: NIL,
            anon_vma: 0,
        }
    }
}
