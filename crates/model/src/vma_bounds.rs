//! VMA boundaries that move under existing mappings: a split or merge (mprotect, munmap,
//! madvise, a placed region growing) or an mremap move gives mapped pages another VMA
//! without any rmap call. For a design that counts VMAs ([`Reporting::counts_vmas`]) the
//! model tells it which mappings changed VMA ([`RmapEvents::vma_changed`]); for every other
//! design none of this runs.
//!
//! Usage: [`Model::vma_ids`] just before the VMA set changes, [`Model::vma_ids_changed`]
//! just after, with no rmap event in between.
//!
//! [`Reporting::counts_vmas`]: foliolab_schemes::Reporting::counts_vmas
//! [`RmapEvents::vma_changed`]: foliolab_schemes::RmapEvents::vma_changed

use crate::model::{Model, Pid};
use foliolab_mem::PmdEntry;
use foliolab_schemes::{FolioRef, Level};
use foliolab_types::{Pfn, VirtAddr, VmaId, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};

/// VMAs of one process over a range, as (start, end, id), in address order.
pub(crate) type VmaIds = Vec<(VirtAddr, VirtAddr, VmaId)>;

/// One run of pages of one folio mapped at consecutive addresses.
struct Run {
    f: FolioRef,
    first: Pfn,
    nr: u64,
    level: Level,
}

impl Model {
    /// The VMAs of `pid` that [start, end) and its neighbours touch (whole: a split or merge
    /// changes them as a whole), when the design counts VMAs; `None` otherwise.
    pub(crate) fn vma_ids(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Option<VmaIds> {
        if !self.design_counts_vmas() {
            return None;
        }
        let lo = VirtAddr(start.0.saturating_sub(PAGE_SIZE));
        let vmas = self
            .proc(pid)
            .aspace
            .vmas
            .overlapping(lo, end.add(PAGE_SIZE));
        Some(vmas.iter().map(|v| (v.start, v.end, v.id)).collect())
    }

    /// After the VMA set of `pid` changed: every page mapped where the VMA id differs from
    /// `before`'s moves to its new VMA in the design's eyes.
    pub(crate) fn vma_ids_changed(&mut self, pid: Pid, before: Option<VmaIds>) {
        let Some(before) = before else { return };
        for (start, end, from) in before {
            for v in self.proc(pid).aspace.vmas.overlapping(start, end) {
                if v.id != from {
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    self.vma_range_changed(pid, s, e, from, v.id);
                }
            }
        }
    }

    /// The pages mapped in [start, end) of `pid` belonged to VMA `from` and now to `to`
    /// (an mremap move calls it for the moved range).
    pub(crate) fn vma_range_changed(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        from: VmaId,
        to: VmaId,
    ) {
        if !self.design_counts_vmas() || from == to {
            return;
        }
        for r in self.mapped_runs(pid, start, end) {
            self.rmap_vma_changed(pid, r.f, r.first, r.nr, r.level, (from, to));
        }
    }

    /// The rmapped mappings of [start, end) of `pid`: a PMD leaf as one run, PTEs as runs of
    /// consecutive pages of one folio. A PMD leaf never straddles a VMA boundary, so it lies
    /// inside the range whole.
    fn mapped_runs(&self, pid: Pid, start: VirtAddr, end: VirtAddr) -> Vec<Run> {
        let pt = &self.proc(pid).aspace.pt;
        let mut out: Vec<Run> = Vec::new();
        for (haddr, entry) in pt.pmds_in(start, end) {
            match entry {
                PmdEntry::Leaf(leaf) => {
                    debug_assert!(haddr >= start && haddr.add(PMD_SIZE) <= end);
                    if leaf.is_present() && !leaf.is_special() {
                        let f = self.folio_of_page(leaf.pfn());
                        out.push(Run {
                            f,
                            first: f.head,
                            nr: PMD_NR_PAGES,
                            level: Level::Pmd,
                        });
                    }
                }
                PmdEntry::Table(t) => {
                    let (s, e) = (haddr.max(start), haddr.add(PMD_SIZE).min(end));
                    let first = ((s.0 - haddr.0) / PAGE_SIZE) as usize;
                    let last = ((e.0 - haddr.0) / PAGE_SIZE) as usize;
                    for pte in &t.ptes[first..last] {
                        if pte.is_present() && !pte.is_special() {
                            self.extend_runs(&mut out, pte.pfn());
                        }
                    }
                }
            }
        }
        out
    }

    /// Adds page `pfn` (mapped right after the previous page seen) to the last run if it
    /// continues it, else starts a run.
    fn extend_runs(&self, runs: &mut Vec<Run>, pfn: Pfn) {
        if let Some(r) = runs.last_mut() {
            let next = r.first.add(r.nr);
            if r.level == Level::Pte && next == pfn && r.f.head.add(r.f.nr_pages()) > pfn {
                r.nr += 1;
                return;
            }
        }
        let f = self.folio_of_page(pfn);
        runs.push(Run {
            f,
            first: pfn,
            nr: 1,
            level: Level::Pte,
        });
    }
}
