//! One process's page tables: a PMD level (one entry per 2 MiB) whose entries are empty, a
//! PMD leaf (a huge mapping) or a table of 512 PTEs. Upper levels carry no information the
//! model needs, so they are folded into the map's key.

use crate::pte::Pte;
use foliolab_types::{VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};
use std::collections::BTreeMap;

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

#[derive(Clone, Default)]
pub struct PageTable {
    pmds: BTreeMap<u64, PmdEntry>,
}

fn pte_index(va: VirtAddr) -> usize {
    ((va.0 / PAGE_SIZE) % PMD_NR_PAGES) as usize
}

impl PageTable {
    pub fn pmd(&self, va: VirtAddr) -> Option<&PmdEntry> {
        self.pmds.get(&va.pmd_index())
    }
    pub fn pmd_mut(&mut self, va: VirtAddr) -> Option<&mut PmdEntry> {
        self.pmds.get_mut(&va.pmd_index())
    }
    pub fn set_pmd(&mut self, va: VirtAddr, entry: Option<PmdEntry>) {
        match entry {
            Some(e) => self.pmds.insert(va.pmd_index(), e),
            None => self.pmds.remove(&va.pmd_index()),
        };
    }
    /// The PTE at `va`; none if there is no PTE table (a PMD leaf reads as none here).
    pub fn pte(&self, va: VirtAddr) -> Pte {
        match self.pmds.get(&va.pmd_index()) {
            Some(PmdEntry::Table(t)) => t.ptes[pte_index(va)],
            _ => Pte::NONE,
        }
    }
    /// The PMD leaf covering `va`, if any.
    pub fn pmd_leaf(&self, va: VirtAddr) -> Option<Pte> {
        match self.pmds.get(&va.pmd_index()) {
            Some(PmdEntry::Leaf(p)) => Some(*p),
            _ => None,
        }
    }
    /// Sets the PTE at `va`, creating the PTE table if needed. Panics on a PMD leaf.
    pub fn set_pte(&mut self, va: VirtAddr, pte: Pte) {
        let e = self
            .pmds
            .entry(va.pmd_index())
            .or_insert_with(|| PmdEntry::Table(PteTable::new()));
        match e {
            PmdEntry::Table(t) => t.ptes[pte_index(va)] = pte,
            PmdEntry::Leaf(_) => panic!("set_pte at {va:?} under a PMD leaf"),
        }
    }
    /// Mutable access to the PTE table of `va`'s PMD range, creating it if absent.
    pub fn table_mut(&mut self, va: VirtAddr) -> &mut PteTable {
        let e = self
            .pmds
            .entry(va.pmd_index())
            .or_insert_with(|| PmdEntry::Table(PteTable::new()));
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
        self.pmds
            .range(lo..hi)
            .map(|(k, e)| (VirtAddr(k * PMD_SIZE), e))
    }
    pub fn pmd_keys_in(&self, start: VirtAddr, end: VirtAddr) -> Vec<u64> {
        let lo = start.pmd_index();
        let hi = end.0.div_ceil(PMD_SIZE);
        self.pmds.range(lo..hi).map(|(k, _)| *k).collect()
    }
    /// Drops empty PTE tables in the range (free_pgtables).
    pub fn free_empty_tables(&mut self, start: VirtAddr, end: VirtAddr) {
        for k in self.pmd_keys_in(start, end) {
            if matches!(self.pmds.get(&k), Some(PmdEntry::Table(t)) if t.is_empty()) {
                self.pmds.remove(&k);
            }
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (VirtAddr, &PmdEntry)> {
        self.pmds.iter().map(|(k, e)| (VirtAddr(k * PMD_SIZE), e))
    }
}
