//! Which VMAs map each folio, from page tables and VMAs alone: the truth of the `vma-count`
//! design's definition (a folio's count is the number of VMAs that map any page of it), so
//! its check judges it against its own definition while "shared" stays [`FolioTruth`]'s
//! (more than one MM). Like [`crate::recount`], it never reads a design.
//!
//! [`FolioTruth`]: foliolab_types::FolioTruth

use foliolab_mem::{AddressSpace, Memory, PageFlags, PmdEntry, Pte, Vma};
use foliolab_types::{Pfn, VirtAddr, VmaId, PAGE_SIZE};
use std::collections::{BTreeMap, BTreeSet};

/// For every folio some page table maps (zero pages excluded: they are not rmapped), the
/// VMAs whose page-table entries map any page of it. An entry outside every VMA (a model
/// bug) counts as [`VmaId::NONE`], so the check reports it.
pub fn vmas_per_folio<'a>(
    spaces: impl IntoIterator<Item = &'a AddressSpace>,
    mem: &Memory,
) -> BTreeMap<Pfn, BTreeSet<VmaId>> {
    let mut out = BTreeMap::new();
    for space in spaces {
        let mut cur: Option<&Vma> = None;
        let mut vma_at = |va: VirtAddr| {
            if !cur.is_some_and(|v| v.contains(va)) {
                cur = space.vmas.find(va);
            }
            cur.map_or(VmaId::NONE, |v| v.id)
        };
        for (haddr, entry) in space.pt.iter() {
            match entry {
                PmdEntry::Leaf(leaf) => note(&mut out, mem, *leaf, || vma_at(haddr)),
                PmdEntry::Table(t) => {
                    for (i, pte) in t.ptes.iter().enumerate() {
                        let va = haddr.add(i as u64 * PAGE_SIZE);
                        note(&mut out, mem, *pte, || vma_at(va));
                    }
                }
            }
        }
    }
    out
}

fn note(
    out: &mut BTreeMap<Pfn, BTreeSet<VmaId>>,
    mem: &Memory,
    entry: Pte,
    vma: impl FnOnce() -> VmaId,
) {
    if !entry.is_present() || entry.is_special() {
        return;
    }
    let pfn = entry.pfn();
    // As in the recount: a page table pointing at freed memory is its own one-page "folio".
    let head = if mem.page(pfn).flags.has(PageFlags::ALLOCATED) {
        mem.folio_of(pfn)
    } else {
        pfn
    };
    out.entry(head).or_default().insert(vma());
}
