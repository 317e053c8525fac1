//! System calls on address ranges: mmap, munmap, mprotect, madvise (the advice the model
//! implements), and exit.

use crate::model::{Model, ModelError, Pid, RssCounter};
use foliolab_mem::{PmdEntry, VmFlags, Vma, VmaKind};
use foliolab_types::{VirtAddr, PAGE_SIZE, PMD_SIZE};

/// Protection bits of mmap/mprotect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    pub(crate) fn flags(self) -> u32 {
        (if self.read { VmFlags::READ } else { 0 })
            | (if self.write { VmFlags::WRITE } else { 0 })
            | (if self.exec { VmFlags::EXEC } else { 0 })
    }
}

/// madvise advice the model implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    Hugepage,
    Nohugepage,
    Dontneed,
    Dontfork,
    Dofork,
    Wipeonfork,
    Keeponfork,
    Willneed,
    PopulateRead,
    PopulateWrite,
    Cold,
    Pageout,
    Free,
}

impl Model {
    /// A private anonymous mapping at exactly [start, start+len).
    pub fn mmap_anon(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<(), ModelError> {
        self.insert_vma(
            pid,
            start,
            len_bytes,
            VmFlags(prot.flags()),
            VmaKind::Anon,
            start.0 / PAGE_SIZE,
        )
    }

    pub fn munmap(&mut self, pid: Pid, start: VirtAddr, len_bytes: u64) {
        let end = start.add(len_bytes);
        self.split_pmds_at(pid, start, end);
        for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
            self.zap_range(
                pid,
                VirtAddr(v.start.0.max(start.0)),
                VirtAddr(v.end.0.min(end.0)),
            );
        }
        let before = self.vma_ids(pid, start, end);
        self.proc_mut(pid).aspace.vmas.remove_range(start, end);
        self.vma_ids_changed(pid, before);
        self.free_pgtables(pid, start, end);
    }

    pub fn mprotect(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<(), ModelError> {
        let end = start.add(len_bytes);
        self.require_mapped(pid, start, end)?;
        self.split_pmds_at(pid, start, end);
        let before = self.vma_ids(pid, start, end);
        self.proc_mut(pid).aspace.vmas.modify(start, end, |v| {
            // mprotect_fixup: a private mapping made writable is charged (VM_ACCOUNT).
            let charged = VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED;
            let account = prot.write && v.flags.0 & charged == 0;
            let flags = VmFlags((v.flags.0 & !VmFlags::PROT_MASK) | prot.flags());
            v.flags = flags.with(VmFlags::ACCOUNT, account || v.flags.has(VmFlags::ACCOUNT));
        });
        self.vma_ids_changed(pid, before);
        self.change_protection(pid, start, end, prot.write);
        Ok(())
    }

    pub fn madvise(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        advice: Advice,
    ) -> Result<(), ModelError> {
        let end = start.add(len_bytes);
        let hole = self.require_mapped(pid, start, end);
        self.advice_valid(pid, start, end, advice)?;
        match advice {
            Advice::Hugepage => {
                self.set_vma_flags(pid, start, end, VmFlags::HUGEPAGE, VmFlags::NOHUGEPAGE)
            }
            Advice::Nohugepage => {
                self.set_vma_flags(pid, start, end, VmFlags::NOHUGEPAGE, VmFlags::HUGEPAGE)
            }
            Advice::Dontfork => self.set_vma_flags(pid, start, end, VmFlags::DONTCOPY, 0),
            Advice::Dofork => self.set_vma_flags(pid, start, end, 0, VmFlags::DONTCOPY),
            Advice::Wipeonfork => self.set_vma_flags(pid, start, end, VmFlags::WIPEONFORK, 0),
            Advice::Keeponfork => self.set_vma_flags(pid, start, end, 0, VmFlags::WIPEONFORK),
            Advice::Willneed => {
                for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
                    let (s, e) = (
                        VirtAddr(v.start.0.max(start.0)),
                        VirtAddr(v.end.0.min(end.0)),
                    );
                    self.willneed_swapin(pid, s, e);
                }
            }
            Advice::PopulateRead | Advice::PopulateWrite => {
                hole.clone()?;
                self.populate(pid, start, end, advice == Advice::PopulateWrite)?;
            }
            Advice::Cold | Advice::Pageout | Advice::Free => {
                for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
                    let (s, e) = (
                        VirtAddr(v.start.0.max(start.0)),
                        VirtAddr(v.end.0.min(end.0)),
                    );
                    self.reclaim_advice(pid, s, e, advice);
                }
            }
            Advice::Dontneed => {
                for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
                    self.zap_range(
                        pid,
                        VirtAddr(v.start.0.max(start.0)),
                        VirtAddr(v.end.0.min(end.0)),
                    );
                }
                self.proc_mut(pid).aspace.pt.free_empty_tables(start, end);
            }
        }
        hole
    }

    /// EINVAL for advice a VMA of the range does not take: MADV_FREE and MADV_WIPEONFORK
    /// need private anonymous memory, MADV_DONTNEED refuses VM_PFNMAP.
    fn advice_valid(
        &self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        advice: Advice,
    ) -> Result<(), ModelError> {
        for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
            let reason = match advice {
                Advice::Free | Advice::Wipeonfork if !v.is_anon() => {
                    "the advice needs private anonymous memory"
                }
                Advice::Dontneed if v.flags.has(VmFlags::PFNMAP) => "VM_PFNMAP",
                _ => continue,
            };
            return Err(ModelError::Einval {
                va: VirtAddr(v.start.0.max(start.0)),
                reason,
            });
        }
        Ok(())
    }

    /// `madvise_update_vma`: set and clear VMA flags on [start, end), splitting VMAs (and PMDs
    /// at the new boundaries) and merging afterwards.
    fn set_vma_flags(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr, set: u32, clear: u32) {
        self.split_pmds_at(pid, start, end);
        let before = self.vma_ids(pid, start, end);
        self.proc_mut(pid).aspace.vmas.modify(start, end, |v| {
            v.flags = VmFlags((v.flags.0 | set) & !clear)
        });
        self.vma_ids_changed(pid, before);
    }

    /// Tears the process down: zap everything, free the page tables, release the MM id.
    pub fn exit(&mut self, pid: Pid) {
        self.gup_exit(pid);
        let vmas: Vec<Vma> = self.proc(pid).aspace.vmas.iter().cloned().collect();
        for v in &vmas {
            self.zap_range(pid, v.start, v.end);
        }
        let id = self.mm_id(pid);
        debug_assert_eq!(self.rss(pid, RssCounter::Anon), 0);
        self.touch(pid);
        self.procs[pid.0 as usize] = None;
        self.revmap.exited(pid);
        self.release_mm_id(id);
    }

    /// ENOMEM if any part of [start, end) has no VMA.
    fn require_mapped(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Result<(), ModelError> {
        let mut cur = start;
        for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
            if v.start > cur {
                return Err(ModelError::Enomem { va: cur });
            }
            cur = v.end;
        }
        if cur < end {
            return Err(ModelError::Enomem { va: cur });
        }
        Ok(())
    }

    /// `vma_adjust_trans_huge`: a VMA boundary inside a PMD mapping splits the PMD.
    pub(crate) fn split_pmds_at(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        for b in [start, end] {
            if b.is_aligned(PMD_SIZE) {
                continue;
            }
            let haddr = b.align_down(PMD_SIZE);
            if self.proc(pid).aspace.pt.pmd_leaf(haddr).is_some() {
                self.split_huge_pmd(pid, haddr);
            }
        }
    }

    /// `change_protection` over [start, end): write-protect, or make exclusive anon pages
    /// writable directly when write permission is added.
    /// Whether mprotect adding write permission makes this entry writable at once
    /// (`can_change_pte_writable`): already writable, a shared mapping, or an exclusive anon
    /// page; anything else waits for a write fault.
    fn may_write_directly(&self, pid: Pid, va: VirtAddr, entry: foliolab_mem::Pte) -> bool {
        let shared = self
            .proc(pid)
            .aspace
            .vmas
            .find(va)
            .is_some_and(|v| v.flags.has(VmFlags::SHARED));
        entry.writable() || shared || (!entry.is_special() && self.page_anon_exclusive(entry.pfn()))
    }

    fn change_protection(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr, write: bool) {
        let mut addr = start;
        while addr < end {
            let haddr = addr.align_down(PMD_SIZE);
            let pmd_end = VirtAddr((haddr.0 + PMD_SIZE).min(end.0));
            if let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(haddr) {
                if addr == haddr && pmd_end.0 == haddr.0 + PMD_SIZE {
                    let w = write && self.may_write_directly(pid, haddr, leaf);
                    self.proc_mut(pid)
                        .aspace
                        .pt
                        .set_pmd(haddr, Some(PmdEntry::Leaf(leaf.with_write(w))));
                    addr = pmd_end;
                    continue;
                }
                self.split_huge_pmd(pid, haddr);
            }
            let mut va = addr;
            while va < pmd_end {
                let pte = self.proc(pid).aspace.pt.pte(va);
                if pte.is_present() {
                    let w = write && self.may_write_directly(pid, va, pte);
                    self.proc_mut(pid).aspace.pt.set_pte(va, pte.with_write(w));
                }
                va = va.add(PAGE_SIZE);
            }
            addr = pmd_end;
        }
    }

    /// `free_pgtables`: drop PTE tables whose 2 MiB range no longer holds any VMA.
    fn free_pgtables(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        let keys = self.proc(pid).aspace.pt.pmd_keys_in(start, end);
        for k in keys {
            let lo = VirtAddr(k * PMD_SIZE);
            if self
                .proc(pid)
                .aspace
                .vmas
                .overlapping(lo, lo.add(PMD_SIZE))
                .is_empty()
            {
                self.proc_mut(pid).aspace.pt.set_pmd(lo, None);
            }
        }
    }
}
