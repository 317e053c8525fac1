//! mremap (MREMAP_MAYMOVE|MREMAP_FIXED) of part of one VMA to a new address: `move_vma` and
//! `move_page_tables`. Mappings move without any rmap or refcount change; a PMD mapping moves
//! whole when both ends are PMD-aligned, otherwise it is split first (`thp_split_pmd`).

use crate::model::{Model, ModelError, Pid};
use foliolab_mem::{PmdEntry, Pte, Vma};
use foliolab_types::{VirtAddr, PAGE_SIZE, PMD_SIZE};

impl Model {
    /// Moves [old, old+len) (inside one VMA) to [new, new+len), which must be unmapped.
    pub fn mremap_move(
        &mut self,
        pid: Pid,
        old: VirtAddr,
        len_bytes: u64,
        new: VirtAddr,
    ) -> Result<(), ModelError> {
        let old_end = old.add(len_bytes);
        let vma = self.vma_at(pid, old)?;
        if vma.end < old_end {
            return Err(ModelError::Enomem { va: vma.end });
        }
        if !self
            .proc(pid)
            .aspace
            .vmas
            .overlapping(new, new.add(len_bytes))
            .is_empty()
        {
            return Err(ModelError::Unsupported(
                "mremap onto an existing mapping".into(),
            ));
        }
        self.split_pmds_at(pid, old, old_end);
        let moved = Vma {
            start: new,
            end: new.add(len_bytes),
            pgoff: vma.pgoff + (old.0 - vma.start.0) / PAGE_SIZE,
            ..vma.clone()
        };
        self.move_page_tables(pid, old, new, len_bytes);
        let before = self.vma_ids(pid, old, old_end);
        self.proc_mut(pid).aspace.vmas.remove_range(old, old_end);
        self.proc_mut(pid).aspace.vmas.insert(moved);
        self.vma_ids_changed(pid, before);
        // `copy_vma`: the moved pages belong to a new VMA.
        let moved_id = self.vma_at(pid, new)?.id;
        self.vma_range_changed(pid, new, new.add(len_bytes), vma.id, moved_id);
        self.free_pgtables_after_move(pid, old, old_end);
        Ok(())
    }

    fn move_page_tables(&mut self, pid: Pid, old: VirtAddr, new: VirtAddr, len_bytes: u64) {
        let mut off = 0;
        while off < len_bytes {
            let (from, to) = (old.add(off), new.add(off));
            let extent = (PMD_SIZE - from.0 % PMD_SIZE).min(len_bytes - off);
            if let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(from) {
                let whole = from.is_aligned(PMD_SIZE) && extent == PMD_SIZE;
                if whole && to.is_aligned(PMD_SIZE) {
                    let pt = &mut self.proc_mut(pid).aspace.pt;
                    pt.set_pmd(from, None);
                    pt.set_pmd(to, Some(PmdEntry::Leaf(leaf)));
                    self.revmap_moved(pid, to, leaf, PMD_SIZE);
                    off += extent;
                    continue;
                }
                self.split_huge_pmd(pid, from.align_down(PMD_SIZE));
            }
            self.move_ptes(pid, from, to, extent);
            off += extent;
        }
    }

    fn move_ptes(&mut self, pid: Pid, from: VirtAddr, to: VirtAddr, len_bytes: u64) {
        let mut off = 0;
        while off < len_bytes {
            let pt = &mut self.proc_mut(pid).aspace.pt;
            let pte = pt.pte(from.add(off));
            if !pte.is_none() {
                pt.set_pte(from.add(off), Pte::NONE);
                pt.set_pte(to.add(off), pte);
                self.revmap_moved(pid, to.add(off), pte, PAGE_SIZE);
            }
            off += PAGE_SIZE;
        }
    }

    /// `free_pgtables`: drops old PTE tables whose 2 MiB range holds no VMA any more.
    fn free_pgtables_after_move(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        for k in self.proc(pid).aspace.pt.pmd_keys_in(start, end) {
            let lo = VirtAddr(k * PMD_SIZE);
            let unused = self
                .proc(pid)
                .aspace
                .vmas
                .overlapping(lo, lo.add(PMD_SIZE))
                .is_empty();
            if unused {
                self.proc_mut(pid).aspace.pt.set_pmd(lo, None);
            }
        }
    }
}
