//! `struct page`, as far as the model needs it, in 16 bytes per page (the kernel's is 64):
//! every page has its flags, its `_refcount` and `compound_head`; one more word means what
//! the page's place gives it, as the kernel's unions do, and a folio's order sits in the
//! flags of page[1] (the kernel's `_flags_1` low byte). Fields a folio does not use are
//! never materialised per page.
//!
//! | page                    | field              | where in [`Page`]                    |
//! |-------------------------|--------------------|--------------------------------------|
//! | any                     | flags              | `flags` bits 0..=16                   |
//! | head                    | `_refcount`        | `refcount` (tails: always 0)          |
//! | tail                    | `compound_head`    | `head` (a small folio or head: itself)|
//! | head                    | `mapping` (anon_vma) | `word`                             |
//! | page[1]                 | `_flags_1` order   | `flags` bits 24..=31                  |
//! | page[1]                 | `_pincount`        | `word`                                |
//! | page[2], page[3]        | `_deferred_list`   | `word`: prev in page[2], next in page[3] |
//! | free block's first page | buddy order        | `flags` bits 24..=31                  |
//! | free block's first page | buddy `lru`        | `head`: prev, `word`: next            |
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

    #[inline]
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    #[inline]
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

/// Bits of `flags` that hold an order (page[1] of a large folio, a free block's first page).
const ORDER_SHIFT: u32 = 24;
const ORDER_MASK: u32 = 0xff << ORDER_SHIFT;

/// One `struct page`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// [`PageFlags`] bits 0..=16; bits 24..=31: the folio order 1..=9 on page[1] of a large
    /// folio, or the buddy order 0..=10 on a free block's first page (0 elsewhere).
    pub flags: PageFlags,
    /// `_refcount`, unbiased: references to the folio (mappings, pins, caches, the
    /// allocation's own until it is mapped), >= 1 while allocated, 0 when free; meaningful on
    /// a folio's first page only, tails stay 0 (a speculative reference must never see a
    /// tail count).
    pub refcount: i32,
    /// `compound_head`: the PFN of the folio's first page (a small folio or head points at
    /// itself), 0 on a free page; on a free block's first page, the previous block on its
    /// free list ([`NIL`] for none).
    head: u32,
    /// By the page's place: a head's anon_vma (`folio->mapping`, 0 for none); page[1]'s
    /// `_pincount` (unbiased: FOLL_PIN pins on the folio's pages, one per pinned page, 0
    /// unpinned; small folios count a pin as 1024 references instead); page[2]'s previous
    /// and page[3]'s next folio on the deferred split queue (head PFNs, [`NIL`] for none);
    /// the next block on a free block's free list ([`NIL`] for none); 0 elsewhere.
    word: u32,
}

// The model's `struct page` is a quarter of the kernel's: a 16 GiB memmap is touched section
// by section, and the model's memory per page is what `foliolab bench` prints.
const _: () = assert!(std::mem::size_of::<Page>() == 16);
// A clean page is all-zero bytes: freeing resets a run of pages with one memset
// (`Memory::free_folios`), which relies on this and on `Page` holding plain integers only.
#[cfg(test)]
#[test]
fn a_clean_page_is_all_zero_bytes() {
    assert_eq!(Page::default().raw(), (0, 0, 0, 0));
}
// PFNs (and list links, which are PFNs or NIL) are kept in 32 bits.
const _: () = assert!(foliolab_types::MODEL_NR_PAGES < NIL as u64);

impl Page {
    /// A page of an allocated folio whose first page is `head`.
    #[inline]
    pub fn allocated(head: Pfn) -> Page {
        Page {
            flags: PageFlags(PageFlags::ALLOCATED),
            refcount: 0,
            head: head.0 as u32,
            word: 0,
        }
    }
    /// `compound_head`.
    #[inline]
    pub fn head(&self) -> Pfn {
        Pfn(self.head as u64)
    }
    /// Whether this, the `struct page` of `pfn`, is an allocated small folio's (its own
    /// head, neither a large folio's head nor a free block's first page): what
    /// [`crate::Memory::folio_meta`] calls a folio of order 0 at `pfn`, from this one read.
    #[inline]
    pub fn is_small_folio(&self, pfn: Pfn) -> bool {
        const KIND: u32 = PageFlags::ALLOCATED | PageFlags::HEAD | PageFlags::BUDDY;
        self.flags.0 & KIND == PageFlags::ALLOCATED && self.head() == pfn
    }
    #[inline]
    pub fn set_head(&mut self, head: Pfn) {
        self.head = head.0 as u32;
    }
    /// The order kept in the flags (page[1] of a large folio, a free block's first page).
    #[inline]
    pub fn order(&self) -> u8 {
        (self.flags.0 >> ORDER_SHIFT) as u8
    }
    #[inline]
    pub fn set_order(&mut self, order: u8) {
        self.flags.0 = (self.flags.0 & !ORDER_MASK) | ((order as u32) << ORDER_SHIFT);
    }
    /// A head's anon_vma (0 for none).
    #[inline]
    pub fn anon_vma(&self) -> u32 {
        self.word
    }
    #[inline]
    pub fn set_anon_vma(&mut self, anon_vma: u32) {
        self.word = anon_vma;
    }
    /// page[1]'s `_pincount`.
    #[inline]
    pub fn pincount(&self) -> i32 {
        self.word as i32
    }
    #[inline]
    pub fn set_pincount(&mut self, pins: i32) {
        self.word = pins as u32;
    }
    /// The one list link this page holds: page[2]'s prev or page[3]'s next on the deferred
    /// split queue, a free block's next.
    #[inline]
    pub fn link(&self) -> u32 {
        self.word
    }
    #[inline]
    pub fn set_link(&mut self, link: u32) {
        self.word = link;
    }
    /// A free block's previous block on its free list.
    #[inline]
    pub fn buddy_prev(&self) -> u32 {
        self.head
    }
    #[inline]
    pub fn set_buddy_prev(&mut self, prev: u32) {
        self.head = prev;
    }
    /// Every stored word, for hashing a page's state.
    pub fn raw(&self) -> (u32, i32, u32, u32) {
        (self.flags.0, self.refcount, self.head, self.word)
    }
}
