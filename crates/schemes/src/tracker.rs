//! Exact bookkeeping of one folio's mappings, kept from rmap events alone, in the oracle's
//! own form ([`FolioTruth`]) plus what each MM maps page by page. The `exact` design is built
//! on it; `vma-count` uses one per folio to stand for the page-table scan its design needs on
//! unmap; the shadow fan-out uses `exact` as the truth at decision time. Every question it
//! answers ("shared", "partially mapped", ...) is [`FolioTruth`]'s definition.
//!
//! The bookkeeping is balanced by construction (every removal follows an addition of the
//! same mappings): a removal of mappings it does not hold is a model bug and panics, rather
//! than saturate and hide the imbalance from what shadow mode treats as the truth.

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

/// One folio's mappings, exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// The folio's mappings in the oracle's form (what `exact` claims to know).
    pub truth: FolioTruth,
    /// Per MM with at least one entry: what it maps, page by page.
    pub mms: BTreeMap<MmId, MmMaps>,
}

impl Tracked {
    pub fn new(nr: u64) -> Tracked {
        Tracked {
            truth: FolioTruth::new(nr),
            mms: BTreeMap::new(),
        }
    }

    pub fn is_unmapped(&self) -> bool {
        self.mms.is_empty()
    }

    /// `nr` pages from index `idx` (the whole folio for a PMD) gain a mapping by `mm`.
    pub fn add(&mut self, idx: usize, nr: u64, level: Level, mm: MmId) {
        let size = self.truth.nr_pages as usize;
        let m = self.mms.entry(mm).or_insert_with(|| MmMaps {
            pmd: 0,
            pte: vec![0; size],
        });
        let entries = match level {
            Level::Pmd => {
                self.truth.pmd_maps += 1;
                m.pmd += 1;
                1
            }
            Level::Pte => {
                for i in idx..idx + nr as usize {
                    self.truth.pte_maps_per_page.add(i);
                    m.pte[i] += 1;
                }
                nr
            }
        };
        *self.truth.entries_per_mm.counter(mm) += entries as u32;
    }

    /// The reverse of [`Tracked::add`]; an MM left with nothing is dropped.
    ///
    /// # Panics
    /// When `mm` does not hold the mappings removed: the events are unbalanced.
    pub fn remove(&mut self, idx: usize, nr: u64, level: Level, mm: MmId) {
        let Some(m) = self.mms.get_mut(&mm) else {
            panic!("unbalanced rmap removal: {mm:?} maps no page of this folio");
        };
        let entries = match level {
            Level::Pmd => {
                assert!(
                    m.pmd > 0,
                    "unbalanced rmap removal: {mm:?} has no PMD mapping"
                );
                self.truth.pmd_maps -= 1;
                m.pmd -= 1;
                1
            }
            Level::Pte => {
                for i in idx..idx + nr as usize {
                    assert!(
                        m.pte[i] > 0,
                        "unbalanced rmap removal: {mm:?} does not map page {i} by a PTE"
                    );
                    self.truth.pte_maps_per_page.sub(i);
                    m.pte[i] -= 1;
                }
                nr
            }
        };
        let left = self
            .truth
            .entries_per_mm
            .get_mut(&mm)
            .expect("kept with mms");
        *left -= entries as u32;
        if m.entries() == 0 {
            self.mms.remove(&mm);
            self.truth.entries_per_mm.remove(&mm);
        }
    }

    pub fn total_entries(&self) -> u64 {
        self.truth.total_entries()
    }
    pub fn page_mapcount(&self, i: usize) -> u64 {
        self.truth.page_mapcount(i)
    }
    pub fn pages_mapped(&self) -> u64 {
        self.truth.pages_mapped()
    }
    /// PMD mappings.
    pub fn pmd(&self) -> u64 {
        self.truth.pmd_maps
    }
    /// Pages with a PTE mapping.
    pub fn pages_pte_mapped(&self) -> u64 {
        self.truth.pages_pte_mapped()
    }
    /// [`FolioTruth::is_partially_mapped`].
    pub fn is_partial(&self) -> bool {
        self.truth.is_partially_mapped()
    }
    pub fn nr_mms(&self) -> usize {
        self.truth.nr_mms()
    }
    pub fn mm(&self, mm: MmId) -> Option<&MmMaps> {
        self.mms.get(&mm)
    }
    /// The sole MM mapping the folio, if exactly one does.
    pub fn sole_mm(&self) -> Option<MmId> {
        self.truth.sole_mm()
    }

    /// The same facts in the oracle's form.
    pub fn to_truth(&self) -> FolioTruth {
        self.truth.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_is_the_oracles_form() {
        let mut t = Tracked::new(4);
        t.add(0, 4, Level::Pte, MmId(1));
        t.add(1, 2, Level::Pte, MmId(2));
        assert!(t.truth.is_mapped_shared());
        t.remove(1, 2, Level::Pte, MmId(2));
        t.remove(0, 2, Level::Pte, MmId(1));
        assert!(t.is_partial());
        assert!(t.truth.entries_per_mm.iter().eq([(MmId(1), 2)]));
    }

    #[test]
    #[should_panic(expected = "unbalanced rmap removal")]
    fn an_unbalanced_removal_panics() {
        let mut t = Tracked::new(4);
        t.add(0, 1, Level::Pte, MmId(1));
        t.remove(0, 1, Level::Pte, MmId(2));
    }

    #[test]
    #[should_panic(expected = "does not map page 1")]
    fn removing_an_unmapped_page_panics() {
        let mut t = Tracked::new(4);
        t.add(0, 1, Level::Pte, MmId(1));
        t.remove(0, 2, Level::Pte, MmId(1));
    }
}
