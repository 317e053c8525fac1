//! File-backed memory: tmpfs files (a memfd, or the file behind shared anonymous memory),
//! their page cache and the fault paths of `mm/memory.c` for them: `do_read_fault` with
//! fault-around (`filemap_map_pages`), `do_cow_fault`, `do_shared_fault`, `finish_fault`
//! (a whole shmem folio at once when it fits), `do_set_pmd`, and `shmem_get_folio_gfp` with
//! the shmem THP policy (`shmem_allowable_huge_orders`).

use crate::config::ShmemMode;
use crate::era::FaultAround;
use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::MthpStat;
use crate::vmops::Prot;
use foliolab_mem::{Cached, FileId, PageFlags, PmdEntry, Pte, VmFlags, Vma, VmaKind};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_ORDER, PMD_SIZE};

/// `fault_around_bytes` (64K) in pages.
const FAULT_AROUND_PAGES: u64 = 16;
const PTRS_PER_PTE: u64 = 512;

/// A page-cache folio found (or added) for a fault, with the reference the lookup took.
#[derive(Clone, Copy, Debug)]
struct Lookup {
    folio: FolioRef,
    /// The page holding the faulting file index.
    page: Pfn,
}

impl Model {
    /// `memfd_create` plus `ftruncate`: an empty tmpfs file of `size_bytes`.
    pub fn file_create(&mut self, size_bytes: u64) -> FileId {
        self.cache.create(size_bytes.div_ceil(PAGE_SIZE))
    }

    /// `mmap(MAP_SHARED|MAP_ANONYMOUS)`: a new tmpfs file of `len_bytes` mapped shared.
    pub fn mmap_shmem(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
    ) -> Result<FileId, ModelError> {
        let file = self.cache.create(len_bytes / PAGE_SIZE);
        self.mmap_file(pid, start, len_bytes, prot, file, true)?;
        Ok(file)
    }

    /// `mmap` of `file` from offset 0, shared or private.
    pub fn mmap_file(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
        file: FileId,
        shared: bool,
    ) -> Result<(), ModelError> {
        self.insert_file_vma(pid, start, len_bytes, prot, file, shared, 0)
    }

    /// Adds the VMA of a `mmap` of `file` from page `first_index` at exactly
    /// [start, start+len): [`Model::mmap_file`] maps from page 0, [`Model::mmap_file_at`]
    /// from any page and merges with equal neighbours.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_file_vma(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        prot: Prot,
        file: FileId,
        shared: bool,
        first_index: u64,
    ) -> Result<(), ModelError> {
        let flags = VmFlags(prot.flags()).with(VmFlags::SHARED, shared);
        let kind = VmaKind::File {
            file: file.0,
            shared,
        };
        self.insert_vma(pid, start, len_bytes, flags, kind, first_index)
    }

    /// Adds a VMA at exactly [start, start+len) with file offset `pgoff` (pages).
    pub(crate) fn insert_vma(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len_bytes: u64,
        flags: VmFlags,
        kind: VmaKind,
        pgoff: u64,
    ) -> Result<(), ModelError> {
        let end = start.add(len_bytes);
        if !self
            .proc(pid)
            .aspace
            .vmas
            .overlapping(start, end)
            .is_empty()
        {
            return Err(ModelError::Unsupported(
                "mapping over an existing mapping".into(),
            ));
        }
        let accountable = flags.has(VmFlags::WRITE) && !flags.has(VmFlags::SHARED);
        let flags = flags.with(VmFlags::ACCOUNT, accountable);
        self.proc_mut(pid).aspace.vmas.insert(Vma {
            start,
            end,
            flags,
            kind,
            anon_vma: 0,
            pgoff,
            id: foliolab_types::VmaId::NONE,
        });
        Ok(())
    }

    /// The tmpfs file behind a VMA.
    pub(crate) fn vma_file(vma: &Vma) -> Option<FileId> {
        match vma.kind {
            VmaKind::File { file, .. } => Some(FileId(file)),
            _ => None,
        }
    }

    /// `linear_page_index`.
    fn file_index(vma: &Vma, va: VirtAddr) -> u64 {
        vma.pgoff + (va.0 - vma.start.0) / PAGE_SIZE
    }

    /// `do_fault` and the write faults on present entries, for a file VMA.
    pub(crate) fn file_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        write: bool,
        vma: &Vma,
    ) -> Result<(), ModelError> {
        let file = Self::vma_file(vma).expect("file VMA");
        if Self::file_index(vma, va) >= self.cache.file(file).size_pages {
            return Err(ModelError::Sigbus {
                va,
                reason: "beyond the end of the file",
            });
        }
        let shared = vma.flags.has(VmFlags::SHARED);
        if let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(va) {
            // `wp_huge_pmd`: shmem has no `huge_fault`, the PMD is split (zapped) and the
            // fault retried at PTE level.
            debug_assert!(write && !leaf.writable());
            self.split_huge_pmd(pid, va.align_down(PMD_SIZE));
        }
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_present() {
            return if shared {
                self.wp_page_shared(pid, va, pte);
                Ok(())
            } else {
                self.do_wp_page(pid, va)
            };
        }
        if pte.is_swap() {
            return self.do_swap_page(pid, va, write);
        }
        match (write, shared) {
            (false, _) => self.do_read_fault(pid, va, vma, file),
            (true, false) => self.do_cow_fault(pid, va, vma, file),
            (true, true) => self.do_shared_fault(pid, va, vma, file),
        }
    }

    /// `wp_page_shared` without `page_mkwrite`: the PTE becomes writable and dirty.
    fn wp_page_shared(&mut self, pid: Pid, va: VirtAddr, pte: Pte) {
        let new = pte.with_write(true).with_dirty(true).with_young(true);
        self.proc_mut(pid).aspace.pt.set_pte(va, new);
        let head = self.mem.folio_of(pte.pfn());
        self.mem.page_mut(head).flags.set(PageFlags::DIRTY, true);
    }

    fn do_read_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        vma: &Vma,
        file: FileId,
    ) -> Result<(), ModelError> {
        if self.fault_around(pid, va, vma, file) {
            return Ok(());
        }
        let l = self.shmem_get_folio(file, vma, va)?;
        self.finish_fault(pid, va, vma, l, false);
        Ok(())
    }

    /// A private write fault on a page not mapped yet: copy the page-cache page (allocated
    /// if need be) into a new anon page.
    fn do_cow_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        vma: &Vma,
        file: FileId,
    ) -> Result<(), ModelError> {
        let anon_vma = self.anon_vma_prepare(pid, va);
        let new = self.alloc_folio(Order(0))?;
        let l = self.shmem_get_folio(file, vma, va)?;
        self.mem.set_content(new.head, self.mem.content(l.page));
        let new = self.rmap_add_new_anon(new, At(pid, va), anon_vma, Cause::Fault);
        let writable = vma.flags.has(VmFlags::WRITE);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pte(va, Pte::present(new.head, writable, true));
        self.add_rss(pid, RssCounter::Anon, 1);
        self.put_folio(l.folio.head, 1);
        Ok(())
    }

    fn do_shared_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        vma: &Vma,
        file: FileId,
    ) -> Result<(), ModelError> {
        let l = self.shmem_get_folio(file, vma, va)?;
        self.finish_fault(pid, va, vma, l, true);
        // `fault_dirty_shared_page`.
        self.mem
            .page_mut(l.folio.head)
            .flags
            .set(PageFlags::DIRTY, true);
        Ok(())
    }

    /// `do_fault_around` + `filemap_map_pages`: maps the cached pages of the 64K window
    /// around `va` (clamped to the VMA and the page table); true if `va` got mapped.
    fn fault_around(&mut self, pid: Pid, va: VirtAddr, vma: &Vma, file: FileId) -> bool {
        let index = Self::file_index(vma, va);
        let pte_off = (va.0 / PAGE_SIZE) % PTRS_PER_PTE;
        let vma_off = (va.0 - vma.start.0) / PAGE_SIZE;
        let vma_pages = vma.len_bytes() / PAGE_SIZE;
        let from_pte =
            (pte_off / FAULT_AROUND_PAGES * FAULT_AROUND_PAGES).max(pte_off - pte_off.min(vma_off));
        let to_pte = (from_pte + FAULT_AROUND_PAGES)
            .min(PTRS_PER_PTE)
            .min(pte_off + vma_pages - vma_off)
            - 1;
        let start = index + from_pte - pte_off;
        let end = (index + to_pte - pte_off).min(self.cache.file(file).size_pages - 1);
        let folios = self.cache.file(file).folios_in(start, end + 1);
        let Some(first) = folios.first().copied() else {
            return false;
        };
        let haddr = va.align_down(PMD_SIZE);
        if self.proc(pid).aspace.pt.pmd(haddr).is_none()
            && self.do_set_pmd(pid, va, vma, self.folio(first.head), false)
        {
            self.mem.ref_add(first.head, 1);
            return true;
        }
        let mut mapped = false;
        for c in folios {
            let whole = self.era.fault_around == FaultAround::WholeFolio;
            let (lo, hi) = if whole && self.maps_whole_folio(vma, file, c) {
                (c.index, c.index + c.nr_pages - 1)
            } else {
                (start.max(c.index), end.min(c.index + c.nr_pages - 1))
            };
            mapped |= self.map_folio_range(pid, vma, c, lo, hi, index);
        }
        mapped
    }

    /// Whether fault-around maps every page of a cached large folio found in its window,
    /// not only the window's part (6.18: `filemap_map_folio_range` maps the entire folio
    /// when it lies inside the VMA, inside one page table and inside the file).
    fn maps_whole_folio(&self, vma: &Vma, file: FileId, c: Cached) -> bool {
        if c.nr_pages == 1 || c.index < vma.pgoff {
            return false;
        }
        let first = vma.start.add((c.index - vma.pgoff) * PAGE_SIZE);
        let last = first.add(c.nr_pages * PAGE_SIZE - PAGE_SIZE);
        last < vma.end
            && first.align_down(PMD_SIZE) == last.align_down(PMD_SIZE)
            && c.index + c.nr_pages <= self.cache.file(file).size_pages
    }

    /// `filemap_map_folio_range`: maps the pages of file indexes [lo, hi] of one cached
    /// folio whose PTEs are none, in runs; true if `fault_index` was mapped.
    fn map_folio_range(
        &mut self,
        pid: Pid,
        vma: &Vma,
        c: Cached,
        lo: u64,
        hi: u64,
        fault_index: u64,
    ) -> bool {
        let f = self.folio(c.head);
        let va_of = |idx: u64| vma.start.add((idx - vma.pgoff) * PAGE_SIZE);
        let mut mapped = false;
        let mut idx = lo;
        while idx <= hi {
            let run = (idx..=hi)
                .take_while(|&i| self.proc(pid).aspace.pt.pte(va_of(i)).is_none())
                .count() as u64;
            if run == 0 {
                idx += 1;
                continue;
            }
            self.mem.ref_add(f.head, run as i32);
            let page = c.head.add(idx - c.index);
            self.set_pte_range(pid, vma, f, page, run, va_of(idx), false);
            mapped |= (idx..idx + run).contains(&fault_index);
            idx += run;
        }
        mapped
    }

    /// `finish_fault` for a page-cache folio (not a COW): a PMD if the folio is PMD-sized
    /// and the PMD is empty; else the whole folio when it lies inside the VMA and the page
    /// table and its PTEs are none (shmem VMAs), else the faulting page alone. Consumes the
    /// lookup's reference.
    fn finish_fault(&mut self, pid: Pid, va: VirtAddr, vma: &Vma, l: Lookup, write: bool) {
        let f = l.folio;
        let haddr = va.align_down(PMD_SIZE);
        if self.proc(pid).aspace.pt.pmd(haddr).is_none() && self.do_set_pmd(pid, va, vma, f, write)
        {
            return;
        }
        let (first, nr, addr) = self.finish_fault_span(pid, va, vma, l);
        if nr == 1 && !self.proc(pid).aspace.pt.pte(va).is_none() {
            self.put_folio(f.head, 1);
            return;
        }
        self.mem.ref_add(f.head, nr as i32 - 1);
        self.set_pte_range(pid, vma, f, first, nr, addr, write);
    }

    /// The pages `finish_fault` maps: (first page, count, address of the first page).
    fn finish_fault_span(
        &self,
        pid: Pid,
        va: VirtAddr,
        vma: &Vma,
        l: Lookup,
    ) -> (Pfn, u64, VirtAddr) {
        let f = l.folio;
        let nr = f.nr_pages();
        let idx = l.page.offset_from(f.head);
        let vma_off = (va.0 - vma.start.0) / PAGE_SIZE;
        let pte_off = (va.0 / PAGE_SIZE) % PTRS_PER_PTE;
        let fits = vma_off >= idx
            && vma_off + (nr - idx) <= vma.len_bytes() / PAGE_SIZE
            && pte_off >= idx
            && pte_off + (nr - idx) <= PTRS_PER_PTE;
        if nr == 1 || !fits {
            return (l.page, 1, va);
        }
        let addr = VirtAddr(va.0 - idx * PAGE_SIZE);
        let pt = &self.proc(pid).aspace.pt;
        if (0..nr).all(|i| pt.pte(addr.add(i * PAGE_SIZE)).is_none()) {
            (f.head, nr, addr)
        } else {
            (l.page, 1, va)
        }
    }

    /// `set_pte_range` + `folio_add_file_rmap_ptes` + the RSS counter: `nr` pages from
    /// `first` at `addr`. The caller took the references.
    #[allow(clippy::too_many_arguments)]
    fn set_pte_range(
        &mut self,
        pid: Pid,
        vma: &Vma,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        addr: VirtAddr,
        write: bool,
    ) {
        let writable = vma.flags.has(VmFlags::SHARED) && vma.flags.has(VmFlags::WRITE);
        let dirty = write || (writable && self.mem.page(f.head).flags.has(PageFlags::DIRTY));
        let pt = &mut self.proc_mut(pid).aspace.pt;
        for i in 0..nr {
            pt.set_pte(
                addr.add(i * PAGE_SIZE),
                Pte::present(first.add(i), writable, dirty),
            );
        }
        self.rmap_add(At(pid, addr), f, first, nr, Level::Pte, Cause::Fault);
        let counter = self.mm_counter(f);
        self.add_rss(pid, counter, nr as i64);
    }

    /// `do_set_pmd`: maps a PMD-sized folio with one PMD if the VMA allows it. The caller
    /// provides the reference.
    fn do_set_pmd(&mut self, pid: Pid, va: VirtAddr, vma: &Vma, f: FolioRef, write: bool) -> bool {
        if f.order != PMD_ORDER
            || vma.flags.has(VmFlags::NOHUGEPAGE)
            || !Self::suitable(vma, va, PMD_ORDER)
        {
            return false;
        }
        let writable = vma.flags.has(VmFlags::SHARED) && vma.flags.has(VmFlags::WRITE);
        let leaf = Pte::present(f.head, writable, write);
        let haddr = va.align_down(PMD_SIZE);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Leaf(leaf)));
        let counter = self.mm_counter(f);
        self.add_rss(pid, counter, PMD_NR_PAGES as i64);
        self.rmap_add(
            At(pid, haddr),
            f,
            f.head,
            PMD_NR_PAGES,
            Level::Pmd,
            Cause::Fault,
        );
        true
    }

    /// `folio_mark_accessed`: referenced first, active (on the LRU, batch drained) the
    /// second time.
    pub(crate) fn folio_mark_accessed(&mut self, f: FolioRef) {
        let flags = &mut self.mem.page_mut(f.head).flags;
        if !flags.has(PageFlags::REFERENCED) {
            flags.set(PageFlags::REFERENCED, true);
        } else if !flags.has(PageFlags::ACTIVE) {
            flags.set(PageFlags::ACTIVE, true);
            flags.set(PageFlags::REFERENCED, false);
        }
    }

    /// `__split_huge_pmd_locked` on a file VMA: the PMD is zapped, not remapped; the
    /// pages are faulted in again later.
    pub(crate) fn zap_file_pmd(&mut self, pid: Pid, haddr: VirtAddr, leaf: Pte, f: FolioRef) {
        self.proc_mut(pid).aspace.pt.set_pmd(haddr, None);
        let flags = &mut self.mem.page_mut(f.head).flags;
        if leaf.dirty() {
            flags.set(PageFlags::DIRTY, true);
        }
        if leaf.young() {
            flags.set(PageFlags::REFERENCED, true);
        }
        self.rmap_remove(
            At(pid, haddr),
            f,
            f.head,
            PMD_NR_PAGES,
            Level::Pmd,
            Cause::PmdSplit,
        );
        let counter = self.mm_counter(f);
        self.add_rss(pid, counter, -(PMD_NR_PAGES as i64));
        self.put_folio(f.head, 1);
    }

    /// `shmem_get_folio_gfp` for a fault: the cached folio holding the page at `va`, or a
    /// new one of the largest allowed order. Returns it with one reference for the caller.
    fn shmem_get_folio(
        &mut self,
        file: FileId,
        vma: &Vma,
        va: VirtAddr,
    ) -> Result<Lookup, ModelError> {
        let index = Self::file_index(vma, va);
        let c = match self.cache.file(file).lookup(index) {
            Some(c) => c,
            None => self.shmem_alloc_and_add(file, vma, va)?,
        };
        self.mem.ref_add(c.head, 1);
        Ok(Lookup {
            folio: self.folio(c.head),
            page: c.head.add(index - c.index),
        })
    }

    /// `shmem_alloc_and_add_folio`: tries the suitable orders from the largest, then order
    /// 0; the new folio holds one page-cache reference per page.
    fn shmem_alloc_and_add(
        &mut self,
        file: FileId,
        vma: &Vma,
        va: VirtAddr,
    ) -> Result<Cached, ModelError> {
        let index = Self::file_index(vma, va);
        let mut folio = None;
        for o in self.shmem_suitable_orders(file, vma, va) {
            match self.alloc_folio(o) {
                Ok(f) => {
                    self.stats.count_mthp(o, MthpStat::ShmemAlloc, 1);
                    folio = Some(f);
                    break;
                }
                Err(_) => self.stats.count_mthp(o, MthpStat::ShmemFallback, 1),
            }
        }
        let f = match folio {
            Some(f) => f,
            None => self.alloc_folio(Order(0))?,
        };
        self.mem.page_mut(f.head).flags.set(
            PageFlags::SWAPBACKED | PageFlags::UPTODATE | PageFlags::LRU,
            true,
        );
        // The allocation reference becomes one of the cache's.
        self.mem.ref_add(f.head, f.nr_pages() as i32 - 1);
        let c = Cached {
            index: index & !(f.nr_pages() - 1),
            head: f.head,
            nr_pages: f.nr_pages(),
        };
        self.cache.insert(file, c);
        Ok(c)
    }

    /// `shmem_allowable_huge_orders` then `shmem_suitable_orders`: largest first, each
    /// suitable for the VMA and with no page of its aligned range cached yet.
    fn shmem_suitable_orders(&self, file: FileId, vma: &Vma, va: VirtAddr) -> Vec<Order> {
        let index = Self::file_index(vma, va);
        let mut orders = self.shmem_allowable_orders(file, vma, index);
        orders.retain(|&o| {
            let start = index & !(o.nr_pages() - 1);
            Self::suitable(vma, va, o)
                && !self
                    .cache
                    .file(file)
                    .any_cached(start, start + o.nr_pages())
        });
        orders.sort_by(|a, b| b.cmp(a));
        orders
    }

    /// The orders the shmem THP knobs allow at `index` (`shmem_allowable_huge_orders`). A
    /// memfd is an unlinked tmpfs file, so `shmem_mmap_prepare` gives its VMAs the
    /// anonymous-shmem operations (`vma_is_anon_shmem`) exactly as for shared anonymous
    /// memory: the per-size knobs apply to both.
    fn shmem_allowable_orders(&self, file: FileId, vma: &Vma, index: u64) -> Vec<Order> {
        if vma.flags.has(VmFlags::NOHUGEPAGE) {
            return Vec::new();
        }
        let cf = self.cache.file(file);
        let hugepage = vma.flags.has(VmFlags::HUGEPAGE);
        let fits = |o: u8| cf.size_pages >= (index + 1).next_multiple_of(1 << o);
        let global = match self.thp.shmem {
            ShmemMode::Always => true,
            ShmemMode::WithinSize => fits(PMD_ORDER.0) || hugepage,
            ShmemMode::Advise => hugepage,
            ShmemMode::Never | ShmemMode::Inherit => false,
        };
        // Era: before the per-size shmem knobs, the top-level knob gives PMD-sized folios.
        if !self.era.shmem_per_size {
            return if global { vec![PMD_ORDER] } else { Vec::new() };
        }
        (2..=PMD_ORDER.0)
            .filter(|&o| match self.thp.shmem_per_size[o as usize] {
                ShmemMode::Always => true,
                ShmemMode::WithinSize => fits(o),
                ShmemMode::Advise => hugepage,
                ShmemMode::Inherit => global,
                ShmemMode::Never => false,
            })
            .map(Order)
            .collect()
    }
}
