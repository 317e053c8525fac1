//! Swap-out and the swap cache: reclaim of swap-backed anon folios when a swap device exists
//! (`shrink_folio_list`: `folio_alloc_swap`, `try_to_unmap_one`, `swap_writeout` with the
//! zeromap, `__remove_mapping`), swap entries at zap and fork, `free_swap_cache`,
//! `folio_free_swap`, MADV_WILLNEED readahead into the swap cache, and the swap invariants.

use crate::era::SplitReclaimOrder;
use crate::model::{Model, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::{PageFlags, PmdEntry, Pte, SwapDevice};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_SIZE};
use std::collections::{BTreeMap, BTreeSet};

impl Model {
    /// The `swap` statement: a swap device of `size_bytes`.
    pub fn enable_swap(&mut self, size_bytes: u64) {
        self.swap = Some(SwapDevice::new(size_bytes));
    }

    pub(crate) fn swap_dev(&mut self) -> &mut SwapDevice {
        self.swap.as_mut().expect("a swap device")
    }

    /// `folio->swap`: the first slot of a swap-cache folio.
    pub(crate) fn folio_slot(&self, f: FolioRef) -> Option<u64> {
        let dev = self.swap.as_ref()?;
        dev.cache_entries()
            .find(|&(_, p)| p == f.head)
            .map(|(slot, _)| slot)
    }

    /// Reclaim of one isolated swap-backed anon folio with a swap device.
    pub(crate) fn swap_out_folio(&mut self, head: Pfn) {
        let f = self.folio(head);
        let in_swapcache = self.mem.page(head).flags.has(PageFlags::SWAPCACHE);
        // `shrink_folio_list` keeps a maybe-DMA-pinned folio before it tries the swap cache.
        if !in_swapcache && self.folio_maybe_dma_pinned(f, 0) {
            return;
        }
        if !in_swapcache && !self.add_to_swap(f) {
            return;
        }
        if !self.live.contains(&head) || self.folio(head) != f {
            return;
        }
        self.try_to_unmap_swap(f);
        if self.mem.page(head).flags.has(PageFlags::DIRTY) {
            self.swap_writeout(f);
        }
        if self.mem.refcount(head) as u64 == f.nr_pages() {
            self.delete_from_swap_cache(f);
        }
    }

    /// The `!folio_test_swapcache` part of `shrink_folio_list`; false when the folio was
    /// activated or split and its pieces already reclaimed.
    fn add_to_swap(&mut self, f: FolioRef) -> bool {
        if f.is_large() {
            if self.mem.refcount(f.head) as i64 != self.folio_mapcount(f) {
                self.activate(f.head);
                return false;
            }
            if self.is_queued(f) && self.is_partially_mapped(f) {
                if self.split_folio(f) {
                    self.swap_out_pieces(f);
                } else {
                    self.activate(f.head);
                }
                return false;
            }
        }
        match self.swap_dev().alloc(f.order) {
            Some(slot) => {
                self.add_to_swap_cache(f, slot);
                self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
                true
            }
            None if f.is_large() && self.split_folio(f) => {
                if f.pmd_mappable() {
                    self.stats.count_vm(VmStat::ThpSwpoutFallback, 1);
                }
                self.stats.count_mthp(f.order, MthpStat::SwpoutFallback, 1);
                self.swap_out_pieces(f);
                false
            }
            None => {
                self.activate(f.head);
                false
            }
        }
    }

    /// The order-0 folios a split left of `f`, reclaimed one by one: the head goes on, the
    /// tails were added to the end of the folio list, which reclaim takes from the end.
    /// Era: in which order the split added them.
    fn swap_out_pieces(&mut self, f: FolioRef) {
        let tails: Vec<u64> = match self.era.split_reclaim_order {
            SplitReclaimOrder::LastFirst => (1..f.nr_pages()).rev().collect(),
            SplitReclaimOrder::InOrder => (1..f.nr_pages()).collect(),
        };
        for i in std::iter::once(0).chain(tails) {
            let p = f.head.add(i);
            if self.live.contains(&p) {
                self.swap_out_folio(p);
            }
        }
    }

    fn activate(&mut self, head: Pfn) {
        self.mem.page_mut(head).flags.set(PageFlags::ACTIVE, true);
    }

    /// `add_to_swap_cache`: one reference per page.
    pub(crate) fn add_to_swap_cache(&mut self, f: FolioRef, slot: u64) {
        for i in 0..f.nr_pages() {
            self.swap_dev().add_to_cache(slot + i, f.head.add(i));
        }
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::SWAPCACHE, true);
        self.mem.ref_add(f.head, f.nr_pages() as i32);
    }

    /// `delete_from_swap_cache` plus `put_swap_folio`: drops the cache's references (which
    /// may free the folio) and frees slots no PTE references.
    pub(crate) fn delete_from_swap_cache(&mut self, f: FolioRef) {
        let Some(slot) = self.folio_slot(f) else {
            return;
        };
        for i in 0..f.nr_pages() {
            self.swap_dev().remove_from_cache(slot + i);
        }
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::SWAPCACHE, false);
        self.put_folio(f.head, f.nr_pages() as i32);
    }

    /// `folio_free_swap`: leaves the swap cache if no PTE references its slots any more.
    pub(crate) fn folio_free_swap(&mut self, f: FolioRef) -> bool {
        let Some(slot) = self.folio_slot(f) else {
            return false;
        };
        let dev = self.swap.as_ref().expect("a swap device");
        if (0..f.nr_pages()).any(|i| dev.count(slot + i) > 0) {
            return false;
        }
        self.delete_from_swap_cache(f);
        // The swap copy is gone: the folio holds the only copy of the data now.
        self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
        true
    }

    /// `free_swap_cache` (mmu_gather, before the references are dropped): an unmapped
    /// swap-cache folio leaves the cache when its slots are otherwise unused.
    pub(crate) fn free_swap_cache(&mut self, head: Pfn) {
        if !self.mem.page(head).flags.has(PageFlags::SWAPCACHE) {
            return;
        }
        let f = self.folio(head);
        if !self.folio_mapped(f) {
            self.folio_free_swap(f);
        }
    }

    /// `try_to_unmap` with TTU_SPLIT_HUGE_PMD: PMDs are split, then every PTE becomes a swap
    /// entry one at a time (`folio_try_share_anon_rmap_pte` moves AnonExclusive to the
    /// entry's exclusive marker).
    fn try_to_unmap_swap(&mut self, f: FolioRef) {
        for (pid, va, pmd, _) in self.mappings_of(f) {
            if pmd {
                self.split_huge_pmd(pid, va);
            }
        }
        let first = self.folio_slot(f).expect("a swap-cache folio");
        for (pid, va, _, pte) in self.mappings_of(f) {
            let page = pte.pfn();
            let slot = first + page.offset_from(f.head);
            if pte.dirty() {
                self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
            }
            self.swap_dev().dup(slot);
            let exclusive = self.page_anon_exclusive(page);
            self.mem
                .page_mut(page)
                .flags
                .set(PageFlags::ANON_EXCLUSIVE, false);
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pte(va, Pte::swap(slot, exclusive));
            self.add_rss(pid, RssCounter::Anon, -1);
            self.add_rss(pid, RssCounter::Swap, 1);
            self.rmap_remove(At(pid, va), f, page, 1, Level::Pte, Cause::Zap);
            self.put_folio(f.head, 1);
        }
    }

    /// `swap_writeout`: an all-zero folio only sets its zeromap bits; anything else is
    /// written (`swpout`, `thp_swpout`, `pswpout`).
    fn swap_writeout(&mut self, f: FolioRef) {
        let slot = self.folio_slot(f).expect("a swap-cache folio");
        let zero = (0..f.nr_pages()).all(|i| self.mem.content(f.head.add(i)).value == 0);
        for i in 0..f.nr_pages() {
            let c = self.mem.content(f.head.add(i));
            self.swap_dev().write(slot + i, c, zero);
        }
        self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, false);
        if zero {
            return;
        }
        self.stats.count_mthp(f.order, MthpStat::Swpout, 1);
        if f.pmd_mappable() {
            self.stats.count_vm(VmStat::ThpSwpout, 1);
        }
        self.stats.count_vm(VmStat::Pswpout, f.nr_pages() as i64);
    }

    /// Zap of one swap PTE (`free_swap_and_cache_nr`): the count drops; a slot left with only
    /// an unmapped swap-cache folio frees that folio's swap.
    pub(crate) fn zap_swap_entry(&mut self, pid: Pid, va: VirtAddr, pte: Pte) {
        self.proc_mut(pid).aspace.pt.set_pte(va, Pte::NONE);
        self.add_rss(pid, RssCounter::Swap, -1);
        let slot = pte.swap_offset();
        self.swap_dev().put(slot);
        let dev = self.swap.as_ref().expect("a swap device");
        if dev.count(slot) > 0 {
            return;
        }
        if let Some(page) = dev.cached(slot) {
            let f = self.folio_of_page(page);
            if !self.folio_mapped(f) {
                self.folio_free_swap(f);
            }
        }
    }

    /// Fork of one swap PTE (`copy_nonpresent_pte`): one more reference, and the entry is
    /// marked shared in parent and child. Returns the child's entry.
    pub(crate) fn dup_swap_entry(&mut self, child: Pid, pte: Pte) -> Pte {
        self.swap_dev().dup(pte.swap_offset());
        self.add_rss(child, RssCounter::Swap, 1);
        pte.with_swp_exclusive(false)
    }

    /// MADV_WILLNEED on anonymous memory (`swapin_walk_pmd_entry`): every swap entry in
    /// [start, end) is read into the swap cache as an order-0 folio, not mapped.
    pub(crate) fn willneed_swapin(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        if self.swap.is_none() {
            return;
        }
        let mut va = start;
        while va < end {
            let pt = &self.proc(pid).aspace.pt;
            if pt.pmd_leaf(va).is_some() || !matches!(pt.pmd(va), Some(PmdEntry::Table(_))) {
                va = va.align_down(PMD_SIZE).add(PMD_SIZE);
                continue;
            }
            let pte = pt.pte(va);
            if pte.is_swap() && self.swap_dev().cached(pte.swap_offset()).is_none() {
                if let Ok(f) = self.read_swap_cache(pte.swap_offset()) {
                    self.put_folio(f.head, 1);
                }
            }
            va = va.add(PAGE_SIZE);
        }
    }

    /// `__read_swap_cache_async`: a new order-0 folio in the swap cache holding the slot's
    /// data, with the caller's reference on top of the cache's.
    pub(crate) fn read_swap_cache(
        &mut self,
        slot: u64,
    ) -> Result<FolioRef, crate::model::ModelError> {
        let f = self.alloc_folio(Order(0))?;
        self.mem.page_mut(f.head).flags.set(
            PageFlags::SWAPBACKED | PageFlags::LRU | PageFlags::UPTODATE,
            true,
        );
        self.add_to_swap_cache(f, slot);
        self.swap_read(f, slot);
        Ok(f)
    }

    /// `swap_read_folio`: zeromap entries read as zeros (not counted); others are read from
    /// the device (`pswpin`, per-size `swpin`).
    pub(crate) fn swap_read(&mut self, f: FolioRef, slot: u64) {
        let dev = self.swap.as_ref().expect("a swap device");
        let zero = self.read_as_zero(dev, slot, f.nr_pages());
        for i in 0..f.nr_pages() {
            let c = if zero[i as usize] {
                foliolab_mem::Content {
                    value: 0,
                    ..dev.read(slot + i)
                }
            } else {
                dev.read(slot + i)
            };
            self.mem.set_content(f.head.add(i), c);
        }
        if zero.iter().all(|&z| z) {
            return;
        }
        self.stats.count_mthp(f.order, MthpStat::Swpin, 1);
        self.stats.count_vm(VmStat::Pswpin, f.nr_pages() as i64);
    }

    /// Which pages of a read of `nr` slots come back zero-filled from the zeromap.
    fn read_as_zero(&self, dev: &SwapDevice, slot: u64, nr: u64) -> Vec<bool> {
        #[cfg(feature = "test-variants")]
        if self.variants.swapin_zeromap_first_only {
            return vec![dev.is_zeromap(slot); nr as usize];
        }
        (0..nr).map(|i| dev.is_zeromap(slot + i)).collect()
    }

    /// Swap invariants: each slot's count equals the swap PTEs that reference it; cached
    /// slots point at live swap-cache folios at the right page; every swap-cache folio is
    /// cached whole; per-mm `MM_SWAPENTS` equals its swap PTEs; free slots hold no state.
    pub(crate) fn check_swap(&self, out: &mut Vec<String>) {
        let Some(dev) = &self.swap else {
            return;
        };
        let mut refs: BTreeMap<u64, u32> = BTreeMap::new();
        for (pid, p) in self.processes() {
            let mut n = 0i64;
            for (_, e) in p.aspace.pt.iter() {
                if let PmdEntry::Table(t) = e {
                    for pte in t.ptes.iter().filter(|p| p.is_swap()) {
                        *refs.entry(pte.swap_offset()).or_default() += 1;
                        n += 1;
                    }
                }
            }
            if p.rss[RssCounter::Swap as usize] != n {
                out.push(format!(
                    "{pid:?}: MM_SWAPENTS {}, page tables hold {n} swap entries",
                    p.rss[RssCounter::Swap as usize]
                ));
            }
        }
        // Only slots that a PTE or the device counts can differ.
        let mut slots: BTreeSet<u64> = refs.keys().copied().collect();
        slots.extend(dev.counted_slots().map(|(s, _)| s));
        for slot in slots.range(1..dev.nr_slots()).copied() {
            let want = refs.get(&slot).copied().unwrap_or(0);
            if dev.count(slot) != want {
                out.push(format!(
                    "swap slot {slot:#x}: count {}, {want} swap PTEs",
                    dev.count(slot)
                ));
            }
        }
        for slot in dev.slots_with_state() {
            if !dev.in_use(slot) {
                out.push(format!("swap slot {slot:#x} is free but holds data"));
            }
        }
        self.check_swap_cache(dev, out);
    }

    fn check_swap_cache(&self, dev: &SwapDevice, out: &mut Vec<String>) {
        for (slot, page) in dev.cache_entries() {
            let head = self.mem.folio_of(page);
            let ok = self.live.contains(&head)
                && self.mem.page(head).flags.has(PageFlags::SWAPCACHE)
                && self
                    .folio_slot(self.folio(head))
                    .map(|s| s + page.offset_from(head))
                    == Some(slot);
            if !ok {
                out.push(format!(
                    "swap slot {slot:#x}: cached page {page:?} is not its swap-cache folio"
                ));
            }
        }
        for head in self.live.iter() {
            let f = self.folio(head);
            if !self.mem.page(head).flags.has(PageFlags::SWAPCACHE) {
                continue;
            }
            let whole = self
                .folio_slot(f)
                .is_some_and(|s| (0..f.nr_pages()).all(|i| dev.cached(s + i) == Some(head.add(i))));
            if !whole {
                out.push(format!("{head:?}: SWAPCACHE but not cached whole"));
            }
        }
    }
}
