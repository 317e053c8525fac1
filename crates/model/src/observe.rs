//! What the model shows of itself: the per-page view behind pagemap/kpagecount/kpageflags
//! (plus the model-only fields) and smaps. Read-only.

use crate::era::{Bit56Pmd, TailFlags};
use crate::model::{Model, Pid};
use foliolab_mem::{PageFlags, Pte};
use foliolab_schemes::{FolioCounters, FolioRef};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};

/// What backs a virtual page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    None,
    Present,
    Zero,
    HugeZero,
    Swapped,
}

/// One virtual page as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageView {
    pub backing: Backing,
    pub pfn: Option<Pfn>,
    pub folio: Option<FolioRef>,
    /// Index of the page in its folio.
    pub index: u64,
    /// /proc/kpagecount.
    pub kpagecount: u64,
    /// pagemap bit 56.
    pub exclusive: bool,
    pub pmd: bool,
    pub flags: Vec<&'static str>,
    pub writable: bool,
    pub anon_exclusive: bool,
    pub refcount: i64,
    pub pincount: i64,
    pub partially_mapped: bool,
    pub deferred: bool,
    pub counters: FolioCounters,
}

/// smaps fields of one VMA, in bytes except `pss_fixed` (bytes << 12, as the kernel keeps it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmapsView {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub rss: u64,
    pub pss_fixed: u64,
    pub pss_dirty_fixed: u64,
    pub shared_clean: u64,
    pub shared_dirty: u64,
    pub private_clean: u64,
    pub private_dirty: u64,
    pub referenced: u64,
    pub anonymous: u64,
    pub lazyfree: u64,
    pub anon_huge: u64,
    pub shmem_pmd_mapped: u64,
    pub file_pmd_mapped: u64,
    pub swap: u64,
    pub swap_pss_fixed: u64,
}

const PSS_SHIFT: u32 = 12;

impl Model {
    /// The page mapped at `va` in `pid`.
    pub fn page_view(&self, pid: Pid, va: VirtAddr) -> PageView {
        let pt = &self.proc(pid).aspace.pt;
        let (entry, pmd) = match pt.pmd_leaf(va) {
            Some(leaf) => (leaf.advance((va.0 % PMD_SIZE) / PAGE_SIZE), true),
            None => (pt.pte(va), false),
        };
        let mut v = self.empty_view(pmd);
        if entry.is_swap() {
            v.backing = Backing::Swapped;
        }
        if !entry.is_present() {
            return v;
        }
        v.pfn = Some(entry.pfn());
        v.writable = entry.writable();
        if entry.is_special() && self.is_raw_pfn(entry.pfn()) {
            // VM_PFNMAP: a raw PFN, no struct page to report.
            v.backing = Backing::Present;
            return v;
        }
        if entry.is_special() {
            v.backing = if pmd {
                Backing::HugeZero
            } else {
                Backing::Zero
            };
            v.flags = if pmd {
                vec!["THP", "ZERO_PAGE"]
            } else {
                vec!["RESERVED", "ZERO_PAGE"]
            };
            v.folio = Some(self.folio_of_page(entry.pfn()));
            v.index = entry.pfn().offset_from(self.mem.folio_of(entry.pfn()));
            if pmd {
                let compound = if v.index == 0 {
                    "COMPOUND_HEAD"
                } else {
                    "COMPOUND_TAIL"
                };
                v.flags = vec![compound, "THP", "ZERO_PAGE"];
            }
            return v;
        }
        self.fill_present(&mut v, entry, pmd);
        v
    }

    fn empty_view(&self, pmd: bool) -> PageView {
        PageView {
            backing: Backing::None,
            pfn: None,
            folio: None,
            index: 0,
            kpagecount: 0,
            exclusive: false,
            pmd,
            flags: Vec::new(),
            writable: false,
            anon_exclusive: false,
            refcount: 0,
            pincount: 0,
            partially_mapped: false,
            deferred: false,
            counters: FolioCounters::default(),
        }
    }

    fn fill_present(&self, v: &mut PageView, entry: Pte, pmd: bool) {
        let page = entry.pfn();
        let f = self.folio_of_page(page);
        v.backing = Backing::Present;
        v.folio = Some(f);
        v.index = page.offset_from(f.head);
        v.kpagecount = self.kpagecount(f, page).max(0) as u64;
        // Era: since 6.15 a PMD mapping's bit 56 is computed on the head page for every index.
        let bit56_page = match self.era.bit56_pmd {
            Bit56Pmd::HeadPage if pmd => f.head,
            _ => page,
        };
        v.exclusive = self.page_mapped_exclusively(f, bit56_page);
        v.anon_exclusive = self.page_anon_exclusive(page);
        v.refcount = self.mem.refcount(f.head) as i64;
        v.pincount = if f.is_large() {
            self.mem.page(f.head.add(1)).pincount() as i64
        } else {
            0
        };
        v.partially_mapped = self.is_partially_mapped(f);
        v.deferred = self.is_queued(f);
        v.counters = self.folio_counters(f);
        v.flags = match self.era.tail_kpageflags {
            TailFlags::OwnPage if v.index != 0 => self.tail_kpageflags(f, page),
            _ => self.kpageflags(f),
        };
        if f.is_large() {
            v.flags.push(if v.index == 0 {
                "COMPOUND_HEAD"
            } else {
                "COMPOUND_TAIL"
            });
            v.flags.sort_unstable();
        }
    }

    /// kpageflags names (IDLE never set; LRU masked on order-0 folios).
    fn kpageflags(&self, f: FolioRef) -> Vec<&'static str> {
        let pf = self.mem.page(f.head).flags;
        let mut out = Vec::new();
        if pf.has(PageFlags::ACTIVE) {
            out.push("ACTIVE");
        }
        if pf.has(PageFlags::ANON) {
            out.push("ANON");
        }
        if pf.has(PageFlags::DIRTY) {
            out.push("DIRTY");
        }
        // Era: 6.12 reports KSM for every anonymous page.
        if self.era.kpageflags_ksm_anon && pf.has(PageFlags::ANON) {
            out.push("KSM");
        }
        // PG_anon_exclusive is PG_mappedtodisk; kpageflags copies it from the folio's head.
        // Era: 5.10 has no PG_anon_exclusive.
        if pf.has(PageFlags::ANON_EXCLUSIVE) && self.era.anon_exclusive {
            out.push("MAPPEDTODISK");
        }
        if f.is_large() && pf.has(PageFlags::LRU) {
            out.push("LRU");
        }
        if self.folio_mapped(f) {
            out.push("MMAP");
        }
        if pf.has(PageFlags::REFERENCED) {
            out.push("REFERENCED");
        }
        if pf.has(PageFlags::SWAPBACKED) {
            out.push("SWAPBACKED");
        }
        if pf.has(PageFlags::SWAPCACHE) {
            // PG_swapcache is PG_owner_private: kpageflags reports both names.
            out.push("OWNER_PRIVATE");
            out.push("SWAPCACHE");
        }
        let rmappable = self
            .mem
            .page(f.head.add(1))
            .flags
            .has(PageFlags::LARGE_RMAPPABLE);
        if f.is_large() && rmappable {
            out.push("THP");
        }
        if pf.has(PageFlags::UPTODATE) {
            out.push("UPTODATE");
        }
        out
    }

    /// kpageflags of a tail page before 6.12 (`stable_page_flags` on the page itself): what
    /// is computed from the folio (ANON, MMAP, THP; COMPOUND_TAIL is added by the caller)
    /// and the tail's own PG_anon_exclusive (MAPPEDTODISK); a tail page's own `flags` hold
    /// none of LRU, DIRTY, UPTODATE, SWAPBACKED, REFERENCED.
    fn tail_kpageflags(&self, f: FolioRef, page: Pfn) -> Vec<&'static str> {
        let head = self.mem.page(f.head).flags;
        let mut out = Vec::new();
        if head.has(PageFlags::ANON) {
            out.push("ANON");
        }
        if self.era.anon_exclusive && self.mem.page(page).flags.has(PageFlags::ANON_EXCLUSIVE) {
            out.push("MAPPEDTODISK");
        }
        if self.folio_mapped(f) {
            out.push("MMAP");
        }
        let rmappable = self
            .mem
            .page(f.head.add(1))
            .flags
            .has(PageFlags::LARGE_RMAPPABLE);
        if rmappable {
            out.push("THP");
        }
        out
    }

    /// smaps of every VMA intersecting [start, end), in address order.
    pub fn smaps(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Vec<SmapsView> {
        let vmas = self.proc(pid).aspace.vmas.overlapping(start, end);
        vmas.iter()
            .map(|v| self.smaps_vma(pid, v.start, v.end))
            .collect()
    }

    fn smaps_vma(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> SmapsView {
        let mut s = SmapsView {
            start,
            end,
            ..SmapsView::default()
        };
        let pt = &self.proc(pid).aspace.pt;
        let mut va = start;
        while va < end {
            if let Some(leaf) = pt.pmd_leaf(va) {
                if !leaf.is_special() {
                    let f = self.folio_of_page(leaf.pfn());
                    let huge = if f.anon {
                        &mut s.anon_huge
                    } else if self.mem.page(f.head).flags.has(PageFlags::SWAPBACKED) {
                        &mut s.shmem_pmd_mapped
                    } else {
                        &mut s.file_pmd_mapped
                    };
                    *huge += PMD_SIZE;
                    self.smaps_account(&mut s, leaf, PMD_NR_PAGES);
                }
                va = va.align_down(PMD_SIZE).add(PMD_SIZE);
                continue;
            }
            let pte = pt.pte(va);
            if pte.is_present() && !pte.is_special() {
                self.smaps_account(&mut s, pte, 1);
            }
            if pte.is_swap() {
                self.smaps_swap(&mut s, pte);
            }
            va = va.add(PAGE_SIZE);
        }
        // Era: no `Pss_Dirty` line before 6.0 (reads as 0).
        if !self.era.smaps_pss_dirty {
            s.pss_dirty_fixed = 0;
        }
        s
    }

    /// A swap entry in `smaps_pte_entry`: `Swap`, and `SwapPss` divided by the swap count.
    fn smaps_swap(&self, s: &mut SmapsView, pte: Pte) {
        let count = self
            .swap
            .as_ref()
            .map_or(1, |d| d.count(pte.swap_offset()) as u64);
        s.swap += PAGE_SIZE;
        s.swap_pss_fixed += (PAGE_SIZE << PSS_SHIFT) / count.max(1);
    }

    /// `smaps_account` for `nr` pages mapped by `entry`.
    fn smaps_account(&self, s: &mut SmapsView, entry: Pte, nr: u64) {
        let f = self.folio_of_page(entry.pfn());
        let dirty = entry.dirty() || self.mem.page(f.head).flags.has(PageFlags::DIRTY);
        let size = nr * PAGE_SIZE;
        s.rss += size;
        if f.anon {
            s.anonymous += size;
            if !self.mem.page(f.head).flags.has(PageFlags::SWAPBACKED) && !dirty {
                s.lazyfree += size;
            }
        }
        if entry.young() || self.mem.page(f.head).flags.has(PageFlags::REFERENCED) {
            s.referenced += size;
        }
        let sole = self.mem.refcount(f.head) == 1;
        for i in 0..nr {
            let page = entry.pfn().add(i);
            let mc = if sole {
                1
            } else {
                self.kpagecount(f, page).max(1) as u64
            };
            let private = sole || self.page_mapped_exclusively(f, page);
            let pss = (PAGE_SIZE << PSS_SHIFT) / mc;
            s.pss_fixed += pss;
            if dirty {
                s.pss_dirty_fixed += pss;
            }
            match (private, dirty) {
                (true, true) => s.private_dirty += PAGE_SIZE,
                (true, false) => s.private_clean += PAGE_SIZE,
                (false, true) => s.shared_dirty += PAGE_SIZE,
                (false, false) => s.shared_clean += PAGE_SIZE,
            }
        }
    }
}

impl SmapsView {
    /// A field in kB as the kernel prints it.
    pub fn pss_kb(&self) -> u64 {
        self.pss_fixed >> (10 + PSS_SHIFT)
    }
    pub fn pss_dirty_kb(&self) -> u64 {
        self.pss_dirty_fixed >> (10 + PSS_SHIFT)
    }
    pub fn swap_pss_kb(&self) -> u64 {
        self.swap_pss_fixed >> (10 + PSS_SHIFT)
    }
}
