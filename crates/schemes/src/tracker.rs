//! Exact bookkeeping of one folio's mappings per (MM, page), from rmap events alone. The
//! `exact` scheme is built on it; `vma-count` uses one per folio to stand for the page-table
//! scan its design needs on unmap; the shadow fan-out uses `exact` as the truth at decision
//! time.

use crate::event::Level;
use foliolab_types::{FolioTruth, MmId};
use std::collections::BTreeMap;

/// What one MM maps of a folio (true counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MmMaps {
    /// PMD entries of this MM mapping the folio.
    pub pmd: u64,
    /// PTE mappings per page (anon: at most one per MM, but file pages may repeat).
    pub pte: Vec<u32>,
}

impl MmMaps {
    pub fn entries(&self) -> u64 {
        self.pmd + self.pte.iter().map(|&n| n as u64).sum::<u64>()
    }
    /// Pages this MM maps (all of them while it maps a PMD).
    pub fn pages_mapped(&self) -> u64 {
        if self.pmd > 0 {
            self.pte.len() as u64
        } else {
            self.pte.iter().filter(|&&n| n > 0).count() as u64
        }
    }
}

/// One folio's mappings, exactly (true counts, kept from the events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// Pages in the folio (N).
    pub nr: u64,
    /// PTE mappings of each page, all MMs together.
    pub pte: Vec<u64>,
    /// PMD mappings, all MMs together.
    pub pmd: u64,
    /// Per MM with at least one entry: what it maps.
    pub mms: BTreeMap<MmId, MmMaps>,
}

impl Tracked {
    pub fn new(nr: u64) -> Tracked {
        Tracked {
            nr,
            pte: vec![0; nr as usize],
            pmd: 0,
            mms: BTreeMap::new(),
        }
    }

    pub fn is_unmapped(&self) -> bool {
        self.mms.is_empty()
    }

    /// `nr` pages from index `idx` (the whole folio for a PMD) gain a mapping by `mm`.
    pub fn add(&mut self, idx: usize, nr: u64, level: Level, mm: MmId) {
        let size = self.nr as usize;
        let m = self.mms.entry(mm).or_insert_with(|| MmMaps {
            pmd: 0,
            pte: vec![0; size],
        });
        match level {
            Level::Pmd => {
                self.pmd += 1;
                m.pmd += 1;
            }
            Level::Pte => {
                for i in idx..idx + nr as usize {
                    self.pte[i] += 1;
                    m.pte[i] += 1;
                }
            }
        }
    }

    /// The reverse of [`Tracked::add`]; an MM left with nothing is dropped.
    pub fn remove(&mut self, idx: usize, nr: u64, level: Level, mm: MmId) {
        let Some(m) = self.mms.get_mut(&mm) else {
            return;
        };
        match level {
            Level::Pmd => {
                self.pmd = self.pmd.saturating_sub(1);
                m.pmd = m.pmd.saturating_sub(1);
            }
            Level::Pte => {
                for i in idx..idx + nr as usize {
                    self.pte[i] = self.pte[i].saturating_sub(1);
                    m.pte[i] = m.pte[i].saturating_sub(1);
                }
            }
        }
        if m.entries() == 0 {
            self.mms.remove(&mm);
        }
    }

    pub fn total_entries(&self) -> u64 {
        self.pmd + self.pte.iter().sum::<u64>()
    }
    pub fn page_mapcount(&self, i: usize) -> u64 {
        self.pte[i] + self.pmd
    }
    pub fn pages_mapped(&self) -> u64 {
        if self.pmd > 0 {
            self.nr
        } else {
            self.pte.iter().filter(|&&n| n > 0).count() as u64
        }
    }
    /// Some but not all pages are mapped (no PMD can map it then).
    pub fn is_partial(&self) -> bool {
        let m = self.pages_mapped();
        m > 0 && m < self.nr
    }
    pub fn nr_mms(&self) -> usize {
        self.mms.len()
    }
    pub fn mm(&self, mm: MmId) -> Option<&MmMaps> {
        self.mms.get(&mm)
    }
    /// The sole MM mapping the folio, if exactly one does.
    pub fn sole_mm(&self) -> Option<MmId> {
        match self.mms.len() {
            1 => self.mms.keys().next().copied(),
            _ => None,
        }
    }

    /// The same facts in the oracle's form.
    pub fn to_truth(&self) -> FolioTruth {
        let mut t = FolioTruth::new(self.nr);
        t.pte_maps_per_page = self.pte.clone();
        t.pmd_maps = self.pmd;
        t.entries_per_mm = self.mms.iter().map(|(k, m)| (*k, m.entries())).collect();
        t
    }
}
