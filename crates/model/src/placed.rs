//! Mappings placed next to others (scenario format version 2): a new mapping or a moved one
//! merges with equal neighbours, as `vma_merge_new_range` and `copy_vma` do, and a file
//! mapping may start at any page of its file. Version-1 regions never touch, so none of
//! this changes what a version-1 scenario does.

use crate::model::{Model, ModelError, Pid};
use crate::vmops::Prot;
use foliolab_mem::FileId;
use foliolab_types::{VirtAddr, PAGE_SIZE};

impl Model {
    /// `mmap(MAP_FIXED_NOREPLACE)` of `file` from page `first_index` at exactly
    /// [start, start+len), merged with equal neighbours.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap_file_at(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
        file: FileId,
        shared: bool,
        first_index: u64,
    ) -> Result<(), ModelError> {
        self.insert_file_vma(pid, start, len_bytes, prot, file, shared, first_index)?;
        self.merge_vmas_around(pid, start, start.add(len_bytes));
        Ok(())
    }

    /// A private anonymous mapping at exactly [start, start+len), merged with equal
    /// neighbours (an anonymous VMA's `vm_pgoff` is its start page, so a neighbour that was
    /// never moved lines up).
    pub fn mmap_anon_at(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<(), ModelError> {
        self.mmap_anon(pid, start, len_bytes, prot)?;
        self.merge_vmas_around(pid, start, start.add(len_bytes));
        Ok(())
    }

    /// mremap in place (no MREMAP_MAYMOVE): the VMA that ends at `end` grows by `len_bytes`
    /// (`vma_expand`: the same VMA, anon_vma and file offset), then merges with an equal
    /// neighbour. The pages it grows over must be unmapped.
    pub fn grow_vma(&mut self, pid: Pid, end: VirtAddr, len_bytes: u64) -> Result<(), ModelError> {
        let last = VirtAddr(end.0 - PAGE_SIZE);
        let vma = self.vma_at(pid, last)?;
        if vma.end != end {
            return Err(ModelError::Unsupported(format!(
                "grow: {:#x} is not the end of its VMA",
                end.0
            )));
        }
        let new_end = end.add(len_bytes);
        if !self
            .proc(pid)
            .aspace
            .vmas
            .overlapping(end, new_end)
            .is_empty()
        {
            return Err(ModelError::Unsupported(
                "grow onto an existing mapping".into(),
            ));
        }
        if let Some(v) = self.proc_mut(pid).aspace.vmas.find_mut(last) {
            v.end = new_end;
        }
        self.merge_vmas_around(pid, end, new_end);
        Ok(())
    }

    /// Merges the VMAs touching [start, end) with their equal neighbours.
    pub fn merge_vmas_around(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        let lo = VirtAddr(start.0.saturating_sub(PAGE_SIZE));
        let hi = end.add(PAGE_SIZE);
        let before = self.vma_ids(pid, lo, hi);
        self.proc_mut(pid).aspace.vmas.merge_around(lo, hi);
        self.vma_ids_changed(pid, before);
    }
}
