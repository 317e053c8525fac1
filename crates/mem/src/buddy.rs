//! The buddy allocator: free blocks of order 0..=MAX_ORDER on doubly linked free lists
//! threaded through the first page of each block, merging with the buddy on free. Freed
//! blocks go to the head of their list and are reused first, so a freed folio's pages come
//! back in other shapes (a freed head can return as the tail of a larger folio).
//!
//! Memory above `watermark` has never been handed out; whole MAX_ORDER blocks are carved from
//! it when the lists run dry, so the memmap is only materialised where memory is used.

use crate::page::{Page, PageFlags, NIL};
use foliolab_types::{Order, Pfn, PfnArray, MAX_ORDER};

#[derive(Clone, Debug)]
pub struct Buddy {
    heads: [u32; MAX_ORDER.0 as usize + 1],
    nr_free: [u64; MAX_ORDER.0 as usize + 1],
    base: Pfn,
    end: Pfn,
    watermark: Pfn,
}

/// Allocation failed: the model's physical memory is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

impl Buddy {
    /// Manages `[base, end)`; both MAX_ORDER-aligned.
    pub fn new(base: Pfn, end: Pfn) -> Buddy {
        assert!(base.is_aligned(MAX_ORDER) && end.is_aligned(MAX_ORDER));
        Buddy {
            heads: [NIL; MAX_ORDER.0 as usize + 1],
            nr_free: [0; MAX_ORDER.0 as usize + 1],
            base,
            end,
            watermark: base,
        }
    }

    pub fn contains(&self, pfn: Pfn) -> bool {
        pfn >= self.base && pfn < self.end
    }

    /// Pages never handed out plus pages on free lists.
    pub fn nr_free_pages(&self) -> u64 {
        let listed: u64 = (0..=MAX_ORDER.0)
            .map(|o| self.nr_free[o as usize] << o)
            .sum();
        listed + (self.end.0 - self.watermark.0)
    }

    /// Allocates a block of `order`; the caller turns it into a folio.
    pub fn alloc(&mut self, map: &mut PfnArray<Page>, order: Order) -> Result<Pfn, OutOfMemory> {
        let found = (order.0..=MAX_ORDER.0).find(|&o| self.heads[o as usize] != NIL);
        let (pfn, from) = match found {
            Some(o) => (self.pop(map, Order(o)), Order(o)),
            None => (self.carve()?, MAX_ORDER),
        };
        self.expand(map, pfn, from, order);
        map.get_mut(pfn).flags = PageFlags(PageFlags::ALLOCATED);
        Ok(pfn)
    }

    /// Returns a block of `order` starting at `pfn` (every page already reset by the caller).
    #[inline]
    pub fn free(&mut self, map: &mut PfnArray<Page>, pfn: Pfn, order: Order) {
        let (mut pfn, mut order) = (pfn, order);
        while order < MAX_ORDER {
            let buddy = Pfn(pfn.0 ^ order.nr_pages());
            if buddy >= self.watermark {
                break;
            }
            let b = map.get(buddy);
            if !b.flags.has(PageFlags::BUDDY) || b.order() != order.0 {
                break;
            }
            // `unlink` of the buddy, its page cleared in the same visit.
            let (prev, next) = (b.buddy_prev(), b.link());
            let b = map.get_mut(buddy);
            b.set_buddy_prev(0);
            b.set_link(0);
            b.flags = PageFlags::default();
            self.unlink_neighbours(map, prev, next, order);
            pfn = Pfn(pfn.0 & !order.nr_pages());
            order = Order(order.0 + 1);
        }
        self.push(map, pfn, order);
    }

    /// Returns the `nr` pages from `first` (every page already reset by the caller), as the
    /// largest aligned blocks that cover them, in address order.
    ///
    /// The free lists end as they would after freeing the range as any sequence of aligned
    /// blocks in address order (one per folio, say): freeing in address order, a block below
    /// the range's next block is pushed at the head of its list and taken off again by the
    /// next free that merges with it before anything else reaches that list, so only the
    /// blocks that come out whole, and the merges across the range's ends, remain.
    pub fn free_range(&mut self, map: &mut PfnArray<Page>, first: Pfn, nr: u64) {
        let (mut pfn, end) = (first.0, first.0 + nr);
        while pfn < end {
            let mut order = (pfn.trailing_zeros() as u8).min(MAX_ORDER.0);
            while pfn + (1 << order) > end {
                order -= 1;
            }
            self.free(map, Pfn(pfn), Order(order));
            pfn += 1 << order;
        }
    }

    fn carve(&mut self) -> Result<Pfn, OutOfMemory> {
        if self.watermark >= self.end {
            return Err(OutOfMemory);
        }
        let pfn = self.watermark;
        self.watermark = pfn.add(MAX_ORDER.nr_pages());
        Ok(pfn)
    }

    /// Splits a block of order `from` down to `to`, freeing the upper halves.
    fn expand(&mut self, map: &mut PfnArray<Page>, pfn: Pfn, from: Order, to: Order) {
        let mut o = from.0;
        while o > to.0 {
            o -= 1;
            self.push(map, pfn.add(1 << o), Order(o));
        }
    }

    #[inline]
    fn push(&mut self, map: &mut PfnArray<Page>, pfn: Pfn, order: Order) {
        let old = self.heads[order.0 as usize];
        {
            let p = map.get_mut(pfn);
            p.flags = PageFlags(PageFlags::BUDDY);
            p.set_order(order.0);
            p.set_buddy_prev(NIL);
            p.set_link(old);
        }
        if old != NIL {
            map.get_mut(Pfn(old as u64)).set_buddy_prev(pfn.0 as u32);
        }
        self.heads[order.0 as usize] = pfn.0 as u32;
        self.nr_free[order.0 as usize] += 1;
    }

    fn pop(&mut self, map: &mut PfnArray<Page>, order: Order) -> Pfn {
        let pfn = Pfn(self.heads[order.0 as usize] as u64);
        self.unlink(map, pfn, order);
        map.get_mut(pfn).flags = PageFlags::default();
        pfn
    }

    fn unlink(&mut self, map: &mut PfnArray<Page>, pfn: Pfn, order: Order) {
        let (prev, next) = {
            let p = map.get(pfn);
            (p.buddy_prev(), p.link())
        };
        self.unlink_neighbours(map, prev, next, order);
        // Off the list, the page's words are clean again (no head, no link).
        let p = map.get_mut(pfn);
        p.set_buddy_prev(0);
        p.set_link(0);
    }

    /// The list half of `unlink`: the block between `prev` and `next` on the list of
    /// `order` leaves it.
    #[inline]
    fn unlink_neighbours(&mut self, map: &mut PfnArray<Page>, prev: u32, next: u32, order: Order) {
        if prev == NIL {
            self.heads[order.0 as usize] = next;
        } else {
            map.get_mut(Pfn(prev as u64)).set_link(next);
        }
        if next != NIL {
            map.get_mut(Pfn(next as u64)).set_buddy_prev(prev);
        }
        self.nr_free[order.0 as usize] -= 1;
    }

    /// Free-list consistency: every listed block is marked BUDDY with its order, aligned,
    /// below the watermark, and the counts match.
    pub fn check_invariants(&self, map: &PfnArray<Page>) -> Result<(), String> {
        for o in 0..=MAX_ORDER.0 {
            let (mut cur, mut prev, mut n) = (self.heads[o as usize], NIL, 0u64);
            while cur != NIL {
                let pfn = Pfn(cur as u64);
                let p = map.get(pfn);
                if !p.flags.has(PageFlags::BUDDY) || p.order() != o || p.buddy_prev() != prev {
                    return Err(format!("buddy list {o}: bad block {pfn:?}"));
                }
                if !pfn.is_aligned(Order(o)) || pfn >= self.watermark {
                    return Err(format!("buddy list {o}: misplaced block {pfn:?}"));
                }
                prev = cur;
                cur = p.link();
                n += 1;
            }
            if n != self.nr_free[o as usize] {
                return Err(format!(
                    "buddy list {o}: {n} blocks, count says {}",
                    self.nr_free[o as usize]
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Buddy, PfnArray<Page>) {
        (Buddy::new(Pfn(0), Pfn(4 * 512)), PfnArray::new(4 * 512))
    }

    #[test]
    fn split_then_free_merges_back() {
        let (mut b, mut map) = setup();
        let a = b.alloc(&mut map, Order(0)).unwrap();
        assert_eq!(b.nr_free_pages(), 4 * 512 - 1);
        b.check_invariants(&map).unwrap();
        map.get_mut(a).flags = PageFlags::default();
        b.free(&mut map, a, Order(0));
        b.check_invariants(&map).unwrap();
        assert_eq!(b.nr_free_pages(), 4 * 512);
        // Everything merged back into one order-9 block.
        assert_eq!(b.nr_free[9], 1);
    }

    #[test]
    fn freed_head_returns_as_part_of_a_larger_block() {
        let (mut b, mut map) = setup();
        let small = b.alloc(&mut map, Order(0)).unwrap();
        map.get_mut(small).flags = PageFlags::default();
        b.free(&mut map, small, Order(0));
        let big = b.alloc(&mut map, Order(4)).unwrap();
        assert!(
            big <= small && small < big.add(16),
            "{big:?} should cover {small:?}"
        );
    }

    /// Frees the folios `run` (ascending, contiguous) one block per folio, or at once.
    fn free_run(b: &mut Buddy, map: &mut PfnArray<Page>, run: &[(Pfn, u8)], at_once: bool) {
        for &(p, o) in run {
            map.range_mut(p, 1 << o).fill(Page::default());
            if !at_once {
                b.free(map, p, Order(o));
            }
        }
        if at_once {
            let (first, (last, o)) = (run[0].0, run[run.len() - 1]);
            b.free_range(map, first, last.0 + (1 << o) - first.0);
        }
    }

    #[test]
    fn freeing_a_range_at_once_leaves_the_lists_as_freeing_each_folio() {
        let mut rng = foliolab_types::prng::Prng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move |n: u64| rng.below(n);
        for _ in 0..40 {
            let nr_pages = 8 * 512;
            let (mut b, mut map) = (Buddy::new(Pfn(0), Pfn(nr_pages)), PfnArray::new(nr_pages));
            let mut folios = Vec::new();
            while let Ok(p) = {
                let o = [0u8, 0, 0, 1, 2, 4, 9][next(7) as usize];
                b.alloc(&mut map, Order(o)).map(|p| (p, o))
            } {
                folios.push(p);
            }
            folios.sort();
            let (mut ba, mut mapa) = (b.clone(), map.clone());
            // Random runs of folios that follow each other, freed in a random order of runs.
            let mut runs = Vec::new();
            let mut i = 0;
            while i < folios.len() {
                let mut j = i + 1 + next(12) as usize;
                j = j.min(folios.len());
                let contiguous = (i + 1..j)
                    .take_while(|&k| folios[k].0 .0 == folios[k - 1].0 .0 + (1 << folios[k - 1].1))
                    .count();
                runs.push(&folios[i..i + 1 + contiguous]);
                i += 1 + contiguous;
            }
            while !runs.is_empty() {
                let run = runs.swap_remove(next(runs.len() as u64) as usize);
                free_run(&mut ba, &mut mapa, run, false);
                free_run(&mut b, &mut map, run, true);
                assert_eq!(format!("{ba:?}"), format!("{b:?}"));
            }
            b.check_invariants(&map).unwrap();
            for pfn in 0..nr_pages {
                assert_eq!(mapa.get(Pfn(pfn)), map.get(Pfn(pfn)), "pfn {pfn}");
            }
            assert_eq!(b.nr_free_pages(), nr_pages);
        }
    }

    #[test]
    fn exhaustion_is_reported() {
        let (mut b, mut map) = setup();
        for _ in 0..4 {
            b.alloc(&mut map, Order(9)).unwrap();
        }
        assert_eq!(b.alloc(&mut map, Order(0)), Err(OutOfMemory));
    }
}
