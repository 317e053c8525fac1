//! Unmapping: `zap_page_range` for munmap, MADV_DONTNEED and exit, with PTE batching and the
//! mmu_gather ordering (references dropped only after all rmap removals, as after the TLB
//! flush).

use crate::batch::folio_pte_batch;
use crate::model::{Model, Pid};
use crate::rmap::At;
use foliolab_mem::PmdEntry;
use foliolab_schemes::{Cause, Level};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_ORDER, PMD_SIZE};

/// References to drop once the (modelled) TLB flush is done.
#[derive(Default)]
pub(crate) struct Gather {
    refs: Vec<(Pfn, i32)>,
}

impl Model {
    /// Zaps every mapping in [start, end) of `pid` (VMA bounds are respected by callers).
    pub(crate) fn zap_range(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        let mut gather = Gather::default();
        let mut addr = start;
        while addr < end {
            let pmd_end = VirtAddr((addr.align_down(PMD_SIZE).0 + PMD_SIZE).min(end.0));
            self.zap_pmd_range(pid, addr, pmd_end, &mut gather);
            addr = pmd_end;
        }
        self.tlb_finish(gather);
    }

    pub(crate) fn tlb_finish(&mut self, gather: Gather) {
        for (head, nr) in gather.refs {
            self.free_swap_cache(head);
            self.put_folio(head, nr);
        }
    }

    fn zap_pmd_range(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr, gather: &mut Gather) {
        let haddr = start.align_down(PMD_SIZE);
        if let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(haddr) {
            if start == haddr && end.0 == haddr.0 + PMD_SIZE {
                self.proc_mut(pid).aspace.pt.set_pmd(haddr, None);
                if !leaf.is_special() {
                    let f = self.folio_of_page(leaf.pfn());
                    self.file_zap_dirty(f, leaf);
                    self.rmap_remove(
                        At(pid, haddr),
                        f,
                        f.head,
                        PMD_NR_PAGES,
                        Level::Pmd,
                        Cause::Zap,
                    );
                    let counter = self.mm_counter(f);
                    self.add_rss(pid, counter, -(PMD_ORDER.nr_pages() as i64));
                    gather.refs.push((f.head, 1));
                }
                return;
            }
            self.split_huge_pmd(pid, haddr);
        }
        if !matches!(
            self.proc(pid).aspace.pt.pmd(haddr),
            Some(PmdEntry::Table(_))
        ) {
            return;
        }
        let first = ((start.0 - haddr.0) / PAGE_SIZE) as usize;
        let last = ((end.0 - haddr.0) / PAGE_SIZE) as usize;
        let mut i = first;
        while i < last {
            i += self.zap_one_batch(pid, haddr, i, last, gather);
        }
    }

    fn zap_batch_len(
        &self,
        t: &foliolab_mem::PteTable,
        i: usize,
        f: foliolab_schemes::FolioRef,
        max: usize,
    ) -> usize {
        #[cfg(feature = "test-variants")]
        if self.variants.zap_batch_through_holes {
            let end = (f.head.0 + f.nr_pages() - t.ptes[i].pfn().0) as usize;
            return max.min(end).min(t.ptes.len() - i);
        }
        // Era: PTE batching (6.9+); one PTE at a time before.
        if !self.era.pte_batching {
            return 1;
        }
        folio_pte_batch(t, i, f, max, false)
    }

    /// Zaps the batch starting at PTE index `i` of the table at `haddr`; returns its length.
    fn zap_one_batch(
        &mut self,
        pid: Pid,
        haddr: VirtAddr,
        i: usize,
        last: usize,
        gather: &mut Gather,
    ) -> usize {
        let va = haddr.add(i as u64 * PAGE_SIZE);
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_swap() {
            self.zap_swap_entry(pid, va, pte);
            return 1;
        }
        if !pte.is_present() || pte.is_special() {
            if pte.is_present() {
                self.proc_mut(pid)
                    .aspace
                    .pt
                    .set_pte(va, foliolab_mem::Pte::NONE);
            }
            return 1;
        }
        let f = self.folio_of_page(pte.pfn());
        let nr = match self.proc(pid).aspace.pt.pmd(haddr) {
            Some(PmdEntry::Table(t)) if f.is_large() => self.zap_batch_len(t, i, f, last - i),
            _ => 1,
        };
        let table = self.proc_mut(pid).aspace.pt.table_mut(haddr);
        let mut cleared = foliolab_mem::Pte::NONE;
        for j in 0..nr {
            cleared = foliolab_mem::Pte(cleared.0 | table.ptes[i + j].0);
            table.ptes[i + j] = foliolab_mem::Pte::NONE;
        }
        self.file_zap_dirty(f, cleared);
        self.file_zap_young(f, cleared);
        let counter = self.mm_counter(f);
        self.add_rss(pid, counter, -(nr as i64));
        self.rmap_remove(At(pid, va), f, pte.pfn(), nr as u64, Level::Pte, Cause::Zap);
        gather.refs.push((f.head, nr as i32));
        nr
    }

    /// `zap_present_folio_ptes` for a file folio: a dirty entry dirties the folio. (The
    /// kernel also delays the rmap removal of dirty file PTEs until after the TLB flush;
    /// between statements the result is the same.)
    fn file_zap_dirty(&mut self, f: foliolab_schemes::FolioRef, entry: foliolab_mem::Pte) {
        if !f.anon && entry.dirty() {
            self.mem
                .page_mut(f.head)
                .flags
                .set(foliolab_mem::PageFlags::DIRTY, true);
        }
    }

    /// `zap_present_folio_ptes` for a file folio mapped by a young PTE: `folio_mark_accessed`.
    fn file_zap_young(&mut self, f: foliolab_schemes::FolioRef, entry: foliolab_mem::Pte) {
        if !f.anon && entry.young() {
            self.folio_mark_accessed(f);
        }
    }
}
