//! One process's page tables: a PMD level (one entry per 2 MiB) whose entries are empty, a
//! PMD leaf (a huge mapping) or a table of 512 PTEs. Upper levels carry no information the
//! model needs: they are folded into a sorted list of PMD pages, one per 1 GiB in use.

use crate::pte::Pte;
use foliolab_types::{VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};

/// A table of 512 PTEs covering one PMD range.
#[derive(Clone)]
pub struct PteTable {
    pub ptes: Box<[Pte; PMD_NR_PAGES as usize]>,
}

impl PteTable {
    pub fn new() -> PteTable {
        PteTable {
            ptes: Box::new([Pte::NONE; PMD_NR_PAGES as usize]),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.ptes.iter().all(|p| p.is_none())
    }
}

impl Default for PteTable {
    fn default() -> Self {
        Self::new()
    }
}

/// A PMD entry.
#[derive(Clone)]
pub enum PmdEntry {
    Table(PteTable),
    /// A huge mapping of a PMD-sized folio (or the huge zero folio).
    Leaf(Pte),
}

/// PMD entries per PMD page (one PMD page covers 1 GiB).
const PMDS_PER_PAGE: u64 = 512;

/// One PMD page: the 512 PMD entries of a 1 GiB range and how many are present.
#[derive(Clone)]
struct PmdPage {
    entries: Box<[Option<PmdEntry>]>,
    nr_present: u32,
}

impl PmdPage {
    fn new() -> PmdPage {
        PmdPage {
            entries: (0..PMDS_PER_PAGE).map(|_| None).collect(),
            nr_present: 0,
        }
    }
}

/// Page tables addressed as the kernel's are: a PMD page per 1 GiB range (found by a binary
/// search over the few ranges in use, the folded upper levels), then an index, so a PTE is
/// found without a search over every PMD range.
#[derive(Clone, Default)]
pub struct PageTable {
    /// PMD pages by 1 GiB index, in address order.
    pages: Vec<(u64, PmdPage)>,
    /// PMD indexes handed out for writing since the last clear (see [`crate::dirty`]).
    pub touched: crate::dirty::Marks,
}

/// The index of `va`'s PTE in its PTE table.
#[inline]
pub fn pte_index(va: VirtAddr) -> usize {
    ((va.0 / PAGE_SIZE) % PMD_NR_PAGES) as usize
}

#[inline]
fn split(pmd_index: u64) -> (u64, usize) {
    (
        pmd_index / PMDS_PER_PAGE,
        (pmd_index % PMDS_PER_PAGE) as usize,
    )
}

impl PageTable {
    #[inline]
    fn slot(&self, pmd_index: u64) -> Option<&PmdEntry> {
        let (hi, lo) = split(pmd_index);
        let i = self.pages.binary_search_by_key(&hi, |(k, _)| *k).ok()?;
        self.pages[i].1.entries[lo].as_ref()
    }
    #[inline]
    fn slot_mut(&mut self, pmd_index: u64) -> Option<&mut PmdEntry> {
        self.touched.mark(pmd_index);
        let (hi, lo) = split(pmd_index);
        let i = self.pages.binary_search_by_key(&hi, |(k, _)| *k).ok()?;
        self.pages[i].1.entries[lo].as_mut()
    }
    /// The PMD entry of `pmd_index`, present or made present by `make`.
    fn slot_or_insert(&mut self, pmd_index: u64, make: impl FnOnce() -> PmdEntry) -> &mut PmdEntry {
        self.touched.mark(pmd_index);
        let (hi, lo) = split(pmd_index);
        let i = match self.pages.binary_search_by_key(&hi, |(k, _)| *k) {
            Ok(i) => i,
            Err(i) => {
                self.pages.insert(i, (hi, PmdPage::new()));
                i
            }
        };
        let page = &mut self.pages[i].1;
        if page.entries[lo].is_none() {
            page.nr_present += 1;
        }
        page.entries[lo].get_or_insert_with(make)
    }
    fn remove(&mut self, pmd_index: u64) {
        self.touched.mark(pmd_index);
        let (hi, lo) = split(pmd_index);
        let Ok(i) = self.pages.binary_search_by_key(&hi, |(k, _)| *k) else {
            return;
        };
        let page = &mut self.pages[i].1;
        if page.entries[lo].take().is_some() {
            page.nr_present -= 1;
            if page.nr_present == 0 {
                self.pages.remove(i);
            }
        }
    }
    /// Present PMD entries with their PMD index in [lo, hi), in address order.
    fn range(&self, lo: u64, hi: u64) -> impl Iterator<Item = (u64, &PmdEntry)> {
        let first = self
            .pages
            .partition_point(|(k, _)| (k + 1) * PMDS_PER_PAGE <= lo);
        self.pages[first..]
            .iter()
            .take_while(move |(k, _)| k * PMDS_PER_PAGE < hi)
            .flat_map(move |(k, page)| {
                let base = k * PMDS_PER_PAGE;
                let from = lo.saturating_sub(base).min(PMDS_PER_PAGE) as usize;
                let to = hi.saturating_sub(base).min(PMDS_PER_PAGE) as usize;
                // No more than the page's present entries: a walk stops at its last one.
                page.entries[from..to]
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, e)| Some((base + (from + i) as u64, e.as_ref()?)))
                    .take(page.nr_present as usize)
            })
    }
}

impl PageTable {
    #[inline]
    pub fn pmd(&self, va: VirtAddr) -> Option<&PmdEntry> {
        self.slot(va.pmd_index())
    }
    #[inline]
    pub fn pmd_mut(&mut self, va: VirtAddr) -> Option<&mut PmdEntry> {
        self.slot_mut(va.pmd_index())
    }
    #[inline]
    pub fn set_pmd(&mut self, va: VirtAddr, entry: Option<PmdEntry>) {
        match entry {
            Some(e) => {
                let mut e = Some(e);
                let slot = self.slot_or_insert(va.pmd_index(), || e.take().expect("entry"));
                if let Some(e) = e {
                    *slot = e;
                }
            }
            None => self.remove(va.pmd_index()),
        }
    }
    /// The PTE at `va`; none if there is no PTE table (a PMD leaf reads as none here).
    #[inline]
    pub fn pte(&self, va: VirtAddr) -> Pte {
        match self.slot(va.pmd_index()) {
            Some(PmdEntry::Table(t)) => t.ptes[pte_index(va)],
            _ => Pte::NONE,
        }
    }
    /// The PMD leaf covering `va`, if any.
    #[inline]
    pub fn pmd_leaf(&self, va: VirtAddr) -> Option<Pte> {
        match self.slot(va.pmd_index()) {
            Some(PmdEntry::Leaf(p)) => Some(*p),
            _ => None,
        }
    }
    /// Sets the PTE at `va`, creating the PTE table if needed. Panics on a PMD leaf.
    #[inline]
    pub fn set_pte(&mut self, va: VirtAddr, pte: Pte) {
        let e = self.slot_or_insert(va.pmd_index(), || PmdEntry::Table(PteTable::new()));
        match e {
            PmdEntry::Table(t) => t.ptes[pte_index(va)] = pte,
            PmdEntry::Leaf(_) => panic!("set_pte at {va:?} under a PMD leaf"),
        }
    }
    /// Mutable access to the PTE table of `va`'s PMD range, creating it if absent.
    #[inline]
    pub fn table_mut(&mut self, va: VirtAddr) -> &mut PteTable {
        let e = self.slot_or_insert(va.pmd_index(), || PmdEntry::Table(PteTable::new()));
        match e {
            PmdEntry::Table(t) => t,
            PmdEntry::Leaf(_) => panic!("table_mut at {va:?} under a PMD leaf"),
        }
    }
    /// PMD ranges that have any entry, with their start address, in address order.
    pub fn pmds_in(
        &self,
        start: VirtAddr,
        end: VirtAddr,
    ) -> impl Iterator<Item = (VirtAddr, &PmdEntry)> {
        let lo = start.pmd_index();
        let hi = end.0.div_ceil(PMD_SIZE);
        self.range(lo, hi).map(|(k, e)| (VirtAddr(k * PMD_SIZE), e))
    }
    pub fn pmd_keys_in(&self, start: VirtAddr, end: VirtAddr) -> Vec<u64> {
        let lo = start.pmd_index();
        let hi = end.0.div_ceil(PMD_SIZE);
        self.range(lo, hi).map(|(k, _)| k).collect()
    }
    /// Drops empty PTE tables in the range (free_pgtables).
    pub fn free_empty_tables(&mut self, start: VirtAddr, end: VirtAddr) {
        for k in self.pmd_keys_in(start, end) {
            if matches!(self.slot(k), Some(PmdEntry::Table(t)) if t.is_empty()) {
                self.remove(k);
            }
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (VirtAddr, &PmdEntry)> {
        self.range(0, u64::MAX)
            .map(|(k, e)| (VirtAddr(k * PMD_SIZE), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_across_pmd_pages_iterate_in_address_order_and_empty_pages_go() {
        let mut pt = PageTable::default();
        let gib = 1u64 << 30;
        let vas = [
            VirtAddr(3 * gib + PMD_SIZE),
            VirtAddr(gib - PMD_SIZE),
            VirtAddr(gib),
            VirtAddr(0x7f00_0000_0000),
        ];
        for (i, va) in vas.iter().enumerate() {
            pt.set_pte(va.add(PAGE_SIZE), Pte::NONE);
            assert!(pt.pmd(*va).is_some(), "entry {i} present");
        }
        pt.set_pmd(vas[2], Some(PmdEntry::Leaf(Pte::NONE)));
        let all: Vec<u64> = pt.iter().map(|(va, _)| va.0).collect();
        let mut sorted: Vec<u64> = vas.iter().map(|v| v.0).collect();
        sorted.sort();
        assert_eq!(all, sorted);
        let mid: Vec<u64> = pt
            .pmds_in(VirtAddr(gib - 1), VirtAddr(3 * gib + PMD_SIZE + 1))
            .map(|(va, _)| va.0)
            .collect();
        assert_eq!(mid, vec![gib - PMD_SIZE, gib, 3 * gib + PMD_SIZE]);
        assert!(matches!(pt.pmd(vas[2]), Some(PmdEntry::Leaf(_))));
        pt.free_empty_tables(VirtAddr(0), VirtAddr(u64::MAX / 2));
        assert_eq!(pt.iter().count(), 1, "only the leaf stays");
        pt.set_pmd(vas[2], None);
        assert!(pt.pages.is_empty(), "empty PMD pages are freed");
    }
}
