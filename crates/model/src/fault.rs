//! Accesses and the anonymous fault paths: `handle_mm_fault`, `do_anonymous_page` with the
//! mTHP order choice, and `do_huge_pmd_anonymous_page` (THP and the huge zero folio).

use crate::model::{Model, ModelError, Pid, RssCounter};
use crate::rmap::At;
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::pagetable::pte_index;
use foliolab_mem::{Content, PmdEntry, Pte, VmFlags, Vma};
use foliolab_schemes::{Cause, FolioRef};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_ORDER, PMD_SIZE};

/// What an access does at one base page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Store `value` (tagged with write id `tag`) in the page's first 64 bits.
    Write {
        value: u64,
        tag: u32,
    },
}

impl Model {
    /// Starts an access statement: its faults are counted from zero.
    pub fn begin_access(&mut self, pid: Pid) {
        self.proc_mut(pid).faults_last = 0;
    }

    /// One load or store at `va`, faulting as the kernel would; returns what the page holds
    /// afterwards.
    pub fn access(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        access: Access,
    ) -> Result<Content, ModelError> {
        let write = matches!(access, Access::Write { .. });
        let vma = self.vma_at(pid, va)?;
        if !vma.flags.has(VmFlags::READ) || (write && !vma.flags.has(VmFlags::WRITE)) {
            return Err(ModelError::Segv {
                va,
                reason: "the protection forbids the access",
            });
        }
        if self.needs_fault(pid, va, write) {
            self.handle_mm_fault(pid, va, write)?;
            self.proc_mut(pid).faults_last += 1;
        }
        let pfn = self.mark_accessed(pid, va, write);
        if let Access::Write { value, tag } = access {
            self.mem.set_content(pfn, Content { value, tag });
        }
        Ok(self.mem.content(pfn))
    }

    pub(crate) fn vma_at(&self, pid: Pid, va: VirtAddr) -> Result<Vma, ModelError> {
        match self.proc(pid).aspace.vmas.find(va) {
            Some(v) => Ok(v.clone()),
            None => Err(ModelError::Segv {
                va,
                reason: "no mapping",
            }),
        }
    }

    /// One page-table lookup: the PMD entry, then its leaf or PTE.
    pub(crate) fn needs_fault(&self, pid: Pid, va: VirtAddr, write: bool) -> bool {
        let pte = match self.proc(pid).aspace.pt.pmd(va) {
            Some(PmdEntry::Leaf(leaf)) => return write && !leaf.writable(),
            Some(PmdEntry::Table(t)) => t.ptes[pte_index(va)],
            None => Pte::NONE,
        };
        !pte.is_present() || (write && !pte.writable())
    }

    /// Sets the accessed (and on a store, dirty) bit, as the MMU does; returns the PFN.
    fn mark_accessed(&mut self, pid: Pid, va: VirtAddr, write: bool) -> Pfn {
        let (entry, offset) = match self.proc_mut(pid).aspace.pt.pmd_mut(va) {
            Some(PmdEntry::Leaf(leaf)) => (leaf, (va.0 % PMD_SIZE) / PAGE_SIZE),
            Some(PmdEntry::Table(t)) => (&mut t.ptes[pte_index(va)], 0),
            None => panic!("an access at {va:?} with nothing mapped after its fault"),
        };
        let old = *entry;
        *entry = old.with_young(true).with_dirty(old.dirty() || write);
        old.pfn().add(offset)
    }

    pub(crate) fn handle_mm_fault(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        write: bool,
    ) -> Result<(), ModelError> {
        let vma = self.vma_at(pid, va)?;
        if Self::vma_file(&vma).is_some() {
            return self.file_fault(pid, va, write, &vma);
        }
        if !vma.is_anon() {
            return self.driver_fault(pid, va, write);
        }
        let pte = match self.proc(pid).aspace.pt.pmd(va) {
            Some(PmdEntry::Leaf(leaf)) => return self.wp_huge_pmd(pid, va, *leaf),
            Some(PmdEntry::Table(t)) => t.ptes[pte_index(va)],
            None => {
                if self.order_allowed(&vma, va, PMD_ORDER)
                    && self.do_huge_pmd_anonymous_page(pid, va, write)?
                {
                    return Ok(());
                }
                self.proc(pid).aspace.pt.pte(va)
            }
        };
        if pte.is_none() {
            self.do_anonymous_page(pid, va, write)
        } else if pte.is_present() {
            self.do_wp_page(pid, va)
        } else if pte.is_swap() {
            self.do_swap_page(pid, va, write)
        } else {
            Err(ModelError::Unsupported("faults on non-swap entries".into()))
        }
    }

    /// `thp_vma_allowable_orders` plus `thp_vma_suitable_order` for one order.
    fn order_allowed(&self, vma: &Vma, va: VirtAddr, order: Order) -> bool {
        let orders = self.anon_orders(vma);
        orders.contains(&order) && Self::suitable(vma, va, order)
    }

    /// Era: the large anonymous orders this VMA may get (`thp_vma_allowable_orders`).
    pub(crate) fn anon_orders(&self, vma: &Vma) -> Vec<Order> {
        self.era.anon_orders(
            &self.thp,
            vma.flags.has(VmFlags::HUGEPAGE),
            vma.flags.has(VmFlags::NOHUGEPAGE),
        )
    }

    pub(crate) fn suitable(vma: &Vma, va: VirtAddr, order: Order) -> bool {
        let start = va.align_down(order.size_bytes());
        let pg_diff = (vma.start.0 / PAGE_SIZE).wrapping_sub(vma.pgoff);
        pg_diff.is_multiple_of(order.nr_pages())
            && start >= vma.start
            && start.0 + order.size_bytes() <= vma.end.0
    }

    pub(crate) fn anon_vma_prepare(&mut self, pid: Pid, va: VirtAddr) -> u32 {
        let existing = self
            .proc(pid)
            .aspace
            .vmas
            .find(va)
            .map(|v| v.anon_vma)
            .unwrap_or(0);
        if existing != 0 {
            return existing;
        }
        let id = self.new_anon_vma();
        if let Some(v) = self.proc_mut(pid).aspace.vmas.find_mut(va) {
            v.anon_vma = id;
        }
        id
    }

    fn do_anonymous_page(&mut self, pid: Pid, va: VirtAddr, write: bool) -> Result<(), ModelError> {
        if !write {
            let zero = Pte::zero(self.mem.zero_pfn());
            self.proc_mut(pid).aspace.pt.set_pte(va, zero);
            return Ok(());
        }
        let vma = self.vma_at(pid, va)?;
        let anon_vma = self.anon_vma_prepare(pid, va);
        let f = self.alloc_anon_folio(pid, &vma, va)?;
        let f = self.rmap_add_new_anon(f, At(pid, va), anon_vma, Cause::Fault);
        let nr = f.nr_pages();
        self.mem.ref_add(f.head, nr as i32 - 1);
        let start = va.align_down(f.order.size_bytes());
        let writable = vma.flags.has(VmFlags::WRITE);
        // The folio's PTEs lie in one PTE table (an mTHP is smaller than a PMD range).
        let t = self.proc_mut(pid).aspace.pt.table_mut(start);
        let first = pte_index(start);
        for (i, p) in t.ptes[first..first + nr as usize].iter_mut().enumerate() {
            *p = Pte::present(f.head.add(i as u64), writable, writable);
        }
        self.add_rss(pid, RssCounter::Anon, nr as i64);
        self.stats.count_mthp(f.order, MthpStat::AnonFaultAlloc, 1);
        Ok(())
    }

    /// `alloc_anon_folio`: the largest allowed, suitable order whose PTE range is all none.
    fn alloc_anon_folio(
        &mut self,
        pid: Pid,
        vma: &Vma,
        va: VirtAddr,
    ) -> Result<FolioRef, ModelError> {
        let mut orders = self.anon_orders(vma);
        orders.retain(|&o| o < PMD_ORDER && Self::suitable(vma, va, o));
        orders.sort_by(|a, b| b.cmp(a));
        let pt = &self.proc(pid).aspace.pt;
        let first_none = orders.iter().position(|&o| {
            let start = va.align_down(o.size_bytes());
            (0..o.nr_pages()).all(|i| pt.pte(start.add(i * PAGE_SIZE)).is_none())
        });
        for &o in first_none.map(|i| &orders[i..]).unwrap_or(&[]) {
            match self.alloc_folio(o) {
                Ok(f) => return Ok(f),
                Err(_) => self.stats.count_mthp(o, MthpStat::AnonFaultFallback, 1),
            }
        }
        self.alloc_folio(Order(0))
    }

    /// Returns `Ok(false)` when the fault must continue at PTE level.
    fn do_huge_pmd_anonymous_page(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        write: bool,
    ) -> Result<bool, ModelError> {
        // `vmf_anon_prepare` comes before the zero-page choice: a VMA whose first fault
        // mapped the huge zero folio has an anon_vma, so fork copies that PMD.
        self.anon_vma_prepare(pid, va);
        if !write && self.thp.use_zero_page {
            let (hz, new) = self.mem.get_huge_zero()?;
            if new {
                self.stats.count_vm(VmStat::ThpZeroPageAlloc, 1);
            }
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pmd(va, Some(foliolab_mem::PmdEntry::Leaf(Pte::zero(hz))));
            return Ok(true);
        }
        self.map_new_pmd_thp(pid, va).map(|f| f.is_some())
    }

    /// Allocates a PMD THP and maps it at `va`'s PMD (fault and huge-zero COW); `None` on
    /// allocation failure (fallback counted).
    pub(crate) fn map_new_pmd_thp(
        &mut self,
        pid: Pid,
        va: VirtAddr,
    ) -> Result<Option<FolioRef>, ModelError> {
        let vma = self.vma_at(pid, va)?;
        let anon_vma = self.anon_vma_prepare(pid, va);
        let Ok(f) = self.alloc_folio(PMD_ORDER) else {
            self.stats.count_vm(VmStat::ThpFaultFallback, 1);
            self.stats
                .count_mthp(PMD_ORDER, MthpStat::AnonFaultFallback, 1);
            return Ok(None);
        };
        let f = self.rmap_add_new_anon(f, At(pid, va), anon_vma, Cause::Fault);
        let writable = vma.flags.has(VmFlags::WRITE);
        let leaf = Pte::present(f.head, writable, true);
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(va, Some(foliolab_mem::PmdEntry::Leaf(leaf)));
        self.add_rss(pid, RssCounter::Anon, PMD_ORDER.nr_pages() as i64);
        self.stats.count_vm(VmStat::ThpFaultAlloc, 1);
        self.stats
            .count_mthp(PMD_ORDER, MthpStat::AnonFaultAlloc, 1);
        self.deferred_split_folio(f, false);
        Ok(Some(f))
    }
}
