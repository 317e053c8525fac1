//! fork(): `dup_mmap` and `copy_page_range` with PTE batching and `folio_try_dup_anon_rmap`.

use crate::batch::folio_pte_batch_fork;
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use foliolab_mem::{PageFlags, PageTable, PmdEntry, Pte, PteTable, VmFlags, Vma};
use foliolab_schemes::{FolioRef, Level, Span};
use foliolab_types::{VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};

/// Space the copy of one page table works in, reused from one table to the next: the
/// parent's table being copied (written back when done) and the child's rmap spans.
struct Scratch {
    src: PteTable,
    spans: Vec<Span>,
}

impl Model {
    /// Forks `parent`; returns the child.
    pub fn fork(&mut self, parent: Pid) -> Result<Pid, ModelError> {
        let child = self.spawn();
        self.revmap.spawned(child, Some(parent));
        let vmas: Vec<Vma> = self.proc(parent).aspace.vmas.iter().cloned().collect();
        for vma in vmas {
            if vma.flags.has(VmFlags::DONTCOPY) {
                continue;
            }
            let mut cv = vma.clone();
            let anon = vma.anon_vma != 0 && !vma.flags.has(VmFlags::WIPEONFORK);
            cv.anon_vma = if anon { self.new_anon_vma() } else { 0 };
            cv.flags = cv.flags.with(VmFlags::FORKED_ANON, anon);
            // `vma_needs_copy`: VM_COPY_ON_FORK, or anon pages to copy; shared file
            // mappings are refilled on fault instead.
            let copy = anon || vma.flags.has(VmFlags::PFNMAP) || vma.flags.has(VmFlags::MIXEDMAP);
            self.proc_mut(child).aspace.vmas.insert(cv);
            if copy {
                self.copy_page_range(parent, child, &vma)?;
            }
        }
        Ok(child)
    }

    fn copy_page_range(&mut self, parent: Pid, child: Pid, vma: &Vma) -> Result<(), ModelError> {
        let mut child_pt = std::mem::take(&mut self.proc_mut(child).aspace.pt);
        let mut scratch = Scratch {
            src: PteTable::new(),
            spans: Vec::with_capacity(PMD_NR_PAGES as usize),
        };
        let mut addr = vma.start;
        let mut result = Ok(());
        while addr < vma.end && result.is_ok() {
            let haddr = addr.align_down(PMD_SIZE);
            let end = VirtAddr((haddr.0 + PMD_SIZE).min(vma.end.0));
            result = self.copy_pmd_range(parent, child, &mut child_pt, (addr, end), &mut scratch);
            addr = end;
        }
        self.proc_mut(child).aspace.pt = child_pt;
        result
    }

    fn copy_pmd_range(
        &mut self,
        parent: Pid,
        child: Pid,
        child_pt: &mut PageTable,
        (start, end): (VirtAddr, VirtAddr),
        scratch: &mut Scratch,
    ) -> Result<(), ModelError> {
        let haddr = start.align_down(PMD_SIZE);
        match self.proc(parent).aspace.pt.pmd(haddr) {
            None => Ok(()),
            // `copy_huge_pmd` skips file PMDs: they can be refilled on fault.
            Some(PmdEntry::Leaf(_)) if !self.vma_at(parent, start)?.is_anon() => Ok(()),
            Some(PmdEntry::Leaf(leaf)) => {
                let leaf = *leaf;
                if self.copy_huge_pmd(parent, child, child_pt, haddr, leaf) {
                    return Ok(());
                }
                // -EAGAIN: the pinned PMD was split, copy it PTE by PTE.
                self.copy_pte_range(parent, child, child_pt, (start, end), scratch)
            }
            Some(PmdEntry::Table(_)) => {
                self.copy_pte_range(parent, child, child_pt, (start, end), scratch)
            }
        }
    }

    /// False when the folio may be pinned and is exclusive: the source PMD is split instead
    /// and the caller copies the PTEs.
    fn copy_huge_pmd(
        &mut self,
        parent: Pid,
        child: Pid,
        child_pt: &mut PageTable,
        haddr: VirtAddr,
        leaf: Pte,
    ) -> bool {
        if leaf.is_special() {
            child_pt.set_pmd(haddr, Some(PmdEntry::Leaf(leaf.with_young(false))));
            return true;
        }
        let f = self.folio_of_page(leaf.pfn());
        if self.dup_pmd_busy(parent, f) {
            self.split_huge_pmd(parent, haddr);
            return false;
        }
        self.mem.ref_add(f.head, 1);
        self.mem
            .page_mut(f.head)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, false);
        self.rmap_dup(At(child, haddr), f, f.head, PMD_NR_PAGES, Level::Pmd);
        let ro = leaf.with_write(false);
        self.proc_mut(parent)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Leaf(ro)));
        child_pt.set_pmd(haddr, Some(PmdEntry::Leaf(ro.with_young(false))));
        self.add_rss(child, RssCounter::Anon, PMD_NR_PAGES as i64);
        true
    }

    /// A swap entry (one more reference, shared in parent and child), a zero page or raw
    /// PFN (copied, not young), or none.
    fn copy_nonpresent_pte(
        &mut self,
        child: Pid,
        src: &mut PteTable,
        dst: &mut PteTable,
        i: usize,
    ) {
        let pte = src.ptes[i];
        dst.ptes[i] = if pte.is_swap() {
            src.ptes[i] = self.dup_swap_entry(child, pte);
            src.ptes[i]
        } else if pte.is_present() {
            pte.with_young(false)
        } else {
            pte
        };
    }

    /// `copy_present_ptes` for a batch the dup accepted: the child's references, pages no
    /// longer AnonExclusive (unless `shared`: the look at a small folio did both), the
    /// parent's PTEs write-protected in a COW mapping, the child's old (and clean in a COW
    /// mapping); the rmap dup is the batch's span in `spans`, for one call to the design per
    /// page table.
    fn copy_present_ptes(
        &mut self,
        spans: &mut Vec<Span>,
        (src, dst): (&mut PteTable, &mut PteTable),
        batch: std::ops::Range<usize>,
        (f, shared): (FolioRef, bool),
        cow: bool,
    ) {
        let first = src.ptes[batch.start].pfn();
        if !shared {
            self.mem.share_pages(f.head, first, batch.len() as u64);
        }
        let (from, to) = (&mut src.ptes[batch.clone()], &mut dst.ptes[batch.clone()]);
        for (s, d) in from.iter_mut().zip(to) {
            if cow {
                *s = s.with_write(false);
            }
            *d = s.with_young(false).with_dirty(s.dirty() && cow);
        }
        spans.push(Span {
            folio: f,
            first,
            nr: batch.len() as u64,
        });
    }

    /// The folio `pte` maps, and whether its page is shared with the child already: a
    /// small folio is as it is looked at, unless the parent has pinned (then the dup may be
    /// refused first).
    #[inline]
    fn fork_look(&mut self, pte: Pte, pinned: bool) -> (FolioRef, bool) {
        let ((head, order, flags), shared) = self.mem.folio_meta_share_small(pte.pfn(), !pinned);
        let anon = flags.has(PageFlags::ANON);
        (FolioRef { head, order, anon }, shared)
    }

    fn copy_pte_range(
        &mut self,
        parent: Pid,
        child: Pid,
        child_pt: &mut PageTable,
        (start, end): (VirtAddr, VirtAddr),
        scratch: &mut Scratch,
    ) -> Result<(), ModelError> {
        let haddr = start.align_down(PMD_SIZE);
        let Some(PmdEntry::Table(t)) = self.proc(parent).aspace.pt.pmd(haddr) else {
            return Ok(());
        };
        // The parent's table stays as it is while the copy runs (walks in between read it).
        let src = &mut scratch.src;
        src.ptes.copy_from_slice(&t.ptes[..]);
        let dst = child_pt.table_mut(haddr);
        let first = ((start.0 - haddr.0) / PAGE_SIZE) as usize;
        let last = ((end.0 - haddr.0) / PAGE_SIZE) as usize;
        let mut i = first;
        let mut rss = [0i64; 4];
        let vma = self.vma_at(parent, start)?;
        let cow = !vma.flags.has(VmFlags::SHARED);
        // `prealloc` in copy_pte_range: set after a dup refused a maybe-pinned exclusive
        // page; while set, PTEs are copied one by one.
        let mut prealloc = false;
        // Only a parent that has pinned can see a dup refused (`dup_anon_busy`).
        let pinned = self.has_pinned(parent);
        // The child's mappings go to the design in one call per run of accepted batches
        // (all in this VMA, `At(child, start)`); anything that may call the design itself
        // sends the run first, so the design sees every call in the same order.
        let spans = &mut scratch.spans;
        spans.clear();
        let at = At(child, start);
        while i < last {
            let pte = src.ptes[i];
            if !pte.is_present() || pte.is_special() {
                if pte.is_swap() {
                    self.rmap_dup_batch(at, spans, Level::Pte);
                    spans.clear();
                }
                self.copy_nonpresent_pte(child, src, dst, i);
                i += 1;
                continue;
            }
            let (f, shared) = self.fork_look(pte, pinned);
            // Era: PTE batching (6.9+); one PTE at a time before.
            let nr = if f.is_large() && !prealloc && self.era.pte_batching {
                folio_pte_batch_fork(src, i, f, last - i, true)
            } else {
                1
            };
            if pinned && self.dup_anon_busy(parent, f, pte.pfn(), nr as u64) {
                if prealloc {
                    self.rmap_dup_batch(at, spans, Level::Pte);
                    spans.clear();
                    let va = haddr.add(i as u64 * PAGE_SIZE);
                    dst.ptes[i] = self.copy_present_page(child, va, pte.pfn())?;
                    prealloc = false;
                    i += 1;
                } else {
                    // -EAGAIN: preallocate a page and retry this PTE alone.
                    prealloc = true;
                }
                continue;
            }
            self.copy_present_ptes(spans, (src, dst), i..i + nr, (f, shared), cow);
            rss[self.mm_counter(f) as usize] += nr as i64;
            i += nr;
        }
        self.rmap_dup_batch(at, spans, Level::Pte);
        if let Some(PmdEntry::Table(t)) = self.proc_mut(parent).aspace.pt.pmd_mut(haddr) {
            t.ptes.copy_from_slice(&src.ptes[..]);
        }
        for c in [RssCounter::Anon, RssCounter::File, RssCounter::Shmem] {
            self.add_rss(child, c, rss[c as usize]);
        }
        Ok(())
    }
}
