//! Recounting the truth from page tables: for every folio, how many PTEs map each page, how
//! many PMDs map it, and how many entries each MM has.

use foliolab_mem::{AddressSpace, Memory, PageFlags, PmdEntry, Pte};
use foliolab_types::{FolioTruth, MmId, Pfn, TruthStore};

/// Truth for every folio some page table maps (zero pages excluded: they are not rmapped).
pub fn recount<'a>(spaces: impl IntoIterator<Item = &'a AddressSpace>, mem: &Memory) -> TruthStore {
    let mut out = TruthStore::new();
    for space in spaces {
        for (_, entry) in space.pt.iter() {
            match entry {
                PmdEntry::Leaf(leaf) => count(&mut out, mem, space.id, *leaf, true),
                PmdEntry::Table(t) => {
                    for pte in t.ptes.iter() {
                        count(&mut out, mem, space.id, *pte, false);
                    }
                }
            }
        }
    }
    out
}

fn count(out: &mut TruthStore, mem: &Memory, mm: MmId, entry: Pte, pmd: bool) {
    count_entry(out, mem, mm, entry, pmd);
}

/// Counts one entry in; returns the folio it counted it for (`None`: it maps no folio).
pub(crate) fn count_entry(
    out: &mut TruthStore,
    mem: &Memory,
    mm: MmId,
    entry: Pte,
    pmd: bool,
) -> Option<Pfn> {
    if !entry.is_present() || entry.is_special() {
        return None;
    }
    let pfn = entry.pfn();
    let (head, t) = truth_at(out, mem, pfn);
    if pmd {
        t.pmd_maps += 1;
    } else {
        t.pte_maps_per_page.add(pfn.offset_from(head) as usize);
    }
    *t.entries_per_mm.counter(mm) += 1;
    Some(head)
}

/// The folio holding page `pfn` and its truth, stored (unmapped) if it was not.
#[inline]
pub(crate) fn truth_at<'a>(
    out: &'a mut TruthStore,
    mem: &Memory,
    pfn: Pfn,
) -> (Pfn, &'a mut FolioTruth) {
    // Found: counted before under the same layout (a layout change since would have counted
    // every entry of the folio out first, see `incremental`, dropping it). A page table
    // pointing at freed memory (a model bug) is counted as its own one-page "folio", so the
    // checks report it instead of the recount tripping.
    out.containing_or_insert(pfn, || {
        if mem.page(pfn).flags.has(PageFlags::ALLOCATED) {
            let (head, order, _) = mem.folio_meta(pfn);
            (head, order.nr_pages())
        } else {
            (pfn, 1)
        }
    })
}
