//! Write faults on present read-only mappings: `do_wp_page` (reuse or copy, 6.15+ rules for
//! large folios through the scheme) and `do_huge_pmd_wp_page`.

use crate::era::HugeZeroWp;
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_schemes::{Cause, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PMD_SIZE};

impl Model {
    pub(crate) fn do_wp_page(&mut self, pid: Pid, va: VirtAddr) -> Result<(), ModelError> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_special() {
            return self.wp_page_copy(pid, va, None, false);
        }
        let page = pte.pfn();
        if self.wp_can_reuse_anon(pid, va, page) {
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
        let new = self.rmap_add_new_anon(new, At(pid, va), anon_vma, Cause::Cow);
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
                self.rmap_remove(At(pid, va), f, page, 1, Level::Pte, Cause::Cow);
                self.put_folio(f.head, 1);
            }
        }
        Ok(())
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
        if self.wp_can_reuse_pmd(f) {
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

    /// `do_huge_zero_wp_pmd`: a new THP replaces the huge zero folio; on allocation failure
    /// the zero PMD is split and the fault retried at PTE level.
    /// Era: before 6.18 (measured on 5.10, 6.1 and 6.12) the fault always falls back.
    fn wp_huge_zero(&mut self, pid: Pid, va: VirtAddr, haddr: VirtAddr) -> Result<(), ModelError> {
        if self.era.huge_zero_wp == HugeZeroWp::SplitPmd {
            self.split_huge_pmd(pid, haddr);
            return self.do_wp_page(pid, va);
        }
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
}
