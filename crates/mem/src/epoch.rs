//! How many times each page frame was freed (a frame's "epoch": the driver names a frame by
//! its PFN and epoch, so that a frame freed and reused is a new frame).
//!
//! The count is kept at three granularities, so that freeing a folio costs one store per
//! block it covers whole rather than one per page: a frame's epoch is the sum of its entry
//! per page, per 64 KiB block and per 2 MiB block. Each free adds 1 to exactly one level
//! for each of the folio's pages, so the sum is the number of frees, as one count per page
//! would give it.

use foliolab_types::{Order, Pfn, PfnArray};

/// Orders of the coarser levels: a free of a folio of at least this order goes there.
const MID_ORDER: u8 = 4;
const TOP_ORDER: u8 = 9;

#[derive(Clone)]
pub struct FreeCounts {
    /// Per page frame (folios of order < 4).
    pages: PfnArray<u32>,
    /// Per 64 KiB block, indexed by PFN >> 4 (folios of order 4..=8).
    mid: PfnArray<u32>,
    /// Per 2 MiB block, indexed by PFN >> 9 (folios of order >= 9).
    top: PfnArray<u32>,
}

impl FreeCounts {
    /// Counts for PFNs `0..nr_pages`, all 0.
    pub fn new(nr_pages: u64) -> FreeCounts {
        FreeCounts {
            pages: PfnArray::new(nr_pages),
            mid: PfnArray::new(nr_pages >> MID_ORDER),
            top: PfnArray::new(nr_pages >> TOP_ORDER),
        }
    }

    /// The frame's epoch: how many times it was freed.
    #[inline]
    pub fn get(&self, pfn: Pfn) -> u32 {
        self.pages
            .get(pfn)
            .wrapping_add(*self.mid.get(Pfn(pfn.0 >> MID_ORDER)))
            .wrapping_add(*self.top.get(Pfn(pfn.0 >> TOP_ORDER)))
    }

    /// The folio of `order` at `head` (aligned to its size) is freed.
    #[inline]
    pub fn freed(&mut self, head: Pfn, order: Order) {
        let (level, shift) = if order.0 >= TOP_ORDER {
            (&mut self.top, TOP_ORDER)
        } else if order.0 >= MID_ORDER {
            (&mut self.mid, MID_ORDER)
        } else {
            (&mut self.pages, 0)
        };
        let nr = 1usize << (order.0 - shift);
        for c in level.range_mut(Pfn(head.0 >> shift), nr) {
            *c = c.wrapping_add(1);
        }
    }

    /// The `nr` small folios (order 0) from `first` are freed.
    #[inline]
    pub fn freed_pages(&mut self, first: Pfn, nr: usize) {
        if nr == 0 {
            return;
        }
        for c in self.pages.range_mut(first, nr) {
            *c = c.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_free_counts_once_for_each_page_whatever_the_folio_order() {
        let mut c = FreeCounts::new(1 << 12);
        let mut per_page = vec![0u32; 1 << 12];
        // Frees of every order over the same frames, as the memory would reuse them.
        let frees = [
            (0u64, 9u8),
            (0, 0),
            (512, 4),
            (528, 2),
            (3, 0),
            (0, 9),
            (16, 4),
        ];
        for (head, order) in frees {
            c.freed(Pfn(head), Order(order));
            for p in head..head + (1 << order) {
                per_page[p as usize] += 1;
            }
        }
        c.freed_pages(Pfn(1000), 24);
        for p in &mut per_page[1000..1024] {
            *p += 1;
        }
        for (pfn, &want) in per_page.iter().enumerate() {
            assert_eq!(c.get(Pfn(pfn as u64)), want, "pfn {pfn}");
        }
    }

    /// The three levels of `a` and `b` over PFNs `0..nr_pages`.
    fn levels_equal(a: &FreeCounts, b: &FreeCounts, nr_pages: u64) -> bool {
        (0..nr_pages).all(|p| {
            let pfn = Pfn(p);
            let (mid, top) = (Pfn(p >> MID_ORDER), Pfn(p >> TOP_ORDER));
            a.pages.get(pfn) == b.pages.get(pfn)
                && a.mid.get(mid) == b.mid.get(mid)
                && a.top.get(top) == b.top.get(top)
        })
    }

    /// An order-0 free counted as a run (`freed_pages`, what `Memory::free_folios` does for
    /// small folios, and so for `Memory::free_folio` of one) leaves every level as
    /// `freed(head, Order(0))` would: random runs over random frames, mixed with frees of
    /// larger orders. Replay: the seed is in the failure message.
    #[test]
    fn an_order_0_free_counted_as_a_run_is_a_free_of_order_0() {
        let nr_pages = 1u64 << 12;
        for seed in 0..8u64 {
            let mut rng = foliolab_types::prng::Prng::new(0xe90c_0000 ^ seed);
            let (mut by_folio, mut by_run) = (FreeCounts::new(nr_pages), FreeCounts::new(nr_pages));
            for step in 0..500 {
                let order = Order([0u8, 0, 0, 1, 4, 9][rng.below(6) as usize]);
                let head = Pfn(rng.below(nr_pages) & !(order.nr_pages() - 1));
                if order.0 != 0 {
                    by_folio.freed(head, order);
                    by_run.freed(head, order);
                    continue;
                }
                let nr = 1 + rng.below(16.min(nr_pages - head.0));
                for p in head.0..head.0 + nr {
                    by_folio.freed(Pfn(p), Order(0));
                }
                by_run.freed_pages(head, nr as usize);
                assert!(
                    levels_equal(&by_folio, &by_run, nr_pages),
                    "seed {seed} step {step}: {nr} pages from {head:?}"
                );
            }
        }
    }
}
