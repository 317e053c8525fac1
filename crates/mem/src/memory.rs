//! Physical memory: the memmap, page contents, the buddy allocator, and the two zero pages.
//!
//! Contents are modelled as the first 64 bits of each base page (all a scenario can write or
//! read) plus a write tag naming the write that stored them, so a read can be traced back to
//! its writer (the leak check): [`crate::content`].

use crate::buddy::{Buddy, OutOfMemory};
pub use crate::content::Content;
use crate::content::Contents;
use crate::epoch::FreeCounts;
use crate::page::{Page, PageFlags};
use foliolab_types::{Order, Pfn, PfnArray, PMD_ORDER};

/// The model's physical memory size: 16 GiB.
pub const PHYS_BYTES: u64 = foliolab_types::MODEL_PHYS_BYTES;
/// First PFN handed to the buddy allocator (the first 16 MiB stay reserved, as firmware and
/// the kernel image would).
pub const FIRST_PFN: Pfn = Pfn(0x1000);

#[derive(Clone)]
pub struct Memory {
    pub map: PfnArray<Page>,
    contents: Contents,
    /// Times each page was freed: a frame's "epoch".
    free_counts: FreeCounts,
    buddy: Buddy,
    zero_pfn: Pfn,
    huge_zero: Option<Pfn>,
    /// Allocated folios by order (for leak and statistics checks).
    nr_folios: [u64; 10],
    /// What changed since the runner last cleared it (see [`crate::dirty`]).
    pub touched: crate::dirty::MemMarks,
}

impl Memory {
    pub fn new() -> Memory {
        let end = Pfn(PHYS_BYTES >> 12);
        let mut map = PfnArray::new(end.0);
        let mut buddy = Buddy::new(FIRST_PFN, end);
        let zero_pfn = buddy.alloc(&mut map, Order(0)).expect("zero page");
        let z = map.get_mut(zero_pfn);
        z.flags = PageFlags(PageFlags::ALLOCATED | PageFlags::ZERO | PageFlags::UPTODATE);
        z.refcount = 1;
        z.set_head(zero_pfn);
        Memory {
            map,
            contents: Contents::new(end.0),
            free_counts: FreeCounts::new(end.0),
            buddy,
            zero_pfn,
            huge_zero: None,
            nr_folios: [0; 10],
            touched: crate::dirty::MemMarks::default(),
        }
    }

    #[inline]
    pub fn zero_pfn(&self) -> Pfn {
        self.zero_pfn
    }
    pub fn huge_zero_pfn(&self) -> Option<Pfn> {
        self.huge_zero
    }
    /// The huge zero folio, allocated on first use; `true` in the second value if this call
    /// allocated it (`thp_zero_page_alloc`).
    pub fn get_huge_zero(&mut self) -> Result<(Pfn, bool), OutOfMemory> {
        if let Some(p) = self.huge_zero {
            return Ok((p, false));
        }
        let head = self.alloc_folio(PMD_ORDER)?;
        self.nr_folios[PMD_ORDER.0 as usize] -= 1;
        for i in 0..PMD_ORDER.nr_pages() {
            self.map
                .get_mut(head.add(i))
                .flags
                .set(PageFlags::ZERO, true);
        }
        self.huge_zero = Some(head);
        Ok((head, true))
    }
    #[inline]
    pub fn is_zero_pfn(&self, pfn: Pfn) -> bool {
        self.map.get(pfn).flags.has(PageFlags::ZERO)
    }

    /// Allocates a zero-filled folio of `order` with refcount 1.
    pub fn alloc_folio(&mut self, order: Order) -> Result<Pfn, OutOfMemory> {
        let head = self.buddy.alloc(&mut self.map, order)?;
        self.touched.layout(head, order.nr_pages());
        let nr = order.nr_pages() as usize;
        self.map.range_mut(head, nr).fill(Page::allocated(head));
        self.contents.clear(head, nr);
        let h = self.map.get_mut(head);
        h.refcount = 1;
        if order.0 > 0 {
            h.flags.set(PageFlags::HEAD, true);
            let p1 = self.map.get_mut(head.add(1));
            p1.set_order(order.0);
            p1.flags.set(PageFlags::LARGE_RMAPPABLE, true);
        }
        self.nr_folios[order.0 as usize] += 1;
        Ok(head)
    }

    /// Returns a folio whose refcount reached 0 to the buddy allocator: [`Memory::free_folios`]
    /// of that one folio, which frees it as one block (tested against a reset with `fill`,
    /// `FreeCounts::freed` and one `Buddy::free`).
    pub fn free_folio(&mut self, head: Pfn) {
        let order = self.folio_order(head);
        self.free_folios(&[(head, order)], |&folio| folio);
    }

    /// Frees each folio of `folios` (head and order by `head_order`), in order: its pages
    /// reset to a clean `struct page`, its frames' epochs moved on, its block back to the
    /// buddy allocator. Folios that follow each other in memory within one 2 MiB block are
    /// reset in one memset and go back to the buddy allocator as the largest aligned blocks
    /// that cover them (the buddy's merges give the same free lists as one free per folio,
    /// see [`crate::buddy::Buddy::free_range`]).
    pub fn free_folios<T>(&mut self, folios: &[T], head_order: impl Fn(&T) -> (Pfn, Order)) {
        let mut i = 0;
        while i < folios.len() {
            let (start, _) = head_order(&folios[i]);
            let mut end = start;
            // The small folios just before `end`, from `small`: their epochs move on
            // together.
            let mut small = start;
            while let Some((head, order)) = folios.get(i).map(&head_order) {
                if head != end || (head.0 ^ start.0) >> PMD_ORDER.0 != 0 {
                    break;
                }
                self.release(head, order);
                if order.0 != 0 {
                    self.free_counts
                        .freed_pages(small, (head.0 - small.0) as usize);
                    self.free_counts.freed(head, order);
                    small = head.add(order.nr_pages());
                }
                end = head.add(order.nr_pages());
                i += 1;
            }
            self.free_counts
                .freed_pages(small, (end.0 - small.0) as usize);
            let nr = (end.0 - start.0) as usize;
            let pages = self.map.range_mut(start, nr);
            // SAFETY: `Page` is plain integers, and all-zero bytes are `Page::default()`
            // (tested): one memset, which writes whole cache lines without reading them.
            unsafe { std::ptr::write_bytes(pages.as_mut_ptr(), 0, pages.len()) };
            self.buddy.free_range(&mut self.map, start, nr as u64);
        }
    }

    /// The bookkeeping of freeing a folio, before its pages are reset (the caller moves
    /// its frames' epochs on): its layout changes, it must hold no reference, it leaves the
    /// folio counts.
    #[inline]
    fn release(&mut self, head: Pfn, order: Order) {
        debug_assert_eq!(order, self.folio_order(head));
        self.touched.layout(head, order.nr_pages());
        if self.map.get(head).refcount != 0 {
            freeing_referenced(head);
        }
        self.nr_folios[order.0 as usize] -= 1;
    }

    /// Re-describes a folio as `1 << (order - new_order)` folios of `new_order` (split).
    /// Per-page flags are kept; folio-level state must already be cleared by the caller.
    pub fn split_folio(&mut self, head: Pfn, new_order: Order) -> Vec<Pfn> {
        let order = self.folio_order(head);
        self.touched.layout(head, order.nr_pages());
        assert!(new_order < order);
        let mut heads = Vec::new();
        // The head's folio fields, read before its words are reused.
        let anon_vma = self.map.get(head).anon_vma();
        let flags = self.map.get(head).flags;
        for chunk in 0..(1u64 << (order.0 - new_order.0)) {
            let h = head.add(chunk << new_order.0);
            for i in 0..new_order.nr_pages() {
                let p = self.map.get_mut(h.add(i));
                p.set_head(h);
                p.set_order(0);
                p.flags.set(PageFlags::HEAD, new_order.0 > 0 && i == 0);
                p.flags.set(
                    PageFlags::LARGE_RMAPPABLE | PageFlags::PARTIALLY_MAPPED | PageFlags::DEFERRED,
                    false,
                );
                // No pins, no deferred links, no anon_vma until set below.
                p.set_anon_vma(0);
                p.refcount = 0;
            }
            if new_order.0 > 0 {
                let p1 = self.map.get_mut(h.add(1));
                p1.set_order(new_order.0);
                p1.flags.set(PageFlags::LARGE_RMAPPABLE, true);
            }
            let hp = self.map.get_mut(h);
            hp.set_anon_vma(anon_vma);
            hp.flags.set(PageFlags::ANON, flags.has(PageFlags::ANON));
            hp.flags
                .set(PageFlags::SWAPBACKED, flags.has(PageFlags::SWAPBACKED));
            hp.flags.set(PageFlags::LRU, flags.has(PageFlags::LRU));
            hp.flags.set(PageFlags::DIRTY, flags.has(PageFlags::DIRTY));
            hp.flags
                .set(PageFlags::UPTODATE, flags.has(PageFlags::UPTODATE));
            heads.push(h);
        }
        self.nr_folios[order.0 as usize] -= 1;
        self.nr_folios[new_order.0 as usize] += heads.len() as u64;
        heads
    }

    /// The folio (head PFN) a page belongs to.
    /// On a free page: PFN 0 (a free block's first page keeps a list link where the head
    /// would be).
    #[inline]
    pub fn folio_of(&self, pfn: Pfn) -> Pfn {
        let p = self.map.get(pfn);
        if p.flags.has(PageFlags::BUDDY) {
            return Pfn(0);
        }
        p.head()
    }
    /// The folio `pfn` belongs to: its head, order and the head's flags, as
    /// [`Memory::folio_of`] then [`Memory::folio_order`] and the head's flags would give
    /// them, reading a small folio's one `struct page` once.
    #[inline]
    pub fn folio_meta(&self, pfn: Pfn) -> (Pfn, Order, PageFlags) {
        let p = self.map.get(pfn);
        let (head, hp) = if p.flags.has(PageFlags::BUDDY) {
            (Pfn(0), self.map.get(Pfn(0)))
        } else if p.head() == pfn {
            (pfn, p)
        } else {
            (p.head(), self.map.get(p.head()))
        };
        let order = if hp.flags.has(PageFlags::HEAD) {
            Order(self.map.get(head.add(1)).order())
        } else {
            Order(0)
        };
        (head, order, hp.flags)
    }
    #[inline]
    pub fn folio_order(&self, head: Pfn) -> Order {
        if self.map.get(head).flags.has(PageFlags::HEAD) {
            Order(self.map.get(head.add(1)).order())
        } else {
            Order(0)
        }
    }
    #[inline]
    pub fn page(&self, pfn: Pfn) -> &Page {
        self.map.get(pfn)
    }
    #[inline]
    pub fn page_mut(&mut self, pfn: Pfn) -> &mut Page {
        self.touched.page(pfn);
        self.map.get_mut(pfn)
    }
    /// Fork's page half of sharing `nr` pages from `first` of the folio at `head` with a
    /// child: `nr` more references, and the pages no longer AnonExclusive. A small folio's
    /// one `struct page` is visited once.
    #[inline]
    pub fn share_pages(&mut self, head: Pfn, first: Pfn, nr: u64) {
        if head != first || nr != 1 {
            self.ref_add(head, nr as i32);
            self.set_page_flags(first, nr, PageFlags::ANON_EXCLUSIVE, false);
            return;
        }
        self.touched.page(head);
        let p = self.map.get_mut(head);
        p.refcount += 1;
        p.flags.set(PageFlags::ANON_EXCLUSIVE, false);
    }
    /// `nr` references dropped from the folio at `head` unless it is in the swap cache
    /// (then nothing changes and the answer is `None`); the new count.
    #[inline]
    pub fn put_refs_unless_swapcache(&mut self, head: Pfn, nr: i32) -> Option<i32> {
        if self.map.get(head).flags.has(PageFlags::SWAPCACHE) {
            return None;
        }
        Some(self.ref_add_return(head, -nr))
    }
    /// [`Memory::put_refs_unless_swapcache`] with what freeing the folio needs to know of it
    /// (its order and flags), from one look at its head: the flush's one look at a folio.
    #[inline]
    pub fn put_refs_folio_meta(&mut self, head: Pfn, nr: i32) -> Option<(i32, Order, PageFlags)> {
        let p = self.map.get_mut(head);
        if p.flags.has(PageFlags::SWAPCACHE) {
            return None;
        }
        p.refcount -= nr;
        if p.refcount < 0 {
            refcount_underflow(head);
        }
        let (count, flags) = (p.refcount, p.flags);
        self.touched.page(head);
        let order = if flags.has(PageFlags::HEAD) {
            Order(self.map.get(head.add(1)).order())
        } else {
            Order(0)
        };
        Some((count, order, flags))
    }
    /// Drops `nr` references from the folio at `head` if that leaves some and the folio is
    /// not in the swap cache (whether it did): a reference that is not the last can be
    /// dropped as soon as its entry is cleared, the last one waits for the flush that
    /// frees the folio.
    #[inline]
    pub fn put_refs_unless_last(&mut self, head: Pfn, nr: i32) -> bool {
        let p = self.map.get_mut(head);
        if p.refcount <= nr || p.flags.has(PageFlags::SWAPCACHE) {
            return false;
        }
        p.refcount -= nr;
        self.touched.page(head);
        true
    }
    /// The zap walk's look at the folio mapped at `pfn`: [`Memory::folio_meta`] and, for a
    /// small folio when `put_early`, [`Memory::put_refs_unless_last`] of its one reference
    /// (whether it was dropped), from one read of a small folio's `struct page`.
    #[inline]
    pub fn folio_meta_put_small(
        &mut self,
        pfn: Pfn,
        put_early: bool,
    ) -> ((Pfn, Order, PageFlags), bool) {
        let p = self.map.get_mut(pfn);
        if !p.is_small_folio(pfn) {
            return (self.folio_meta(pfn), false);
        }
        let meta = (pfn, Order(0), p.flags);
        if !put_early || p.refcount <= 1 || p.flags.has(PageFlags::SWAPCACHE) {
            return (meta, false);
        }
        p.refcount -= 1;
        self.touched.page(pfn);
        (meta, true)
    }
    /// Fork's look at the folio mapped at `pfn`: [`Memory::folio_meta`] and, for a small
    /// folio when `share`, [`Memory::share_pages`] of its one page (whether it did), from
    /// one read of a small folio's `struct page`. The flags are those before the share.
    #[inline]
    pub fn folio_meta_share_small(
        &mut self,
        pfn: Pfn,
        share: bool,
    ) -> ((Pfn, Order, PageFlags), bool) {
        let p = self.map.get_mut(pfn);
        if !p.is_small_folio(pfn) {
            return (self.folio_meta(pfn), false);
        }
        let meta = (pfn, Order(0), p.flags);
        if !share {
            return (meta, false);
        }
        p.refcount += 1;
        p.flags.set(PageFlags::ANON_EXCLUSIVE, false);
        self.touched.page(pfn);
        (meta, true)
    }
    /// Sets or clears flag `bit` of the `nr` pages from `first`, which lie in one folio.
    #[inline]
    pub fn set_page_flags(&mut self, first: Pfn, nr: u64, bit: u32, on: bool) {
        self.touched.pages(first, nr);
        for p in self.map.range_mut(first, nr as usize) {
            p.flags.set(bit, on);
        }
    }
    #[inline]
    pub fn refcount(&self, head: Pfn) -> i32 {
        self.map.get(head).refcount
    }
    #[inline]
    pub fn ref_add(&mut self, head: Pfn, nr: i32) {
        self.touched.page(head);
        let p = self.map.get_mut(head);
        p.refcount += nr;
        if p.refcount < 0 {
            refcount_underflow(head);
        }
    }
    /// [`Memory::ref_add`], returning the new reference count.
    #[inline]
    pub fn ref_add_return(&mut self, head: Pfn, nr: i32) -> i32 {
        self.touched.page(head);
        let p = self.map.get_mut(head);
        p.refcount += nr;
        if p.refcount < 0 {
            refcount_underflow(head);
        }
        p.refcount
    }
    /// `get_page_unless_zero` on one `struct page`: succeeds only on a page whose own
    /// refcount is non-zero, which a tail page's never is (the tail-refcount rule).
    #[inline]
    pub fn get_page_unless_zero(&mut self, pfn: Pfn) -> bool {
        self.touched.page(pfn);
        let p = self.map.get_mut(pfn);
        if p.refcount == 0 {
            return false;
        }
        p.refcount += 1;
        true
    }

    /// `folio_try_get(page_folio(page))` plus the re-check GUP-fast does: a speculative
    /// reference on whatever folio the page belongs to *now*, taken only if that folio is not
    /// being freed (refcount 0), and given back if the page moved to another folio meanwhile.
    /// Returns the folio that now holds the extra reference.
    pub fn folio_try_get(&mut self, page: Pfn) -> Option<Pfn> {
        let head = self.folio_of(page);
        let p = self.map.get(page);
        if !p.flags.has(PageFlags::ALLOCATED) || !self.get_page_unless_zero(head) {
            return None;
        }
        if self.folio_of(page) != head {
            self.ref_add(head, -1);
            return None;
        }
        Some(head)
    }

    #[inline]
    pub fn content(&self, pfn: Pfn) -> Content {
        self.contents.get(pfn)
    }
    #[inline]
    pub fn set_content(&mut self, pfn: Pfn, c: Content) {
        self.contents.set(pfn, c);
    }
    #[inline]
    pub fn frame_epoch(&self, pfn: Pfn) -> u32 {
        self.free_counts.get(pfn)
    }
    pub fn nr_free_pages(&self) -> u64 {
        self.buddy.nr_free_pages()
    }
    pub fn nr_folios(&self, order: Order) -> u64 {
        self.nr_folios[order.0 as usize]
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        self.buddy.check_invariants(&self.map)
    }
}

/// The panic of [`Memory::free_folio`], out of line.
#[cold]
#[inline(never)]
fn freeing_referenced(head: Pfn) -> ! {
    panic!("freeing {head:?} with references")
}

/// The panic of [`Memory::ref_add`], out of line so that the hot path inlines.
#[cold]
#[inline(never)]
fn refcount_underflow(head: Pfn) -> ! {
    panic!("refcount underflow on {head:?}")
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zap walk's one look gives what `folio_meta` and `put_refs_unless_last` give, and
    /// fork's what `folio_meta` and `share_pages` give, on small folios (sole reference,
    /// shared, in the swap cache, ANON or not), a large folio's head and its tails (which
    /// neither puts nor shares).
    #[test]
    fn the_zap_look_is_folio_meta_and_an_early_put() {
        let mut m = Memory::new();
        let mut pages = Vec::new();
        for (order, refs, flags) in [
            (0, 0, PageFlags::ANON),
            (0, 2, PageFlags::ANON | PageFlags::ANON_EXCLUSIVE),
            (0, 1, 0),
            (0, 3, PageFlags::ANON | PageFlags::SWAPCACHE),
            (4, 5, PageFlags::ANON),
            (9, 2, 0),
        ] {
            let head = m.alloc_folio(Order(order)).unwrap();
            m.ref_add(head, refs);
            m.page_mut(head).flags.set(flags, true);
            pages.extend([head, head.add((1 << order) - 1), head.add(1 << order >> 1)]);
        }
        for &pfn in &pages {
            for early in [false, true] {
                let mut want = m.clone();
                let meta = want.folio_meta(pfn);
                let small = meta.1 == Order(0);
                let put = early && small && want.put_refs_unless_last(meta.0, 1);
                let mut got = m.clone();
                assert_eq!(got.folio_meta_put_small(pfn, early), (meta, put), "{pfn:?}");
                assert_eq!(got.refcount(meta.0), want.refcount(meta.0), "{pfn:?}");
                assert_eq!(got.touched.pages.spans(), want.touched.pages.spans());
                // Fork's look: folio_meta, and share_pages of a small folio's one page.
                let mut want = m.clone();
                if early && small {
                    want.share_pages(meta.0, pfn, 1);
                }
                let mut got = m.clone();
                let shared = early && small;
                assert_eq!(got.folio_meta_share_small(pfn, early), (meta, shared));
                assert_eq!(got.page(pfn), want.page(pfn), "{pfn:?}");
                assert_eq!(got.touched.pages.spans(), want.touched.pages.spans());
            }
        }
    }

    /// GUP-fast reads a PTE locklessly, then takes a speculative reference on the page's
    /// folio. If the page was freed and its memory reused in between, as a tail of a larger
    /// folio, the tail-refcount rule makes a raw reference on the tail fail, and
    /// `folio_try_get` lands on the new folio's head (GUP-fast's PTE re-check then gives it
    /// back). Tail refcounts stay 0 throughout.
    #[test]
    fn speculative_reference_on_a_freed_page_reused_as_a_tail() {
        let mut m = Memory::new();
        let f = m.alloc_folio(Order(4)).unwrap();
        let pages = m.split_folio(f, Order(0));
        let stale = pages[1];
        for &p in &pages {
            m.ref_add(p, 1);
        }
        // The pages are freed (the last reference goes) ...
        for &p in &pages {
            m.ref_add(p, -1);
            m.free_folio(p);
        }
        assert_eq!(
            m.folio_try_get(stale),
            None,
            "freed memory gives no reference"
        );
        // ... and the memory comes back as one 64K folio: the stale page is now a tail.
        let g = m.alloc_folio(Order(4)).unwrap();
        assert_eq!(g, f, "the buddy allocator reuses the merged block");
        assert_eq!(m.folio_of(stale), g);
        assert!(
            !m.get_page_unless_zero(stale),
            "a raw reference on a tail must fail"
        );
        assert_eq!(m.folio_try_get(stale), Some(g));
        assert_eq!(m.refcount(g), 2);
        m.ref_add(g, -1);
        assert_eq!(m.refcount(g), 1);
        assert_eq!(m.page(stale).refcount, 0, "tail refcounts stay 0");
    }

    /// The single free before it went through [`Memory::free_folios`]: the folio's pages
    /// reset with `fill`, its frees counted by `FreeCounts::freed`, one `Buddy::free`.
    fn free_as_one_block(m: &mut Memory, head: Pfn) {
        let order = m.folio_order(head);
        m.release(head, order);
        m.free_counts.freed(head, order);
        m.map
            .range_mut(head, order.nr_pages() as usize)
            .fill(Page::default());
        m.buddy.free(&mut m.map, head, order);
    }

    /// Everything a free can change, over `pfns`: the pages, epochs and contents, the
    /// buddy's lists, the folio counts and the marks.
    fn assert_same(old: &Memory, new: &Memory, pfns: std::ops::Range<u64>, why: &str) {
        for pfn in pfns.map(Pfn) {
            assert_eq!(old.page(pfn), new.page(pfn), "{why}: page {pfn:?}");
            assert_eq!(old.frame_epoch(pfn), new.frame_epoch(pfn), "{why}: {pfn:?}");
            assert_eq!(old.content(pfn), new.content(pfn), "{why}: {pfn:?}");
        }
        assert_eq!(
            format!("{:?}", old.buddy),
            format!("{:?}", new.buddy),
            "{why}"
        );
        assert_eq!(old.nr_folios, new.nr_folios, "{why}");
        assert_eq!(
            format!("{:?}", old.touched),
            format!("{:?}", new.touched),
            "{why}"
        );
        new.check_invariants().unwrap();
    }

    /// [`Memory::free_folio`] (now one run of [`Memory::free_folios`]) leaves memory as the
    /// free of one block did, for every order and layout: random allocations of orders 0..=9
    /// (some split, so small folios sit inside what was a large one), freed one at a time in
    /// random order between allocations that reuse the freed blocks. Replay: the seed is in
    /// every failure message.
    #[test]
    fn a_single_free_leaves_memory_as_freeing_one_block() {
        for seed in 0..16u64 {
            let mut rng = foliolab_types::prng::Prng::new(0xf0f0_11ee ^ seed);
            let (mut old, mut new) = (Memory::new(), Memory::new());
            let (mut live, mut top) = (Vec::new(), FIRST_PFN.0);
            for step in 0..1000u64 {
                let why = format!("seed {seed} step {step}");
                // The last steps only free: blocks merge back up to MAX_ORDER.
                let alloc = step < 600 && (live.is_empty() || rng.below(5) < 3);
                if alloc {
                    let order = Order([0u8, 0, 0, 0, 1, 2, 3, 4, 6, 9][rng.below(10) as usize]);
                    let head = old.alloc_folio(order).unwrap();
                    assert_eq!(new.alloc_folio(order).unwrap(), head, "{why}");
                    top = top.max(head.0 + order.nr_pages());
                    if order.0 == 0 || rng.below(3) != 0 {
                        live.push(head);
                        continue;
                    }
                    let to = Order(rng.below(order.0 as u64) as u8);
                    for h in old.split_folio(head, to) {
                        old.ref_add(h, 1);
                        live.push(h);
                    }
                    new.split_folio(head, to)
                        .iter()
                        .for_each(|&h| new.ref_add(h, 1));
                } else if !live.is_empty() {
                    let head = live.swap_remove(rng.below(live.len() as u64) as usize);
                    old.ref_add(head, -1);
                    new.ref_add(head, -1);
                    free_as_one_block(&mut old, head);
                    new.free_folio(head);
                    let block = head.0 & !(MAX_ORDER_PAGES - 1);
                    assert_same(&old, &new, block..block + MAX_ORDER_PAGES, &why);
                }
                if step % 100 == 99 {
                    assert_same(&old, &new, FIRST_PFN.0..top, &why);
                }
            }
            assert_same(&old, &new, FIRST_PFN.0..top, &format!("seed {seed}"));
        }
    }

    const MAX_ORDER_PAGES: u64 = 1 << foliolab_types::MAX_ORDER.0;
}
