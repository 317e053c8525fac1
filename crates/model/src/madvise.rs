//! madvise advice that walks the page tables: MADV_POPULATE_{READ,WRITE}, MADV_COLD,
//! MADV_PAGEOUT and MADV_FREE (`madvise_cold_or_pageout_pte_range`,
//! `madvise_free_pte_range`), and the reclaim that MADV_PAGEOUT triggers when there is no
//! swap device: large folios are split (`shrink_folio_list`: add_to_swap fails, the folio is
//! split, `swpout_fallback` is counted) and stay mapped; clean lazyfree folios are dropped.

use crate::batch::folio_pte_batch;
use crate::era::MadviseLarge;
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::{MthpStat, VmStat};
use crate::vmops::Advice;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};
use std::collections::BTreeSet;

impl Model {
    /// MADV_POPULATE_READ / _WRITE: fault every page in as a read or a write would (GUP
    /// faults are not charged to the process's fault counters).
    pub(crate) fn populate(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        write: bool,
    ) -> Result<(), ModelError> {
        let mut va = start;
        while va < end {
            let vma = self.vma_at(pid, va)?;
            let allowed = vma.flags.has(foliolab_mem::VmFlags::READ)
                && (!write || vma.flags.has(foliolab_mem::VmFlags::WRITE));
            if !allowed {
                return Err(ModelError::Segv {
                    va,
                    reason: "the protection forbids populating",
                });
            }
            if self.needs_fault(pid, va, write) {
                self.handle_mm_fault(pid, va, write)?;
            }
            va = va.add(PAGE_SIZE);
        }
        Ok(())
    }

    /// MADV_COLD, MADV_PAGEOUT or MADV_FREE over [start, end) inside one VMA.
    pub(crate) fn reclaim_advice(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        advice: Advice,
    ) {
        let mut picked: Vec<Pfn> = Vec::new();
        let mut addr = start;
        while addr < end {
            let haddr = addr.align_down(PMD_SIZE);
            let pmd_end = VirtAddr((haddr.0 + PMD_SIZE).min(end.0));
            self.advise_pmd_range(pid, addr, pmd_end, advice, &mut picked);
            addr = pmd_end;
        }
        if advice == Advice::Pageout {
            let mut seen = BTreeSet::new();
            for head in picked {
                if seen.insert(head) && self.live.contains(&head) {
                    self.reclaim_folio(head);
                }
            }
        }
    }

    fn advise_pmd_range(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        advice: Advice,
        picked: &mut Vec<Pfn>,
    ) {
        let haddr = start.align_down(PMD_SIZE);
        if let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(haddr) {
            if leaf.is_special() {
                return;
            }
            let f = self.folio_of_page(leaf.pfn());
            if !f.anon || self.pmd_skips_shared(f, advice) {
                return;
            }
            if start == haddr && end.0 == haddr.0 + PMD_SIZE {
                self.advise_whole_pmd(pid, haddr, leaf, f, advice, picked);
                return;
            }
            if !self.split_folio(f) {
                return;
            }
        }
        if !matches!(
            self.proc(pid).aspace.pt.pmd(haddr),
            Some(PmdEntry::Table(_))
        ) {
            return;
        }
        let mut va = start;
        while va < end {
            match self.advise_pte(pid, va, end, advice, picked) {
                Some(nr) => va = va.add(nr * PAGE_SIZE),
                None => break,
            }
        }
    }

    /// Whether MADV_COLD/PAGEOUT/FREE leaves a PMD-mapped folio alone as maybe shared.
    fn pmd_skips_shared(&self, f: FolioRef, advice: Advice) -> bool {
        // Era: 5.10/6.1's `madvise_free_huge_pmd` tests `total_mapcount(page) != 1` (cold
        // and pageout the head page's mapcount, as the design's madvise test does).
        if advice == Advice::Free && self.era.madvise_large == MadviseLarge::SplitEveryPteMapped {
            return self.folio_mapcount(f) != 1;
        }
        self.madvise_skips_shared(f)
    }

    fn advise_whole_pmd(
        &mut self,
        pid: Pid,
        haddr: VirtAddr,
        leaf: Pte,
        f: FolioRef,
        advice: Advice,
        picked: &mut Vec<Pfn>,
    ) {
        match advice {
            Advice::Free => {
                if self.folio_mapcount(f) != 1 {
                    return;
                }
                self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, false);
                let new = leaf.with_young(false).with_dirty(false);
                self.proc_mut(pid)
                    .aspace
                    .pt
                    .set_pmd(haddr, Some(PmdEntry::Leaf(new)));
                self.mark_lazyfree(f);
            }
            Advice::Cold => {
                let new = leaf.with_young(false);
                self.proc_mut(pid)
                    .aspace
                    .pt
                    .set_pmd(haddr, Some(PmdEntry::Leaf(new)));
                self.mem
                    .page_mut(f.head)
                    .flags
                    .set(PageFlags::REFERENCED, false);
            }
            _ => picked.push(f.head),
        }
    }

    /// One PTE batch at `va`; `None` stops the walk of this page table (a partially covered
    /// folio that may be shared), otherwise the number of pages handled.
    fn advise_pte(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        end: VirtAddr,
        advice: Advice,
        picked: &mut Vec<Pfn>,
    ) -> Option<u64> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_swap() && advice == Advice::Free {
            self.zap_swap_entry(pid, va, pte);
            return Some(1);
        }
        if !pte.is_present() || pte.is_special() {
            return Some(1);
        }
        let f = self.folio_of_page(pte.pfn());
        if !f.anon {
            // File pages: MADV_COLD and MADV_PAGEOUT leave them alone here (a model
            // simplification, see ARCHITECTURE.md).
            return Some(1);
        }
        let haddr = va.align_down(PMD_SIZE);
        let idx = ((va.0 - haddr.0) / PAGE_SIZE) as usize;
        let max = ((end.0 - va.0) / PAGE_SIZE) as usize;
        let nr = match self.proc(pid).aspace.pt.pmd(haddr) {
            Some(PmdEntry::Table(t)) if f.is_large() => {
                folio_pte_batch(t, idx, f, max, false) as u64
            }
            _ => 1,
        };
        #[cfg(feature = "test-variants")]
        let nr = if self.variants.lazyfree_batch_one_table && f.is_large() {
            self.batch_ignoring_tables(pid, va, f)
        } else {
            nr
        };
        if let Some(r) = self.advise_large_pte(f, pte.pfn(), nr) {
            return r;
        }
        let exclusive = self.folio_mapcount(f) == f.nr_pages() as i64;
        match advice {
            Advice::Free => self.free_batch(pid, va, nr, f),
            _ if !exclusive => {}
            Advice::Cold => {
                self.clear_young(pid, va, nr);
                self.mem
                    .page_mut(f.head)
                    .flags
                    .set(PageFlags::REFERENCED, false);
            }
            _ => picked.push(f.head),
        }
        Some(nr)
    }

    /// The era's rule for a PTE-mapped large folio met at `page` with a batch of `nr`:
    /// `Some` ends this step (see [`Self::advise_pte`]), `None` handles the batch.
    fn advise_large_pte(&mut self, f: FolioRef, page: Pfn, nr: u64) -> Option<Option<u64>> {
        if !f.is_large() {
            return None;
        }
        if self.era.madvise_large == MadviseLarge::SplitEveryPteMapped {
            // 5.10/6.1 (cold, pageout and free alike): `page_mapcount(page) != 1` breaks out
            // of the page table; else `split_huge_page`, and on failure the walk breaks too.
            if self.kpagecount(f, page) != 1 || !self.split_folio(f) {
                return Some(None);
            }
            return Some(Some(0));
        }
        // 6.9+: large folios the range covers in part are skipped if shared, else split.
        if nr < f.nr_pages() {
            if self.madvise_skips_shared(f) {
                return Some(None);
            }
            return Some(if self.split_folio(f) {
                Some(0)
            } else {
                Some(nr)
            });
        }
        None
    }

    fn clear_young(&mut self, pid: Pid, va: VirtAddr, nr: u64) {
        for i in 0..nr {
            let a = va.add(i * PAGE_SIZE);
            let p = self.proc(pid).aspace.pt.pte(a);
            self.proc_mut(pid).aspace.pt.set_pte(a, p.with_young(false));
        }
    }

    /// `madvise_free_pte_range` for one batch of a fully covered folio.
    fn free_batch(&mut self, pid: Pid, va: VirtAddr, nr: u64, f: FolioRef) {
        let flags = self.mem.page(f.head).flags;
        if flags.has(PageFlags::SWAPCACHE) || flags.has(PageFlags::DIRTY) {
            if self.folio_mapcount(f) != f.nr_pages() as i64 {
                return;
            }
            if flags.has(PageFlags::SWAPCACHE) && !self.folio_free_swap(f) {
                return;
            }
            self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, false);
        }
        for i in 0..nr {
            let a = va.add(i * PAGE_SIZE);
            let p = self.proc(pid).aspace.pt.pte(a);
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pte(a, p.with_young(false).with_dirty(false));
        }
        self.mark_lazyfree(f);
    }

    /// `folio_mark_lazyfree`: an anon folio stops being swap-backed.
    fn mark_lazyfree(&mut self, f: FolioRef) {
        let flags = self.mem.page(f.head).flags;
        if f.anon && flags.has(PageFlags::SWAPBACKED) && !flags.has(PageFlags::SWAPCACHE) {
            self.mem
                .page_mut(f.head)
                .flags
                .set(PageFlags::SWAPBACKED, false);
        }
    }

    /// Reclaim of one isolated folio with no swap device: lazyfree folios that are still
    /// clean are unmapped and freed; swap-backed folios cannot be swapped: large ones are split
    /// (`swpout_fallback`), and every piece is activated (`activate_locked`).
    fn reclaim_folio(&mut self, head: Pfn) {
        let f = self.folio(head);
        if !f.anon {
            return;
        }
        if !self.mem.page(head).flags.has(PageFlags::SWAPBACKED) {
            self.discard_lazyfree(f);
            return;
        }
        if self.swap.is_some() {
            self.swap_out_folio(head);
            return;
        }
        let pieces = if f.is_large() {
            if !self.split_folio(f) {
                self.mem.page_mut(head).flags.set(PageFlags::ACTIVE, true);
                return;
            }
            if f.pmd_mappable() {
                self.stats.count_vm(VmStat::ThpSwpoutFallback, 1);
            }
            self.stats.count_mthp(f.order, MthpStat::SwpoutFallback, 1);
            (0..f.nr_pages())
                .map(|i| head.add(i))
                .filter(|p| self.live.contains(p))
                .collect()
        } else {
            vec![head]
        };
        for p in pieces {
            self.mem.page_mut(p).flags.set(PageFlags::ACTIVE, true);
        }
    }

    /// `try_to_unmap_one` on a lazyfree folio, one PTE batch at a time (6.16+ batches lazyfree
    /// unmapping within a page table and VMA): a batch that was written again makes the folio
    /// dirty, its PTEs come back with the batch's merged dirty and accessed bits, the folio
    /// becomes swap-backed again and reclaim stops; clean batches are dropped.
    fn discard_lazyfree(&mut self, f: FolioRef) {
        for (pid, va, pmd, entry, nr) in self.mapping_batches(f) {
            let ptes: Vec<Pte> = (0..nr)
                .map(|i| {
                    if pmd {
                        entry
                    } else {
                        self.proc(pid).aspace.pt.pte(va.add(i * PAGE_SIZE))
                    }
                })
                .collect();
            let (dirty, young) = (
                ptes.iter().any(|p| p.dirty()),
                ptes.iter().any(|p| p.young()),
            );
            if dirty {
                self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
            }
            let extra_refs = self.mem.refcount(f.head) as i64 != self.folio_mapcount(f);
            if self.mem.page(f.head).flags.has(PageFlags::DIRTY) || extra_refs {
                self.restore_batch(pid, va, pmd, &ptes, dirty, young);
                self.mem
                    .page_mut(f.head)
                    .flags
                    .set(PageFlags::SWAPBACKED, true);
                return;
            }
            self.drop_batch(pid, f, va, pmd, entry, nr);
        }
    }

    fn restore_batch(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        pmd: bool,
        ptes: &[Pte],
        dirty: bool,
        young: bool,
    ) {
        let pt = &mut self.proc_mut(pid).aspace.pt;
        for (i, p) in ptes.iter().enumerate() {
            let merged = p.with_dirty(dirty).with_young(young);
            if pmd {
                pt.set_pmd(va, Some(PmdEntry::Leaf(merged)));
            } else {
                pt.set_pte(va.add(i as u64 * PAGE_SIZE), merged);
            }
        }
    }

    fn drop_batch(&mut self, pid: Pid, f: FolioRef, va: VirtAddr, pmd: bool, entry: Pte, nr: u64) {
        if pmd {
            self.proc_mut(pid).aspace.pt.set_pmd(va, None);
            self.rmap_remove(At(pid, va), f, f.head, PMD_NR_PAGES, Level::Pmd, Cause::Zap);
            self.add_rss(pid, RssCounter::Anon, -(PMD_NR_PAGES as i64));
            self.put_folio(f.head, 1);
            return;
        }
        for i in 0..nr {
            let a = va.add(i * PAGE_SIZE);
            #[cfg(feature = "test-variants")]
            if self.variants.lazyfree_batch_one_table && a.is_aligned(PMD_SIZE) && i > 0 {
                break;
            }
            self.proc_mut(pid).aspace.pt.set_pte(a, Pte::NONE);
        }
        self.rmap_remove(At(pid, va), f, entry.pfn(), nr, Level::Pte, Cause::Zap);
        self.add_rss(pid, RssCounter::Anon, -(nr as i64));
        self.put_folio(f.head, nr as i32);
    }

    /// The broken (test-only) batch: consecutive pages of `f` from `va`, page tables ignored.
    #[cfg(feature = "test-variants")]
    fn batch_ignoring_tables(&self, pid: Pid, va: VirtAddr, f: FolioRef) -> u64 {
        let first = self.proc(pid).aspace.pt.pte(va).pfn();
        let mut nr = 1;
        while first.0 + nr < f.head.0 + f.nr_pages() {
            let p = self.proc(pid).aspace.pt.pte(va.add(nr * PAGE_SIZE));
            if !p.is_present() || p.is_special() || p.pfn().0 != first.0 + nr {
                break;
            }
            nr += 1;
        }
        nr
    }

    /// Whether the (broken, test-only) lazyfree batch runs past a page-table boundary.
    fn batch_crosses_tables(&self) -> bool {
        #[cfg(feature = "test-variants")]
        if self.variants.lazyfree_batch_one_table {
            return true;
        }
        false
    }

    /// Mappings of `f` grouped into batches of consecutive PTEs in one page table and VMA:
    /// (process, first address, PMD or not, first entry, pages).
    fn mapping_batches(&self, f: FolioRef) -> Vec<(Pid, VirtAddr, bool, Pte, u64)> {
        let mut out: Vec<(Pid, VirtAddr, bool, Pte, u64)> = Vec::new();
        for (pid, va, pmd, entry) in self.mappings_of(f) {
            if let Some(last) = out.last_mut() {
                let next_va = last.1.add(last.4 * PAGE_SIZE);
                let same_vma = self.proc(pid).aspace.vmas.find(va).map(|v| v.start)
                    == self.proc(pid).aspace.vmas.find(last.1).map(|v| v.start);
                let contiguous = !pmd
                    && !last.2
                    && last.0 == pid
                    && next_va == va
                    && entry.pfn().0 == last.3.pfn().0 + last.4;
                if contiguous
                    && same_vma
                    && self.era.lazyfree_batching
                    && (!va.is_aligned(PMD_SIZE) || self.batch_crosses_tables())
                {
                    last.4 += 1;
                    continue;
                }
            }
            out.push((pid, va, pmd, entry, if pmd { PMD_NR_PAGES } else { 1 }));
        }
        out
    }
}
