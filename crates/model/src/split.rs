//! Splits: `__split_huge_pmd_locked` (a PMD mapping becomes PTEs of the same folio, or is
//! zapped for file folios), folio splits (`split_folio`: unmap to migration entries one PTE
//! at a time, split the memmap, remap, all-zero subpages to the shared zero page) and the
//! deferred split shrinker (`deferred_split_scan`).

use crate::model::{Model, Pid, RssCounter};
use crate::revmap::maps_page_of;
use crate::rmap::At;
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::{PageFlags, PmdEntry, Pte, PteTable};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Order, Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_ORDER, PMD_SIZE};

/// A mapping replaced by a migration entry while the folio is split.
#[derive(Clone, Copy, Debug)]
struct Migration {
    pid: Pid,
    va: VirtAddr,
    page: Pfn,
    writable: bool,
    dirty: bool,
    exclusive: bool,
}

impl Model {
    /// `__split_huge_pmd_locked` without freezing: the PMD becomes 512 PTEs of the same
    /// folio (adding the PTE mappings before removing the PMD one).
    pub(crate) fn split_huge_pmd(&mut self, pid: Pid, haddr: VirtAddr) {
        let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(haddr) else {
            return;
        };
        self.stats.count_vm(VmStat::ThpSplitPmd, 1);
        let mut table = PteTable::new();
        if leaf.is_special() {
            let zero = Pte::zero(self.mem.zero_pfn());
            table.ptes.iter_mut().for_each(|p| *p = zero);
            self.proc_mut(pid)
                .aspace
                .pt
                .set_pmd(haddr, Some(PmdEntry::Table(table)));
            return;
        }
        let f = self.folio_of_page(leaf.pfn());
        if !f.anon {
            self.zap_file_pmd(pid, haddr, leaf, f);
            return;
        }
        let nr = PMD_ORDER.nr_pages();
        let exclusive = self.page_anon_exclusive(f.head);
        if leaf.dirty() {
            self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
        }
        self.mem.ref_add(f.head, nr as i32 - 1);
        self.rmap_add(At(pid, haddr), f, f.head, nr, Level::Pte, Cause::PmdSplit);
        for i in 0..nr {
            if exclusive {
                self.mem
                    .page_mut(f.head.add(i))
                    .flags
                    .set(PageFlags::ANON_EXCLUSIVE, true);
            }
            let pte =
                Pte::present(f.head.add(i), leaf.writable(), leaf.dirty()).with_young(leaf.young());
            table.ptes[i as usize] = pte;
        }
        self.proc_mut(pid)
            .aspace
            .pt
            .set_pmd(haddr, Some(PmdEntry::Table(table)));
        self.rmap_remove(At(pid, haddr), f, f.head, nr, Level::Pmd, Cause::PmdSplit);
    }

    /// The `shrink` statement: run the deferred split shrinker until the queue stops changing.
    pub fn shrink(&mut self) {
        for _ in 0..5 {
            let before = self.deferred_queue();
            self.deferred_split_scan();
            if self.deferred_queue() == before {
                break;
            }
        }
    }

    fn deferred_split_scan(&mut self) {
        for head in self.deferred_queue() {
            let f = self.folio(head);
            if !self.live.contains(&head) || !self.is_queued(f) {
                continue;
            }
            if self.is_partially_mapped(f) {
                self.split_folio(f);
            } else if self.thp_underused(f) && self.split_folio(f) {
                self.stats.count_vm(VmStat::ThpUnderusedSplitPage, 1);
            } else if self.live.contains(&head) {
                self.unqueue_deferred(f);
            }
        }
    }

    /// `thp_underused`: more zero-filled pages than `max_ptes_none` (never at the default 511).
    fn thp_underused(&self, f: FolioRef) -> bool {
        let max_none = self.thp.max_ptes_none as u64;
        if max_none >= PMD_NR_PAGES - 1 {
            return false;
        }
        let zero = (0..f.nr_pages())
            .filter(|&i| self.mem.content(f.head.add(i)).value == 0)
            .count() as u64;
        zero > max_none
    }

    /// Splits an anon folio to order 0; false if extra references forbid it.
    pub(crate) fn split_folio(&mut self, f: FolioRef) -> bool {
        let swapcache = if self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            f.nr_pages() as i64
        } else {
            0
        };
        if f.order.0 == 0 || self.mem.refcount(f.head) as i64 != self.folio_mapcount(f) + swapcache
        {
            self.stats.count_mthp(f.order, MthpStat::SplitFailed, 1);
            if f.pmd_mappable() {
                self.stats.count_vm(VmStat::ThpSplitPageFailed, 1);
            }
            return false;
        }
        let entries = self.unmap_folio(f);
        self.unqueue_deferred(f);
        self.rmap_free_folio(f);
        let heads = self.mem.split_folio(f.head, Order(0));
        for &h in &heads {
            self.rmap_prep_folio(self.folio(h));
            self.live.insert(h);
        }
        self.stats.count_mthp(f.order, MthpStat::NrAnon, -1);
        self.stats.count_mthp(f.order, MthpStat::Split, 1);
        if f.pmd_mappable() {
            self.stats.count_vm(VmStat::ThpSplitPage, 1);
        }
        for m in entries {
            self.remap_page(m);
        }
        for h in heads {
            if self.mem.refcount(h) == 0 {
                self.mem.ref_add(h, 1);
                self.put_folio(h, 1);
            }
        }
        true
    }

    /// `unmap_folio`: every mapping becomes a migration entry; PMDs are split frozen, PTEs
    /// are removed one at a time (so a fully mapped folio looks partially mapped on the way).
    fn unmap_folio(&mut self, f: FolioRef) -> Vec<Migration> {
        let mut out = Vec::new();
        // The reverse map's ranges, in process then address order (as a walk of every
        // page table would meet them).
        for (pid, key) in self.revmap.pmd_ranges(f.head, f.nr_pages()) {
            self.unmap_folio_in_pmd(pid, VirtAddr(key * PMD_SIZE), f, &mut out);
        }
        debug_assert!(
            self.mappings_by_scan(f).is_empty(),
            "a mapping left after unmap_folio"
        );
        out
    }

    fn unmap_folio_in_pmd(
        &mut self,
        pid: Pid,
        haddr: VirtAddr,
        f: FolioRef,
        out: &mut Vec<Migration>,
    ) {
        let in_folio = |p: Pte| maps_page_of(p, f);
        match self.proc(pid).aspace.pt.pmd(haddr) {
            Some(PmdEntry::Leaf(leaf)) if in_folio(*leaf) => {
                let leaf = *leaf;
                let exclusive = self.page_anon_exclusive(f.head);
                self.proc_mut(pid)
                    .aspace
                    .pt
                    .set_pmd(haddr, Some(PmdEntry::Table(PteTable::new())));
                self.rmap_remove(
                    At(pid, haddr),
                    f,
                    f.head,
                    PMD_NR_PAGES,
                    Level::Pmd,
                    Cause::FolioSplit,
                );
                self.mem.ref_add(f.head, -1);
                for i in 0..PMD_NR_PAGES {
                    let m = Migration {
                        pid,
                        va: haddr.add(i * PAGE_SIZE),
                        page: f.head.add(i),
                        writable: leaf.writable(),
                        dirty: leaf.dirty(),
                        exclusive,
                    };
                    out.push(m);
                }
                self.stats.count_vm(VmStat::ThpSplitPmd, 1);
            }
            Some(PmdEntry::Table(t)) => {
                let hits: Vec<(usize, Pte)> = t
                    .ptes
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| in_folio(**p))
                    .map(|(i, p)| (i, *p))
                    .collect();
                for (i, pte) in hits {
                    let va = haddr.add(i as u64 * PAGE_SIZE);
                    let exclusive = self.page_anon_exclusive(pte.pfn());
                    if pte.dirty() {
                        self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
                    }
                    self.proc_mut(pid).aspace.pt.set_pte(va, Pte::NONE);
                    self.rmap_remove(At(pid, va), f, pte.pfn(), 1, Level::Pte, Cause::FolioSplit);
                    self.mem.ref_add(f.head, -1);
                    out.push(Migration {
                        pid,
                        va,
                        page: pte.pfn(),
                        writable: pte.writable(),
                        dirty: pte.dirty(),
                        exclusive,
                    });
                }
            }
            _ => {}
        }
    }

    /// `remove_migration_pte` with RMP_USE_SHARED_ZEROPAGE.
    fn remap_page(&mut self, m: Migration) {
        let small = self.folio(m.page);
        let locked = self
            .proc(m.pid)
            .aspace
            .vmas
            .find(m.va)
            .is_some_and(|v| v.flags.has(foliolab_mem::VmFlags::LOCKED));
        if self.mem.content(m.page).value == 0 && !locked {
            let zero = Pte::zero(self.mem.zero_pfn());
            self.proc_mut(m.pid).aspace.pt.set_pte(m.va, zero);
            self.add_rss(m.pid, RssCounter::Anon, -1);
            return;
        }
        self.mem.ref_add(small.head, 1);
        self.mem
            .page_mut(m.page)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, m.exclusive);
        self.rmap_add(
            At(m.pid, m.va),
            small,
            m.page,
            1,
            Level::Pte,
            Cause::FolioSplit,
        );
        let pte = Pte::present(m.page, m.writable, m.dirty);
        self.proc_mut(m.pid).aspace.pt.set_pte(m.va, pte);
    }
}
