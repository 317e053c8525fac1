//! PMD collapse: MADV_COLLAPSE and one full khugepaged scan (`hpage_collapse_scan_pmd`,
//! `collapse_huge_page`). A PTE-mapped 2 MiB range becomes one PMD-mapped THP: the contents
//! are copied (none and zero PTEs as zeros), the old mappings are removed (one rmap call per
//! run of PTEs of a folio), and the new folio is mapped by a PMD and queued as an underused
//! candidate. khugepaged applies the max_ptes_none/swap/shared limits and needs a referenced
//! page; MADV_COLLAPSE ignores them.

use crate::batch::folio_pte_batch;
use crate::era::Khugepaged;
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::VmStat;
use foliolab_mem::{Content, PageFlags, PmdEntry, Pte, PteTable, VmFlags};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Pfn, VirtAddr, PMD_NR_PAGES, PMD_ORDER, PMD_SIZE};

/// Why a range was not collapsed (`SCAN_*` / `collapse_huge_page` results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollapseFail {
    NotSuitable,
    ExceedNone,
    ExceedSwap,
    ExceedShared,
    LackReferenced,
    ExtraReferences,
    AllocFailed,
    /// No writable PTE in the range (`SCAN_PAGE_RO`; eras up to 6.12).
    ReadOnly,
}

impl Model {
    /// MADV_COLLAPSE over [start, end): every whole PMD range inside a VMA; `Ok(false)` when
    /// some range could not be collapsed (the advice's result, not an error).
    pub fn madvise_collapse(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
    ) -> Result<bool, ModelError> {
        let mut all = true;
        let mut haddr = VirtAddr(start.0.div_ceil(PMD_SIZE) * PMD_SIZE);
        while haddr.0 + PMD_SIZE <= end.0 {
            all &= self.collapse_pmd(pid, haddr, false).is_ok();
            haddr = haddr.add(PMD_SIZE);
        }
        Ok(all)
    }

    /// One full khugepaged pass over every process's eligible PMD ranges.
    pub fn khugepaged_scan(&mut self) {
        let pids: Vec<Pid> = self.processes().map(|(p, _)| p).collect();
        for pid in pids {
            let vmas: Vec<foliolab_mem::Vma> = self.proc(pid).aspace.vmas.iter().cloned().collect();
            for v in vmas {
                let allowed = self.anon_orders(&v);
                if !v.is_anon() || !allowed.contains(&PMD_ORDER) {
                    continue;
                }
                let mut haddr = VirtAddr(v.start.0.div_ceil(PMD_SIZE) * PMD_SIZE);
                while haddr.0 + PMD_SIZE <= v.end.0 {
                    if matches!(
                        self.proc(pid).aspace.pt.pmd(haddr),
                        Some(PmdEntry::Table(_))
                    ) {
                        let _ = self.collapse_pmd(pid, haddr, true);
                    }
                    haddr = haddr.add(PMD_SIZE);
                }
            }
        }
    }

    fn collapse_pmd(
        &mut self,
        pid: Pid,
        haddr: VirtAddr,
        khugepaged: bool,
    ) -> Result<(), CollapseFail> {
        let vma = self
            .proc(pid)
            .aspace
            .vmas
            .find(haddr)
            .cloned()
            .ok_or(CollapseFail::NotSuitable)?;
        if !vma.is_anon() || vma.flags.has(VmFlags::NOHUGEPAGE) || vma.end.0 < haddr.0 + PMD_SIZE {
            return Err(CollapseFail::NotSuitable);
        }
        let table = match self.proc(pid).aspace.pt.pmd(haddr) {
            Some(PmdEntry::Leaf(_)) => return Ok(()),
            Some(PmdEntry::Table(t)) => t.clone(),
            None => PteTable::new(),
        };
        self.scan_pmd(&table, khugepaged)?;
        let anon_vma = self.anon_vma_prepare(pid, haddr);
        let Ok(new) = self.alloc_folio(PMD_ORDER) else {
            return Err(CollapseFail::AllocFailed);
        };
        self.stats.count_vm(VmStat::ThpCollapseAlloc, 1);
        self.copy_into(&table, new.head);
        self.unmap_collapsed(pid, haddr, &table);
        let new = self.rmap_add_new_anon(new, At(pid, haddr), anon_vma, Cause::Fault);
        let leaf = Pte::present(new.head, vma.flags.has(VmFlags::WRITE), true);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Leaf(leaf)));
        self.add_rss(pid, RssCounter::Anon, PMD_NR_PAGES as i64);
        self.deferred_split_folio(new, false);
        Ok(())
    }

    /// `hpage_collapse_scan_pmd` and `__collapse_huge_page_isolate`'s checks.
    fn scan_pmd(&self, table: &PteTable, khugepaged: bool) -> Result<(), CollapseFail> {
        // Era: the khugepaged rules (what counts a PTE as shared: its folio, or its page).
        let per_page = self.era.khugepaged == Khugepaged::PmdPageMapcount;
        let (mut none, mut swap, mut shared, mut referenced) = (0u32, 0u32, 0u32, 0u32);
        let mut writable = false;
        for pte in table.ptes.iter() {
            if pte.is_none() || pte.is_special() {
                none += 1;
                continue;
            }
            if pte.is_swap() {
                swap += 1;
                continue;
            }
            let f = self.folio_of_page(pte.pfn());
            if !f.anon
                || self.mem.refcount(f.head) as i64
                    != self.folio_mapcount(f) + self.swapcache_refs(f)
            {
                return Err(CollapseFail::ExtraReferences);
            }
            shared += if per_page {
                self.kpagecount(f, pte.pfn()) > 1
            } else {
                self.folio_maybe_mapped_shared(f)
            } as u32;
            writable |= pte.writable();
            referenced +=
                (pte.young() || self.mem.page(f.head).flags.has(PageFlags::REFERENCED)) as u32;
        }
        if swap > 0 {
            return Err(CollapseFail::ExceedSwap);
        }
        if khugepaged && none > self.thp.max_ptes_none {
            return Err(CollapseFail::ExceedNone);
        }
        if khugepaged && shared > self.thp.max_ptes_shared {
            return Err(CollapseFail::ExceedShared);
        }
        // Era: up to 6.12 a range with no writable PTE stays as it is (`SCAN_PAGE_RO`).
        if self.era.collapse_needs_writable && !writable && none < PMD_NR_PAGES as u32 {
            return Err(CollapseFail::ReadOnly);
        }
        if khugepaged && referenced == 0 {
            return Err(CollapseFail::LackReferenced);
        }
        if none == PMD_NR_PAGES as u32 {
            return Err(CollapseFail::ExceedNone);
        }
        Ok(())
    }

    fn swapcache_refs(&self, f: FolioRef) -> i64 {
        if self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            f.nr_pages() as i64
        } else {
            0
        }
    }

    fn copy_into(&mut self, table: &PteTable, new_head: Pfn) {
        for (i, pte) in table.ptes.iter().enumerate() {
            let c = if pte.is_present() && !pte.is_special() {
                self.mem.content(pte.pfn())
            } else {
                Content::default()
            };
            self.mem.set_content(new_head.add(i as u64), c);
        }
    }

    /// Removes the old PTE mappings, one rmap call per run of a folio's pages, and drops the
    /// references afterwards.
    fn unmap_collapsed(&mut self, pid: Pid, haddr: VirtAddr, table: &PteTable) {
        let mut refs: Vec<(Pfn, i32)> = Vec::new();
        let mut i = 0;
        while i < table.ptes.len() {
            let pte = table.ptes[i];
            if !pte.is_present() || pte.is_special() {
                i += 1;
                continue;
            }
            let f = self.folio_of_page(pte.pfn());
            // Era: one rmap call per run of the folio, or one per page (up to 6.12).
            let nr = if f.is_large() && self.era.collapse_batching {
                folio_pte_batch(table, i, f, table.ptes.len() - i, false)
            } else {
                1
            };
            self.rmap_remove(
                At(pid, haddr.add(i as u64 * foliolab_types::PAGE_SIZE)),
                f,
                pte.pfn(),
                nr as u64,
                Level::Pte,
                Cause::Zap,
            );
            self.add_rss(pid, RssCounter::Anon, -(nr as i64));
            refs.push((f.head, nr as i32));
            i += nr;
        }
        self.proc_mut(pid).aspace.pt.set_pmd(haddr, None);
        for (head, nr) in refs {
            self.put_folio(head, nr);
        }
    }
}
