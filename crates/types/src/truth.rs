//! What the oracle knows about one folio, recounted from page tables alone: the one truth.
//! Plain data: the oracle fills it in, designs compare their counters with it, neither sees
//! the other's code. Its methods are the only definitions of "mapped", "mapped by", "mapped
//! shared" and "partially mapped"; the model's checks, shadow mode, the fuzzer and the `exact`
//! design all use them.

use crate::MmId;
use std::collections::BTreeMap;

/// True mapping state of one folio (all counts true, unbiased).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolioTruth {
    /// Pages in the folio (N).
    pub nr_pages: u64,
    /// PTEs mapping each page, across all processes (index = page in folio).
    pub pte_maps_per_page: Vec<u64>,
    /// PMD entries mapping the whole folio, across all processes.
    pub pmd_maps: u64,
    /// Page-table entries (PTE or PMD) per MM that has at least one: the `r_x` of the MM_ID
    /// invariants. An MM with no entry has no key.
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
    /// MMs mapping any page of the folio ("mapped by").
    pub fn nr_mms(&self) -> usize {
        self.entries_per_mm.len()
    }
    /// Whether `mm` maps any page of the folio.
    pub fn mapped_by(&self, mm: MmId) -> bool {
        self.entries_per_mm.contains_key(&mm)
    }
    /// The one MM mapping the folio, if exactly one does.
    pub fn sole_mm(&self) -> Option<MmId> {
        match self.entries_per_mm.len() {
            1 => self.entries_per_mm.keys().next().copied(),
            _ => None,
        }
    }
    /// Any page is mapped.
    pub fn is_mapped(&self) -> bool {
        self.total_entries() > 0
    }
    /// "Mapped shared": more than one MM maps the folio, the question
    /// `folio_maybe_mapped_shared` estimates. A folio mapped twice by one MM is not shared.
    pub fn is_mapped_shared(&self) -> bool {
        self.nr_mms() > 1
    }
    /// "Partially mapped": some but not all pages are mapped (then no PMD maps it), what
    /// deferred split should catch.
    pub fn is_partially_mapped(&self) -> bool {
        let m = self.pages_mapped();
        m > 0 && m < self.nr_pages
    }
}
