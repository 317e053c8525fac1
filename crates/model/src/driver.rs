//! Driver memory mapped into processes (model-only): `driver mixedmap` is a VM_MIXEDMAP
//! mapping whose driver allocates its buffer at mmap time and inserts every page with
//! `vm_insert_page`: normal PTEs, a folio reference, `mm_counter_file` (MM_FILEPAGES, since
//! the pages are not swap-backed) and `folio_add_file_rmap_pte`, one page at a time. The
//! buffer is allocated as compound pages of the largest order (at most PMD order) that
//! divides the mapping, not `large_rmappable`. `driver pfnmap` is a VM_PFNMAP mapping filled
//! by `remap_pfn_range` with raw PFNs of memory the kernel does not manage (below the
//! allocator's range, like device memory): special PTEs, no reference, no rmap, no RSS.
//! Both are shared mappings and are copied at fork (VM_COPY_ON_FORK). The driver keeps its
//! buffer (one reference per compound page) until the end of the run.

use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::vmops::Prot;
use foliolab_mem::memory::FIRST_PFN;
use foliolab_mem::{PageFlags, Pte, VmFlags, VmaKind};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_ORDER};
use std::collections::BTreeSet;

/// First raw PFN `driver pfnmap` hands out.
const FIRST_RAW_PFN: u64 = 0x100;

/// What the drivers own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Drivers {
    /// Compound pages a driver allocated: it holds one reference on each.
    pub(crate) owned: BTreeSet<Pfn>,
    /// Raw PFNs handed out so far.
    raw_used: u64,
}

impl Model {
    /// A `driver mixedmap` region: allocate the buffer and insert every page.
    pub fn mmap_driver_mixedmap(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<(), ModelError> {
        let flags = VmFlags(prot.flags() | VmFlags::SHARED | VmFlags::MIXEDMAP);
        self.insert_vma(pid, start, len_bytes, flags, VmaKind::DriverMixedmap, 0)?;
        let pages = len_bytes / PAGE_SIZE;
        let order = Order(
            (0..=PMD_ORDER.0)
                .rev()
                .find(|&o| pages.is_multiple_of(1 << o))
                .unwrap_or(0),
        );
        let mut va = start;
        while va < start.add(len_bytes) {
            let f = self.alloc_driver_pages(order)?;
            for i in 0..f.nr_pages() {
                self.vm_insert_page(pid, va, f, f.head.add(i), prot.write);
                va = va.add(PAGE_SIZE);
            }
        }
        Ok(())
    }

    /// `alloc_pages(GFP_KERNEL | __GFP_COMP, order)`: a compound page, not rmappable.
    fn alloc_driver_pages(&mut self, order: Order) -> Result<FolioRef, ModelError> {
        let f = self.alloc_folio(order)?;
        if f.is_large() {
            self.mem
                .page_mut(f.head.add(1))
                .flags
                .set(PageFlags::LARGE_RMAPPABLE, false);
        }
        self.drivers.owned.insert(f.head);
        Ok(f)
    }

    /// `insert_page_into_pte_locked`.
    fn vm_insert_page(&mut self, pid: Pid, va: VirtAddr, f: FolioRef, page: Pfn, write: bool) {
        self.mem.ref_add(f.head, 1);
        self.add_rss(pid, RssCounter::File, 1);
        self.rmap_add(At(pid, va), f, page, 1, Level::Pte, Cause::Fault);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pte(va, Pte::present(page, write, false));
    }

    /// A `driver pfnmap` region: `remap_pfn_range` over fresh raw PFNs.
    pub fn mmap_driver_pfnmap(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<(), ModelError> {
        let pages = len_bytes / PAGE_SIZE;
        if FIRST_RAW_PFN + self.drivers.raw_used + pages > FIRST_PFN.0 {
            return Err(ModelError::OutOfMemory);
        }
        let flags = VmFlags(prot.flags() | VmFlags::SHARED | VmFlags::PFNMAP);
        self.insert_vma(pid, start, len_bytes, flags, VmaKind::DriverPfnmap, 0)?;
        for i in 0..pages {
            let pfn = Pfn(FIRST_RAW_PFN + self.drivers.raw_used + i);
            let pte = Pte::zero(pfn).with_write(prot.write);
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pte(start.add(i * PAGE_SIZE), pte);
        }
        self.drivers.raw_used += pages;
        Ok(())
    }

    /// Whether a special PTE maps a raw PFN (VM_PFNMAP) rather than a zero page.
    pub fn is_raw_pfn(&self, pfn: Pfn) -> bool {
        pfn.0 < FIRST_PFN.0
    }

    /// References a driver holds on a folio.
    pub(crate) fn driver_refs(&self, f: FolioRef) -> i64 {
        self.drivers.owned.contains(&f.head) as i64
    }

    /// A fault in a driver mapping: a write to a present read-only page of a private
    /// mapping would copy it, but driver mappings are shared and fully populated at mmap,
    /// so a missing page (after MADV_DONTNEED) has no `fault` handler to fill it.
    pub(crate) fn driver_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        write: bool,
    ) -> Result<(), ModelError> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_present() && write {
            let new = pte.with_write(true).with_dirty(true).with_young(true);
            self.proc_mut(pid).aspace.pt.set_pte(va, new);
            return Ok(());
        }
        Err(ModelError::Sigbus {
            va,
            reason: "the driver mapping has no fault handler",
        })
    }
}
