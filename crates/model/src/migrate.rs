//! Page migration (`migrate RANGE`, model-only): every folio mapped in the range moves to new
//! memory. Mappings become migration entries (PTE mappings one at a time, so a fully mapped
//! folio is flagged partially mapped on the way; a PMD mapping moves as one PMD-level entry),
//! the contents are copied, and the entries are restored onto the new folio. Since the March
//! 2026 stable fix, `migrate_folio_move` requeues the new folio on the deferred split queue
//! with the old one's "partially mapped" flag: a folio that is fully mapped again stays
//! flagged, and the next shrinker pass splits it.

use crate::model::{Model, ModelError, Pid};
use crate::rmap::At;
use crate::stats::MthpStat;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_schemes::{Cause, FolioRef, Level};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};
use std::collections::BTreeSet;

/// A mapping replaced by a migration entry: where, which page of the folio, its bits.
#[derive(Clone, Copy, Debug)]
struct Entry {
    pid: Pid,
    va: VirtAddr,
    index: u64,
    pmd: bool,
    pte: Pte,
    exclusive: bool,
}

impl Model {
    /// Migrates every anon folio mapped in [start, end) of `pid`; folios with references
    /// other than their mappings (pins, the swap cache) are left where they are.
    pub fn migrate(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Result<(), ModelError> {
        for head in self.folios_in(pid, start, end) {
            if self.live.contains(&head) {
                self.migrate_folio(self.folio(head))?;
            }
        }
        Ok(())
    }

    fn folios_in(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Vec<Pfn> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut va = start;
        while va < end {
            let v = self.page_view(pid, va);
            if let (crate::observe::Backing::Present, Some(f)) = (v.backing, v.folio) {
                if f.anon && seen.insert(f.head) {
                    out.push(f.head);
                }
            }
            va = va.add(PAGE_SIZE);
        }
        out
    }

    fn migrate_folio(&mut self, f: FolioRef) -> Result<(), ModelError> {
        if self.mem.refcount(f.head) as i64 != self.folio_mapcount(f) {
            return Ok(());
        }
        let entries = self.unmap_for_migration(f);
        let queued = self.is_queued(f);
        let partially = self.is_partially_mapped(f);
        self.unqueue_deferred(f);
        let dst = self.alloc_folio(f.order)?;
        self.copy_folio(f, dst);
        let dst = FolioRef { anon: true, ..dst };
        if dst.is_large() {
            self.stats.count_mthp(dst.order, MthpStat::NrAnon, 1);
        }
        self.mem.ref_add(dst.head, -1);
        for e in entries {
            self.remove_migration_entry(dst, e);
        }
        // Era: the March 2026 stable fix requeues the new folio with the old one's flag.
        if queued && self.era.migrate_requeue {
            self.deferred_split_folio(dst, partially);
        }
        self.mem.ref_add(f.head, 1);
        self.put_folio(f.head, 1);
        Ok(())
    }

    /// Flags, anon_vma and contents of every page go to the new folio.
    fn copy_folio(&mut self, src: FolioRef, dst: FolioRef) {
        let keep = PageFlags::ANON
            | PageFlags::SWAPBACKED
            | PageFlags::LRU
            | PageFlags::UPTODATE
            | PageFlags::DIRTY
            | PageFlags::REFERENCED
            | PageFlags::ACTIVE;
        let (flags, anon_vma) = (
            self.mem.page(src.head).flags.0 & keep,
            self.mem.page(src.head).anon_vma(),
        );
        let h = self.mem.page_mut(dst.head);
        h.flags.0 |= flags;
        h.set_anon_vma(anon_vma);
        for i in 0..src.nr_pages() {
            let c = self.mem.content(src.head.add(i));
            self.mem.set_content(dst.head.add(i), c);
        }
    }

    /// `try_to_migrate`: every mapping of `f` becomes a migration entry.
    fn unmap_for_migration(&mut self, f: FolioRef) -> Vec<Entry> {
        let mut out = Vec::new();
        for (pid, va, pmd, pte) in self.mappings_of(f) {
            let index = pte.pfn().offset_from(f.head);
            let exclusive = self.page_anon_exclusive(pte.pfn());
            if pte.dirty() {
                self.mem.page_mut(f.head).flags.set(PageFlags::DIRTY, true);
            }
            if pmd {
                self.proc_mut(pid).aspace.pt.set_pmd(va, None);
                self.rmap_remove(
                    At(pid, va),
                    f,
                    f.head,
                    PMD_NR_PAGES,
                    Level::Pmd,
                    Cause::Migrate,
                );
            } else {
                self.proc_mut(pid).aspace.pt.set_pte(va, Pte::NONE);
                self.rmap_remove(At(pid, va), f, pte.pfn(), 1, Level::Pte, Cause::Migrate);
            }
            self.mem.ref_add(f.head, -1);
            self.mem
                .page_mut(pte.pfn())
                .flags
                .set(PageFlags::ANON_EXCLUSIVE, false);
            out.push(Entry {
                pid,
                va,
                index,
                pmd,
                pte,
                exclusive,
            });
        }
        out
    }

    /// `remove_migration_pte` / `remove_migration_pmd`: the entry maps the new folio.
    fn remove_migration_entry(&mut self, dst: FolioRef, e: Entry) {
        let page = dst.head.add(e.index);
        let mapped = Pte::present(page, e.pte.writable(), e.pte.dirty()).with_young(e.pte.young());
        self.mem.ref_add(dst.head, 1);
        self.mem
            .page_mut(page)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, e.exclusive);
        let (level, nr) = if e.pmd {
            (Level::Pmd, PMD_NR_PAGES)
        } else {
            (Level::Pte, 1)
        };
        self.rmap_add(At(e.pid, e.va), dst, page, nr, level, Cause::Migrate);
        let pt = &mut self.proc_mut(e.pid).aspace.pt;
        if e.pmd {
            pt.set_pmd(e.va.align_down(PMD_SIZE), Some(PmdEntry::Leaf(mapped)));
        } else {
            pt.set_pte(e.va, mapped);
        }
    }
}
