//! What the oracle knows about one folio, recounted from page tables alone. Plain data: the
//! oracle fills it in, schemes compare their counters with it, neither sees the other's code.

use crate::MmId;
use std::collections::BTreeMap;

/// True mapping state of one folio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolioTruth {
    pub nr_pages: u64,
    /// PTEs mapping each page, across all processes (index = page in folio).
    pub pte_maps_per_page: Vec<u64>,
    /// PMD entries mapping the whole folio, across all processes.
    pub pmd_maps: u64,
    /// Page-table entries (PTE or PMD) per MM: the `r_x` of the MM_ID invariants.
    pub entries_per_mm: BTreeMap<MmId, u64>,
}

impl FolioTruth {
    pub fn new(nr_pages: u64) -> FolioTruth {
        FolioTruth {
            nr_pages,
            pte_maps_per_page: vec![0; nr_pages as usize],
            ..Default::default()
        }
    }
    /// Every PTE and PMD entry that maps any part of the folio (the exact folio_mapcount).
    pub fn total_entries(&self) -> u64 {
        self.pte_maps_per_page.iter().sum::<u64>() + self.pmd_maps
    }
    /// Mappings covering page `i` (PTE plus PMD): the precise per-page mapcount.
    pub fn page_mapcount(&self, i: usize) -> u64 {
        self.pte_maps_per_page[i] + self.pmd_maps
    }
    /// Pages with at least one PTE mapping.
    pub fn pages_pte_mapped(&self) -> u64 {
        self.pte_maps_per_page.iter().filter(|&&n| n > 0).count() as u64
    }
    /// Pages mapped at all (by PTE or PMD).
    pub fn pages_mapped(&self) -> u64 {
        if self.pmd_maps > 0 {
            self.nr_pages
        } else {
            self.pages_pte_mapped()
        }
    }
    pub fn nr_mms(&self) -> usize {
        self.entries_per_mm.len()
    }
}
