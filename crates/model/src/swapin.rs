//! Swap-in: `do_swap_page` on a synchronous device (the probe's compressed RAM). A swap-cache
//! hit maps that page; an entry with swap count 1 skips the swap cache and is read into a
//! fresh folio, large when `alloc_swap_folio` finds an enabled mTHP order whose aligned range
//! is all swap entries with contiguous offsets, the same bits, one zeromap state and no
//! cached slot; any other entry is read through the swap cache at order 0.

use crate::era::{SwapinCache, SwapinOrder};
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::MthpStat;
use foliolab_mem::{PageFlags, Pte, VmFlags, Vma};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_ORDER};

/// What a swap-in maps: `nr` pages of `folio` from `page` at `va`, whose first slot is `slot`.
struct Swapin {
    folio: FolioRef,
    page: Pfn,
    va: VirtAddr,
    slot: u64,
    nr: u64,
    /// Read from the swap cache (mapped with `folio_add_anon_rmap_ptes` if already anon).
    cached: bool,
}

impl Model {
    /// `do_swap_page` for the swap PTE at `va`.
    pub(crate) fn do_swap_page(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        write: bool,
    ) -> Result<(), ModelError> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        let slot = pte.swap_offset();
        let dev = self
            .swap
            .as_ref()
            .ok_or_else(|| ModelError::Unsupported("a swap entry without a swap device".into()))?;
        let s = if let Some(page) = dev.cached(slot) {
            self.mem.ref_add(self.mem.folio_of(page), 1);
            self.cached_swapin(pid, page, va, pte)?
        } else if dev.count(slot) == 1 {
            self.fresh_swapin(pid, va, pte)?
        } else {
            let page = self.swapin_through_cache(pid, va, pte)?;
            self.cached_swapin(pid, page, va, pte)?
        };
        self.map_swapin(pid, s, pte, write)
    }

    /// Era: the swap-cache read of a shared entry. Order 0 (`swap_cluster_readahead` of one
    /// page) up to 6.18; 7.x allocates the order `alloc_swap_folio` would and adds the whole
    /// folio to the swap cache. Returns the page of the faulting entry.
    fn swapin_through_cache(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        pte: Pte,
    ) -> Result<Pfn, ModelError> {
        let slot = pte.swap_offset();
        if self.era.swapin_cache == SwapinCache::Small {
            return Ok(self.read_swap_cache(slot)?.head);
        }
        let vma = self.vma_at(pid, va)?;
        let f = self.alloc_swap_folio(pid, &vma, va, pte)?;
        let idx = (va.0 - va.align_down(f.order.size_bytes()).0) / PAGE_SIZE;
        self.mem.page_mut(f.head).flags.set(
            PageFlags::SWAPBACKED | PageFlags::LRU | PageFlags::UPTODATE,
            true,
        );
        self.add_to_swap_cache(f, slot - idx);
        self.swap_read(f, slot - idx);
        Ok(f.head.add(idx))
    }

    /// A swap-cache hit. Era: with [`SwapinCache::Large`], a large folio is mapped whole when
    /// its range lies inside the VMA and one page table and every PTE of it holds the
    /// matching swap entry with the faulting one's exclusive marker (`do_swap_page`'s
    /// `swap_pte_batch` check); otherwise the faulting page alone.
    fn cached_swapin(
        &self,
        pid: Pid,
        page: Pfn,
        va: VirtAddr,
        pte: Pte,
    ) -> Result<Swapin, ModelError> {
        let folio = self.folio_of_page(page);
        let slot = pte.swap_offset();
        let one = Swapin {
            folio,
            page,
            va,
            slot,
            nr: 1,
            cached: true,
        };
        if self.era.swapin_cache == SwapinCache::Small || !folio.is_large() {
            return Ok(one);
        }
        let nr = folio.nr_pages();
        let idx = page.0 - folio.head.0;
        let start = VirtAddr(va.0 - idx * PAGE_SIZE);
        let vma = self.vma_at(pid, va)?;
        let pmd_start = va.align_down(PMD_ORDER.size_bytes());
        let inside = start >= vma.start.max(pmd_start)
            && start.0 + nr * PAGE_SIZE <= vma.end.0.min(pmd_start.0 + PMD_ORDER.size_bytes());
        let pt = &self.proc(pid).aspace.pt;
        let batch = inside
            && (0..nr).all(|i| {
                let p = pt.pte(start.add(i * PAGE_SIZE));
                p.is_swap()
                    && p.swap_offset() + idx == slot + i
                    && p.swp_exclusive() == pte.swp_exclusive()
            });
        if !batch {
            return Ok(one);
        }
        Ok(Swapin {
            folio,
            page: folio.head,
            va: start,
            slot: slot - idx,
            nr,
            cached: true,
        })
    }

    /// The swap-cache bypass: a fresh folio (`alloc_swap_folio`), read directly.
    fn fresh_swapin(&mut self, pid: Pid, va: VirtAddr, pte: Pte) -> Result<Swapin, ModelError> {
        let vma = self.vma_at(pid, va)?;
        let f = self.alloc_swap_folio(pid, &vma, va, pte)?;
        let nr = f.nr_pages();
        let start = va.align_down(f.order.size_bytes());
        let idx = (va.0 - start.0) / PAGE_SIZE;
        let slot = pte.swap_offset() - idx;
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::SWAPBACKED | PageFlags::LRU, true);
        self.swap_read(f, slot);
        Ok(Swapin {
            folio: f,
            page: f.head,
            va: start,
            slot,
            nr,
            cached: false,
        })
    }

    /// `alloc_swap_folio`: the highest enabled, suitable order below PMD order whose aligned
    /// range can be swapped in whole, falling back order by order on allocation failure.
    fn alloc_swap_folio(
        &mut self,
        pid: Pid,
        vma: &Vma,
        va: VirtAddr,
        pte: Pte,
    ) -> Result<FolioRef, ModelError> {
        let mut orders = match self.era.swapin {
            SwapinOrder::Large => self.anon_orders(vma),
            SwapinOrder::Small => Vec::new(),
        };
        orders.retain(|&o| o < PMD_ORDER && o.0 > 0 && Self::suitable(vma, va, o));
        orders.sort_by(|a, b| b.cmp(a));
        let page_idx = va.0 / PAGE_SIZE;
        let slot = pte.swap_offset();
        if let Some(i) = orders
            .iter()
            .position(|o| page_idx % o.nr_pages() == slot % o.nr_pages())
        {
            orders.drain(..i);
        } else {
            orders.clear();
        }
        if let Some(i) = orders
            .iter()
            .position(|&o| self.can_swapin_thp(pid, va, pte, o))
        {
            for &o in &orders[i..] {
                match self.alloc_folio(o) {
                    Ok(f) => return Ok(f),
                    Err(_) => self.stats.count_mthp(o, MthpStat::SwpinFallback, 1),
                }
            }
        }
        self.alloc_folio(Order(0))
    }

    /// `can_swapin_thp`: the aligned range holds swap entries continuing the faulting one
    /// (same exclusive marker, contiguous offsets), all in or all out of the zeromap, none
    /// in the swap cache.
    fn can_swapin_thp(&self, pid: Pid, va: VirtAddr, pte: Pte, order: Order) -> bool {
        let nr = order.nr_pages();
        let start = va.align_down(order.size_bytes());
        let idx = (va.0 - start.0) / PAGE_SIZE;
        let first_slot = pte.swap_offset() - idx;
        let pt = &self.proc(pid).aspace.pt;
        let dev = self.swap.as_ref().expect("a swap device");
        let batch = (0..nr).all(|i| {
            let p = pt.pte(start.add(i * PAGE_SIZE));
            p.is_swap()
                && p.swap_offset() == first_slot + i
                && p.swp_exclusive() == pte.swp_exclusive()
        });
        let zero = dev.is_zeromap(first_slot);
        let uniform = self.swapin_ignores_zeromap()
            || (0..nr).all(|i| dev.is_zeromap(first_slot + i) == zero);
        let uncached = (0..nr).all(|i| dev.cached(first_slot + i).is_none());
        batch && uniform && uncached
    }

    fn swapin_ignores_zeromap(&self) -> bool {
        #[cfg(feature = "test-variants")]
        if self.variants.swapin_zeromap_first_only {
            return true;
        }
        false
    }

    /// The mapping half of `do_swap_page`: free the entries, maybe free the swap cache, map
    /// writable when certainly exclusive, then the rmap call and the PTEs; a write fault
    /// that could not map writable continues in `do_wp_page`.
    fn map_swapin(&mut self, pid: Pid, s: Swapin, pte: Pte, write: bool) -> Result<(), ModelError> {
        let f = s.folio;
        let exclusive = !s.cached || pte.swp_exclusive();
        let sole_user = write && self.reuse_swap_page(f, s.slot);
        for i in 0..s.nr {
            self.swap_dev().put(s.slot + i);
        }
        let in_cache = self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE);
        // Era: before 7.x a write fault that will likely be the exclusive user tries to free
        // the swap cache before mapping; 7.x tries after every swap-in (below).
        let always = self.era.swapin_cache == SwapinCache::Large;
        if in_cache && !always && write && self.mem.refcount(f.head) as u64 == 1 + f.nr_pages() {
            self.folio_free_swap(f);
        }
        self.add_rss(pid, RssCounter::Anon, s.nr as i64);
        self.add_rss(pid, RssCounter::Swap, -(s.nr as i64));
        let vma = self.vma_at(pid, s.va)?;
        let reuse = exclusive || self.mem.refcount(f.head) == 1 || sole_user;
        if sole_user {
            // 5.10: `reuse_swap_page` deletes the page from the swap cache and dirties it.
            self.folio_free_swap(f);
        }
        // Era: before 6.12 (measured on 5.10 and 6.1) only a write fault maps it writable.
        let writable =
            reuse && vma.flags.has(VmFlags::WRITE) && (write || self.era.swapin_writable_on_read);
        self.mem.ref_add(f.head, s.nr as i32 - 1);
        self.swapin_rmap(pid, &s, reuse)?;
        let dirty = writable && write;
        let pt = &mut self.proc_mut(pid).aspace.pt;
        for i in 0..s.nr {
            pt.set_pte(
                s.va.add(i * PAGE_SIZE),
                Pte::present(s.page.add(i), writable, dirty),
            );
        }
        // 7.x: after mapping, always for a synchronous device; it succeeds once no entry
        // uses the slots (the mapping above saw the cache's references).
        if in_cache && always {
            self.folio_free_swap(f);
        }
        if write && !writable {
            return self.do_wp_page(pid, s.va);
        }
        Ok(())
    }

    /// Era: without PageAnonExclusive (5.10), a write fault's `reuse_swap_page`: a page in
    /// the swap cache whose mappings and swap references, the faulting entry's included,
    /// count at most one is reused, whatever else holds a reference (a pipe's: the leak of
    /// CVE-2020-29374 through swap, measured on 5.10: tests/cow 03/04 `*-swapped`).
    fn reuse_swap_page(&self, f: FolioRef, slot: u64) -> bool {
        if self.era.anon_exclusive || f.is_large() {
            return false;
        }
        let dev = self.swap.as_ref().expect("a swap device");
        self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE)
            && self.folio_mapcount(f) + dev.count(slot) as i64 <= 1
    }

    /// `folio_add_new_anon_rmap` for a folio that is not anon yet, otherwise
    /// `folio_add_anon_rmap_ptes`; RMAP_EXCLUSIVE sets AnonExclusive on the mapped pages.
    fn swapin_rmap(&mut self, pid: Pid, s: &Swapin, exclusive: bool) -> Result<(), ModelError> {
        let f = s.folio;
        if !self.mem.page(f.head).flags.has(PageFlags::ANON) {
            let anon_vma = self.anon_vma_prepare(pid, s.va);
            self.rmap_add_new_anon(f, At(pid, s.va), anon_vma, Cause::Fault);
        } else {
            self.rmap_add(At(pid, s.va), f, s.page, s.nr, Level::Pte, Cause::Fault);
        }
        for i in 0..s.nr {
            self.mem
                .page_mut(s.page.add(i))
                .flags
                .set(PageFlags::ANON_EXCLUSIVE, exclusive);
        }
        Ok(())
    }
}
