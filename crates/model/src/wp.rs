//! Write faults on present read-only mappings: `do_wp_page` (reuse or copy, 6.15+ rules for
//! large folios through the scheme) and `do_huge_pmd_wp_page`.

use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::stats::VmStat;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_schemes::{Cause, Ctx, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PMD_ORDER, PMD_SIZE};

impl Model {
    pub(crate) fn do_wp_page(&mut self, pid: Pid, va: VirtAddr) -> Result<(), ModelError> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_special() {
            return self.wp_page_copy(pid, va, None, false);
        }
        let page = pte.pfn();
        if self.wp_reuse_anon(pid, va, page) {
            let new = pte.with_write(true).with_dirty(true).with_young(true);
            self.proc_mut(pid).aspace.pt.set_pte(va, new);
            self.stats.cow.reuses += 1;
            return Ok(());
        }
        self.wp_page_copy(pid, va, Some(page), false)
    }

    pub fn page_anon_exclusive(&self, page: Pfn) -> bool {
        self.mem.page(page).flags.has(PageFlags::ANON_EXCLUSIVE)
    }

    /// The reuse branch of `do_wp_page`, shared by write faults and FAULT_FLAG_UNSHARE: an
    /// anon page that is AnonExclusive, or whose folio `wp_can_reuse_anon_folio` (freeing
    /// the swap cache first) lets this mapping take over, becomes AnonExclusive and the
    /// folio moves to this VMA's anon_vma (`folio_move_anon_rmap`, small folios). The
    /// caller then makes the PTE writable (write) or leaves it read-only (unshare).
    pub(crate) fn wp_reuse_anon(&mut self, pid: Pid, va: VirtAddr, page: Pfn) -> bool {
        let f = self.folio_of_page(page);
        if !f.anon {
            return false;
        }
        if !self.page_anon_exclusive(page) {
            self.reuse_frees_swap(f);
            if !self.can_reuse(pid, f) {
                return false;
            }
        }
        self.mem
            .page_mut(page)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, true);
        let anon_vma = self.anon_vma_prepare(pid, va);
        if !f.is_large() {
            self.mem.page_mut(f.head).anon_vma = anon_vma;
        }
        true
    }

    /// The swap-cache step of `wp_can_reuse_anon_folio`: a small folio referenced only by
    /// this mapping and the swap cache leaves the cache if no swap PTE needs it.
    fn reuse_frees_swap(&mut self, f: FolioRef) {
        let flags = self.mem.page(f.head).flags;
        if !f.is_large() && flags.has(PageFlags::SWAPCACHE) && self.mem.refcount(f.head) <= 2 {
            self.folio_free_swap(f);
        }
    }

    /// `wp_can_reuse_anon_folio` (small) and `__wp_can_reuse_large_anon_folio` (large).
    pub(crate) fn can_reuse(&self, pid: Pid, f: FolioRef) -> bool {
        let refcount = self.mem.refcount(f.head) as i64;
        if self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            return false;
        }
        let ctx = Ctx {
            mm: self.mm_id(pid),
            cause: Cause::Cow,
        };
        if !f.is_large() {
            return self.scheme.can_reuse_small(f, refcount, ctx);
        }
        self.scheme.can_reuse_large(f, refcount, ctx)
    }

    /// Copies the page at `va` (or zero-fills, for the zero page) into a new exclusive
    /// order-0 folio and unmaps the old page. With FAULT_FLAG_UNSHARE (`unshare`) the new
    /// PTE stays read-only and clean.
    pub(crate) fn wp_page_copy(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        old: Option<Pfn>,
        unshare: bool,
    ) -> Result<(), ModelError> {
        let anon_vma = self.anon_vma_prepare(pid, va);
        let new = self.alloc_folio(Order(0))?;
        let content = old.map(|p| self.mem.content(p)).unwrap_or_default();
        self.mem.set_content(new.head, content);
        let new = self.add_new_anon(new, pid, anon_vma, Cause::Cow);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pte(va, Pte::present(new.head, !unshare, !unshare));
        match old {
            None => self.add_rss(pid, RssCounter::Anon, 1),
            Some(page) => {
                self.stats.cow.copies += 1;
                let f = self.folio_of_page(page);
                if !f.anon {
                    let counter = self.mm_counter(f);
                    self.add_rss(pid, counter, -1);
                    self.add_rss(pid, RssCounter::Anon, 1);
                }
                self.rmap_remove(pid, f, page, 1, Level::Pte, Cause::Cow);
                self.put_folio(f.head, 1);
            }
        }
        Ok(())
    }

    /// `folio_remove_rmap_*` plus its statistics and deferred-split queueing.
    pub(crate) fn rmap_remove(
        &mut self,
        pid: Pid,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        level: Level,
        cause: Cause,
    ) {
        let ctx = Ctx {
            mm: self.mm_id(pid),
            cause,
        };
        let r = self.scheme.remove(f, first, nr, level, ctx);
        self.apply_stat(f, r.stat);
        if r.partially_mapped && f.anon && !self.is_partially_mapped(f) {
            self.deferred_split_folio(f, true);
        }
    }

    pub(crate) fn wp_huge_pmd(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        leaf: Pte,
    ) -> Result<(), ModelError> {
        let haddr = va.align_down(PMD_SIZE);
        if leaf.is_special() {
            return self.wp_huge_zero(pid, va, haddr);
        }
        let f = self.folio_of_page(leaf.pfn());
        if self.wp_huge_pmd_reuse(f) {
            let new = leaf.with_write(true).with_dirty(true).with_young(true);
            self.stats.cow.reuses += 1;
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pmd(haddr, Some(PmdEntry::Leaf(new)));
            return Ok(());
        }
        self.split_huge_pmd(pid, haddr);
        self.do_wp_page(pid, va)
    }

    /// The reuse branch of `do_huge_pmd_wp_page`, shared by write faults and
    /// FAULT_FLAG_UNSHARE: the head is AnonExclusive, or the mapping holds the only
    /// reference (a PMD-mapped folio never sits in the model's swap cache); the head becomes
    /// AnonExclusive.
    pub(crate) fn wp_huge_pmd_reuse(&mut self, f: FolioRef) -> bool {
        let sole = self.mem.refcount(f.head) == 1
            && !self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE);
        if !self.page_anon_exclusive(f.head) && !sole {
            return false;
        }
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, true);
        true
    }

    /// `do_huge_zero_wp_pmd`: a new THP replaces the huge zero folio; on allocation failure
    /// the zero PMD is split and the fault retried at PTE level.
    fn wp_huge_zero(&mut self, pid: Pid, va: VirtAddr, haddr: VirtAddr) -> Result<(), ModelError> {
        self.proc_mut(pid).aspace.pt.set_pmd(haddr, None);
        if self.map_new_pmd_thp(pid, haddr)?.is_some() {
            return Ok(());
        }
        let (hz, _) = self.mem.get_huge_zero()?;
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Leaf(Pte::zero(hz))));
        self.split_huge_pmd(pid, haddr);
        self.do_wp_page(pid, va)
    }

    /// `__split_huge_pmd_locked` without freezing: the PMD becomes 512 PTEs of the same
    /// folio (adding the PTE mappings before removing the PMD one).
    pub(crate) fn split_huge_pmd(&mut self, pid: Pid, haddr: VirtAddr) {
        let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(haddr) else {
            return;
        };
        self.stats.count_vm(VmStat::ThpSplitPmd, 1);
        let mut table = foliolab_mem::PteTable::new();
        if leaf.is_special() {
            let zero = Pte::zero(self.mem.zero_pfn());
            table.ptes.iter_mut().for_each(|p| *p = zero);
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pmd(haddr, Some(PmdEntry::Table(table)));
            return;
        }
        let f = self.folio_of_page(leaf.pfn());
        if !f.anon {
            self.zap_file_pmd(pid, haddr, leaf, f);
            return;
        }
        let nr = PMD_ORDER.nr_pages();
        let exclusive = self.page_anon_exclusive(f.head);
        if leaf.dirty() {
            self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
        }
        self.mem.ref_add(f.head, nr as i32 - 1);
        let ctx = Ctx {
            mm: self.mm_id(pid),
            cause: Cause::PmdSplit,
        };
        let stat = self.scheme.add(f, f.head, nr, Level::Pte, ctx);
        self.apply_stat(f, stat);
        for i in 0..nr {
            if exclusive {
                self.mem
                    .page_mut(f.head.add(i))
                    .flags
                    .set(PageFlags::ANON_EXCLUSIVE, true);
            }
            let pte =
                Pte::present(f.head.add(i), leaf.writable(), leaf.dirty()).with_young(leaf.young());
            table.ptes[i as usize] = pte;
        }
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Table(table)));
        self.rmap_remove(pid, f, f.head, nr, Level::Pmd, Cause::PmdSplit);
    }
}
