//! A swap device: slots with their swap counts (`swap_map` without `SWAP_HAS_CACHE`), the
//! swap cache (slot to the page caching it: `SWAP_HAS_CACHE`), the zeromap (slots whose page
//! was all zero and was recorded instead of written) and the data written to each slot.
//! State only: the model decides when entries are duplicated, freed or cached.

use crate::memory::Content;
use foliolab_types::{Order, Pfn};
use std::collections::{BTreeMap, BTreeSet};

/// One swap device (the probe uses compressed RAM, a synchronous device).
#[derive(Clone, Debug, Default)]
pub struct SwapDevice {
    /// Swap count of each slot, unbiased: the swap PTEs that reference it (0: free unless
    /// the swap cache holds it). Slot 0 is the header, never used.
    count: Vec<u32>,
    /// The slots whose count is not zero (so checks visit only those).
    counted: BTreeSet<u64>,
    /// The swap cache: slot to the page that caches it.
    cache: BTreeMap<u64, Pfn>,
    /// Slots whose page was all zeros when written (read back as zeros, no I/O).
    zeromap: BTreeSet<u64>,
    /// What each written slot holds.
    data: BTreeMap<u64, Content>,
    /// Slots whose count, cache entry or data changed since the last clear.
    pub touched: crate::dirty::Marks,
}

impl SwapDevice {
    /// A device of `size_bytes` (4K slots; the first is the header and never used).
    pub fn new(size_bytes: u64) -> SwapDevice {
        SwapDevice {
            count: vec![0; (size_bytes / 4096) as usize],
            ..SwapDevice::default()
        }
    }

    pub fn nr_slots(&self) -> u64 {
        self.count.len() as u64
    }

    /// A slot is in use while a PTE or the swap cache references it.
    pub fn in_use(&self, slot: u64) -> bool {
        self.count(slot) > 0 || self.cache.contains_key(&slot)
    }

    pub fn count(&self, slot: u64) -> u32 {
        self.count.get(slot as usize).copied().unwrap_or(0)
    }

    /// Slots in use, in order.
    pub fn used_slots(&self) -> Vec<u64> {
        (1..self.nr_slots()).filter(|&s| self.in_use(s)).collect()
    }

    /// `folio_alloc_swap`: `1 << order` free slots, naturally aligned, lowest first. `None` when the device has no such run (the large-folio fallback).
    pub fn alloc(&self, order: Order) -> Option<u64> {
        let nr = order.nr_pages();
        // Slot 0 is the header; an aligned run of up to a cluster never crosses one.
        let mut start = nr;
        while start + nr <= self.nr_slots() {
            if (start..start + nr).all(|s| !self.in_use(s)) {
                return Some(start);
            }
            start += nr;
        }
        None
    }

    /// `swap_duplicate`: one more PTE references `slot`.
    pub fn dup(&mut self, slot: u64) {
        self.touched.mark(slot);
        self.count[slot as usize] += 1;
        self.counted.insert(slot);
    }

    /// The slots some PTE references, in order, with their counts.
    pub fn counted_slots(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.counted.iter().map(|&s| (s, self.count(s)))
    }

    /// Drops one PTE reference; true when the slot has become free (no cache either).
    pub fn put(&mut self, slot: u64) -> bool {
        self.touched.mark(slot);
        let c = &mut self.count[slot as usize];
        assert!(*c > 0, "swap count underflow at slot {slot:#x}");
        *c -= 1;
        if *c == 0 {
            self.counted.remove(&slot);
        }
        self.free_if_unused(slot)
    }

    /// Frees the slot's zeromap bit and data when nothing references it.
    fn free_if_unused(&mut self, slot: u64) -> bool {
        if self.in_use(slot) {
            return false;
        }
        self.zeromap.remove(&slot);
        self.data.remove(&slot);
        true
    }

    pub fn cached(&self, slot: u64) -> Option<Pfn> {
        self.cache.get(&slot).copied()
    }

    pub fn add_to_cache(&mut self, slot: u64, page: Pfn) {
        self.touched.mark(slot);
        let old = self.cache.insert(slot, page);
        assert!(old.is_none(), "slot {slot:#x} is already cached");
    }

    /// Removes `slot` from the swap cache; true when the slot has become free.
    pub fn remove_from_cache(&mut self, slot: u64) -> bool {
        self.touched.mark(slot);
        self.cache.remove(&slot);
        self.free_if_unused(slot)
    }

    /// Every cached slot and its page.
    pub fn cache_entries(&self) -> impl Iterator<Item = (u64, Pfn)> + '_ {
        self.cache.iter().map(|(s, p)| (*s, *p))
    }

    /// Writeout of one page: a zero page only sets the zeromap bit; otherwise the data is
    /// stored and the bit cleared (`swap_zeromap_folio_clear`). The content is kept either
    /// way so that reads can be traced to their writer.
    pub fn write(&mut self, slot: u64, content: Content, zero: bool) {
        self.touched.mark(slot);
        if zero {
            self.zeromap.insert(slot);
        } else {
            self.zeromap.remove(&slot);
        }
        self.data.insert(slot, content);
    }

    /// Whether the slot has a zeromap bit or data.
    pub fn has_state(&self, slot: u64) -> bool {
        self.zeromap.contains(&slot) || self.data.contains_key(&slot)
    }

    pub fn is_zeromap(&self, slot: u64) -> bool {
        self.zeromap.contains(&slot)
    }

    /// What reading the slot from the device returns.
    pub fn read(&self, slot: u64) -> Content {
        self.data.get(&slot).copied().unwrap_or_default()
    }

    /// Slots with a zeromap bit or data (for checks: only used slots may have them).
    pub fn slots_with_state(&self) -> Vec<u64> {
        let mut v: BTreeSet<u64> = self.zeromap.iter().copied().collect();
        v.extend(self.data.keys().copied());
        v.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_allocations_are_aligned_and_skip_used_slots() {
        let mut d = SwapDevice::new(1 << 20);
        assert_eq!(d.alloc(Order(0)), Some(1));
        d.dup(1);
        assert_eq!(d.alloc(Order(4)), Some(16));
        assert_eq!(d.alloc(Order(0)), Some(2));
    }

    #[test]
    fn a_slot_is_freed_when_its_count_and_cache_are_gone() {
        let mut d = SwapDevice::new(1 << 20);
        d.add_to_cache(5, Pfn(100));
        d.dup(5);
        d.write(5, Content { value: 0, tag: 3 }, true);
        assert!(!d.remove_from_cache(5));
        assert!(d.is_zeromap(5));
        assert!(d.put(5));
        assert!(!d.is_zeromap(5));
        assert!(d.slots_with_state().is_empty());
    }

    #[test]
    fn a_device_too_small_for_a_large_folio_has_no_run() {
        let d = SwapDevice::new(16 * 4096);
        assert_eq!(d.alloc(Order(4)), None);
        assert_eq!(d.alloc(Order(0)), Some(1));
    }
}
