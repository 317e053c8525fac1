//! The shared state the explored threads act on: the model's physical memory (the struct-page
//! memmap and buddy allocator of `foliolab-mem`), one address space per MM (page tables of
//! `foliolab-mem`), the design under exploration, the locks, the TLB entries not yet flushed,
//! the references held outside page tables, migration entries and the deferred split queue.
//!
//! The primitives here are single kernel actions (clear a PTE, take a speculative reference,
//! drop references and free on the last one, one rmap call); steps compose them. Anything a
//! primitive finds wrong (a put that frees a tail page, a bad page at free) becomes an
//! [`Event::Violation`] of the step that did it, never a panic.

use crate::design::Design;
use crate::locks::{mm_name, Locks};
use crate::mmid::MmIdWords;
use foliolab_mem::{AddressSpace, Content, Memory, PageFlags, PmdEntry, Pte};
use foliolab_schemes::FolioRef;
use foliolab_types::{MmId, Order, Pfn, VirtAddr, PAGE_SIZE, PMD_SIZE};
use std::collections::{BTreeMap, BTreeSet};

/// Where every MM maps the race's pages: one PTE table (2 MiB aligned).
pub const VA_BASE: VirtAddr = VirtAddr(0x4000_0000);
/// PTEs the explorer looks at (and fingerprints) from `VA_BASE`.
pub const VA_PAGES: u64 = 16;
/// Swap offsets at and above this mark migration entries (`make_migration_entry`).
const MIGRATION: u64 = 1 << 40;

/// The address of page `i` of the race's range.
pub fn va(i: u64) -> VirtAddr {
    VA_BASE.add(i * PAGE_SIZE)
}

/// The variant switches of the kernel paths (kernel behaviour by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Knobs {
    /// MMU_GATHER_NO_GATHER (s390): clearing a PTE flushes its TLB entry at once, and
    /// `__tlb_remove_folio_pages` drops the references at once instead of after the flush.
    pub no_gather: bool,
    /// The zap ordering (6.9+ or the June 2023 batched-zap proposal).
    pub zap: ZapOrder,
    /// GUP-fast re-checks `page_folio` and the PTE after `folio_try_get`.
    pub gup_recheck: bool,
    /// `__wp_can_reuse_large_anon_folio` compares the large mapcount with the refcount
    /// (unlocked, then again under the large-mapcount lock).
    pub reuse_refcount_check: bool,
    /// The large-mapcount lock is taken for the re-check (with the refcount check kept).
    pub reuse_lock: bool,
    /// `split_folio` freezes the refcount at the expected value before splitting.
    pub split_freeze: bool,
    /// MM_ID slot updates take the large-mapcount bit lock.
    pub mmid_lock: bool,
}

/// How a batched zap orders PTE clearing, rmap removal and reference dropping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZapOrder {
    /// 6.9+ `zap_present_folio_ptes`: clear the batch, `folio_remove_rmap_ptes`, then
    /// `__tlb_remove_folio_pages`.
    RmapFirst,
    /// Ryan Roberts' June 2023 batched zap: per page clear + `__tlb_remove_page`, then one
    /// rmap removal for the range; `extra_get` brackets it with `folio_get`/`folio_put`.
    RyanV1 { extra_get: bool },
    /// Test-only: the rmap removal before the PTEs are cleared (the order the batched-zap
    /// thread says must never happen: "we must only remove from the rmap *after* doing the
    /// pte clear").
    RmapBeforeClear,
}

impl Knobs {
    /// The kernel's code paths (every switch as 6.18 has it).
    pub const KERNEL: Knobs = Knobs {
        no_gather: false,
        zap: ZapOrder::RmapFirst,
        gup_recheck: true,
        reuse_refcount_check: true,
        reuse_lock: true,
        split_freeze: true,
        mmid_lock: true,
    };
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs::KERNEL
    }
}

/// A reference held outside page tables by a thread of MM `mm` (a GUP-fast pin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hold {
    pub mm: u8,
    pub page: Pfn,
}

/// What a step found: a broken rule (the exploration stops there) or a fact worth counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Violation(String),
    Observe(String),
}

pub struct World {
    pub mem: Memory,
    pub mms: Vec<AddressSpace>,
    pub design: Design,
    pub locks: Locks,
    /// Translations a CPU may still use after their PTE was cleared: (mm, va, pfn).
    pub tlb: BTreeSet<(u8, u64, u64)>,
    pub holds: Vec<Hold>,
    /// The deferred split queue (heads), FIFO; flags live in the memmap.
    pub queue: Vec<Pfn>,
    /// Every user folio the world allocated and has not freed (heads).
    pub live: BTreeSet<Pfn>,
    /// Migration entries: (mm, va) -> the present PTE they replaced.
    pub migration: BTreeMap<(u8, u64), Pte>,
    /// Folios whose refcount is frozen (`folio_ref_freeze`): head -> the frozen count.
    pub frozen: BTreeMap<Pfn, i32>,
    /// Step-by-step MM_ID words of folios a race follows that closely.
    pub mmid: BTreeMap<Pfn, MmIdWords>,
    pub knobs: Knobs,
    /// Produced by the current step; drained by the executor.
    pub events: Vec<Event>,
    /// Pages the fingerprint and the traces look at besides live folios.
    pub window: Vec<Pfn>,
    /// The race's folio, shown in traces.
    pub focus: Pfn,
}

impl World {
    pub fn new(design: Design, nr_mms: u8, knobs: Knobs) -> World {
        let mms = (0..nr_mms)
            .map(|i| AddressSpace {
                id: MmId(i as u32 + 1),
                ..AddressSpace::default()
            })
            .collect();
        World {
            mem: Memory::new(),
            mms,
            design,
            locks: Locks::default(),
            tlb: BTreeSet::new(),
            holds: Vec::new(),
            queue: Vec::new(),
            live: BTreeSet::new(),
            migration: BTreeMap::new(),
            frozen: BTreeMap::new(),
            mmid: BTreeMap::new(),
            knobs,
            events: Vec::new(),
            window: Vec::new(),
            focus: Pfn(0),
        }
    }

    pub fn violation(&mut self, msg: impl Into<String>) {
        self.events.push(Event::Violation(msg.into()));
    }
    pub fn observe(&mut self, what: impl Into<String>) {
        self.events.push(Event::Observe(what.into()));
    }

    pub fn mm_id(&self, mm: u8) -> MmId {
        self.mms[mm as usize].id
    }
    pub fn folio(&self, head: Pfn) -> FolioRef {
        FolioRef {
            head,
            order: self.mem.folio_order(head),
            anon: self.mem.page(head).flags.has(PageFlags::ANON),
        }
    }
    /// The folio `page` belongs to now.
    pub fn folio_of(&self, page: Pfn) -> FolioRef {
        self.folio(self.mem.folio_of(page))
    }
    pub fn refcount(&self, head: Pfn) -> i32 {
        self.mem.refcount(head)
    }

    // ---- page tables and TLB ----

    pub fn pte(&self, mm: u8, va: VirtAddr) -> Pte {
        self.mms[mm as usize].pt.pte(va)
    }
    pub fn set_pte(&mut self, mm: u8, va: VirtAddr, pte: Pte) {
        self.mms[mm as usize].pt.set_pte(va, pte);
    }
    /// `ptep_get_and_clear`: on architectures that gather, the translation stays usable by
    /// other CPUs until the TLB flush.
    pub fn clear_pte(&mut self, mm: u8, va: VirtAddr) -> Pte {
        let old = self.pte(mm, va);
        self.set_pte(mm, va, Pte::NONE);
        if old.is_present() && !self.knobs.no_gather {
            self.tlb.insert((mm, va.0, old.pfn().0));
        }
        old
    }
    /// The TLB flush of `mm` (`tlb_flush_mmu_tlbonly`).
    pub fn flush_tlb(&mut self, mm: u8) {
        self.tlb.retain(|&(m, _, _)| m != mm);
    }
    /// Replaces a present PTE by a migration entry (`try_to_migrate_one`, flushed).
    pub fn set_migration_entry(&mut self, mm: u8, va: VirtAddr) -> Pte {
        let old = self.pte(mm, va);
        let page = old.pfn();
        let excl = self.mem.page(page).flags.has(PageFlags::ANON_EXCLUSIVE);
        self.set_pte(mm, va, Pte::swap(MIGRATION | page.0, excl));
        self.migration.insert((mm, va.0), old);
        old
    }
    /// The migration entry at (mm, va), if any: the PTE it replaced.
    pub fn migration_entry(&self, mm: u8, va: VirtAddr) -> Option<Pte> {
        let pte = self.pte(mm, va);
        if pte.is_swap() && pte.swap_offset() >= MIGRATION {
            return self.migration.get(&(mm, va.0)).copied();
        }
        None
    }

    /// Every way MM `mm` can still reach `page`: a present PTE, a TLB entry not yet
    /// flushed, a reference it holds (GUP), or a migration entry that will be restored.
    pub fn reaches(&self, mm: u8, page: Pfn) -> Option<&'static str> {
        let pt = &self.mms[mm as usize].pt;
        for (_, e) in pt.iter() {
            if let PmdEntry::Table(t) = e {
                if t.ptes.iter().any(|p| p.is_present() && p.pfn() == page) {
                    return Some("a present PTE");
                }
            }
        }
        if self.tlb.iter().any(|&(m, _, p)| m == mm && p == page.0) {
            return Some("a TLB entry not yet flushed");
        }
        if self.holds.iter().any(|h| h.mm == mm && h.page == page) {
            return Some("a GUP reference");
        }
        let restores = |(&(m, _), pte): (&(u8, u64), &Pte)| m == mm && pte.pfn() == page;
        if self.migration.iter().any(restores) {
            return Some("a migration entry");
        }
        None
    }

    /// The MMs mapping any page of `f` by a present PTE, counted.
    pub fn nr_mms_mapping(&self, f: FolioRef) -> u8 {
        let end = f.head.0 + f.nr_pages();
        let maps = |a: &AddressSpace| {
            (0..VA_PAGES).any(|i| {
                let p = a.pt.pte(va(i));
                p.is_present() && !p.is_special() && (f.head.0..end).contains(&p.pfn().0)
            })
        };
        self.mms.iter().filter(|a| maps(a)).count() as u8
    }

    // ---- folios and references ----

    /// A new folio from the buddy allocator, with the design's words prepared.
    pub fn alloc_folio(&mut self, order: Order) -> FolioRef {
        let head = self
            .mem
            .alloc_folio(order)
            .expect("the model's memory is 16 GiB");
        let f = self.folio(head);
        self.design.prep(f, &mut self.mem);
        self.live.insert(head);
        f
    }

    /// `folio_ref_try_add(page_folio-as-read, 1)`: add unless zero, on the struct page at
    /// `pfn` whatever it is now (a freed page, a tail, a frozen folio all read 0, except a
    /// tail whose `_refcount` slot a design reused).
    pub fn try_get(&mut self, pfn: Pfn) -> bool {
        self.mem.get_page_unless_zero(pfn)
    }

    /// `folio_put_refs` on the struct page at `pfn`: frees the folio on the last reference.
    /// A page that is no longer a folio head, a frozen folio or an underflow is a violation.
    pub fn put_refs(&mut self, pfn: Pfn, nr: i32) {
        let head = self.mem.folio_of(pfn);
        let rc = self.mem.page(pfn).refcount;
        if self.frozen.contains_key(&pfn) || rc < nr {
            let what = if head != pfn {
                "a tail page"
            } else {
                "a folio"
            };
            self.violation(format!(
                "folio_put_refs({pfn:#x}, {nr}) underflows {what} with _refcount {rc}",
                pfn = pfn.0
            ));
            return;
        }
        self.mem.page_mut(pfn).refcount = rc - nr;
        if rc - nr != 0 {
            return;
        }
        if head != pfn || !self.mem.page(pfn).flags.has(PageFlags::ALLOCATED) {
            self.violation(format!(
                "folio_put_refs({:#x}) dropped the last reference of a tail page of {:#x}: \
                 the kernel would free part of a live folio",
                pfn.0, head.0
            ));
            return;
        }
        self.free_folio(pfn);
    }

    /// Frees a folio whose refcount reached 0: the free-time checks of
    /// `free_tail_page_prepare` and `page_expected_state`, the design's "bad page" check,
    /// then back to the buddy allocator.
    pub fn free_folio(&mut self, head: Pfn) {
        let f = self.folio(head);
        for i in 1..f.nr_pages() {
            let rc = self.mem.page(head.add(i)).refcount;
            if rc != 0 {
                self.violation(format!(
                    "bad page at free of {:#x}: page[{i}] _refcount {rc}",
                    head.0
                ));
                self.mem.page_mut(head.add(i)).refcount = 0;
            }
        }
        if let Err(e) = self.design.free(f) {
            self.violation(format!("freed while mapped: {e}"));
        }
        self.unqueue(f);
        self.mmid.remove(&head);
        self.live.remove(&head);
        self.mem.free_folio(head);
    }

    /// Removes a folio from the deferred split queue, clearing its flag.
    pub fn unqueue(&mut self, f: FolioRef) {
        if f.order.0 < 2 {
            return;
        }
        self.queue.retain(|&h| h != f.head);
        let p1 = self.mem.page_mut(f.head.add(1));
        p1.flags
            .set(PageFlags::DEFERRED | PageFlags::PARTIALLY_MAPPED, false);
    }
    /// `deferred_split_folio(folio, partially_mapped = true)`.
    pub fn queue_partial(&mut self, f: FolioRef) {
        if f.order.0 < 2 || self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            return;
        }
        let p1 = self.mem.page_mut(f.head.add(1));
        p1.flags.set(PageFlags::PARTIALLY_MAPPED, true);
        if !p1.flags.has(PageFlags::DEFERRED) {
            p1.flags.set(PageFlags::DEFERRED, true);
            self.queue.push(f.head);
        }
    }
    pub fn is_queued(&self, f: FolioRef) -> bool {
        f.order.0 >= 2 && self.mem.page(f.head.add(1)).flags.has(PageFlags::DEFERRED)
    }

    // ---- rmap calls (the design's events) ----

    pub fn rmap_add_new(&mut self, f: FolioRef, mm: u8) {
        let id = self.mm_id(mm);
        self.mem.page_mut(f.head).flags.set(PageFlags::ANON, true);
        let f = self.folio(f.head);
        self.design.add_new_anon(f, id, &mut self.mem);
    }
    pub fn rmap_add(&mut self, f: FolioRef, first: Pfn, nr: u64, mm: u8) {
        let id = self.mm_id(mm);
        self.design.add(f, first, nr, id, &mut self.mem);
    }
    pub fn rmap_dup(&mut self, f: FolioRef, first: Pfn, nr: u64, mm: u8) {
        let id = self.mm_id(mm);
        self.design.dup(f, first, nr, id, &mut self.mem);
    }
    /// `folio_remove_rmap_ptes`; returns whether the design asks for deferred split.
    pub fn rmap_remove(&mut self, f: FolioRef, first: Pfn, nr: u64, mm: u8) -> bool {
        let id = self.mm_id(mm);
        let r = self.design.remove(f, first, nr, id, &mut self.mem);
        r.partially_mapped && f.anon
    }

    // ---- contents ----

    /// A store by MM `mm` through its PTE at `va` (tagged with the writer).
    pub fn write(&mut self, mm: u8, va: VirtAddr) {
        let pte = self.pte(mm, va);
        if !pte.is_present() || !pte.writable() {
            self.violation(format!(
                "{} writes through a PTE that is not writable: {pte:?}",
                mm_name(mm)
            ));
            return;
        }
        let c = Content {
            value: 0xa000 + mm as u64,
            tag: mm as u32 + 1,
        };
        self.mem.set_content(pte.pfn(), c);
    }
    /// A read by MM `mm` of `page` (through a GUP reference or a stale TLB entry): seeing
    /// what another MM wrote during the race is a leak.
    pub fn read(&mut self, mm: u8, page: Pfn, through: &str) {
        let c = self.mem.content(page);
        if c.tag != 0 && c.tag != mm as u32 + 1 {
            self.violation(format!(
                "leak: {} reads {:#x} through {through} and sees what {} wrote during the race",
                mm_name(mm),
                page.0,
                mm_name(c.tag as u8 - 1)
            ));
        }
    }

    /// The PMD index of the race's page table (for the page-table lock).
    pub fn pmd_index() -> u64 {
        VA_BASE.0 / PMD_SIZE
    }
}
