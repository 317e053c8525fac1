//! PAGE_MAPCOUNT-style counts on true values, batched as since 6.9 (kernel note 4.1, 4.2):
//! per-page PTE mapcounts `P[i]`, `_entire_mapcount` `E`, `_nr_pages_mapped` `NPM` (pages
//! with `P[i] >= 1`; "entirely mapped" is `E >= 1`) and `_large_mapcount` `L`. Used by
//! `linux-6.14` and `rmap-id`.

use crate::event::{Removed, StatDelta};
use crate::kit::first_page_mismatch;
use foliolab_types::FolioTruth;

/// The PAGE_MAPCOUNT counts of one folio as true (unbiased) values; the kernel stores them
/// biased by −1 in [`crate::words::PageMapcount`] and [`crate::words::Folio614`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmCounts {
    /// `P[i]`: PTE mappings of page i, 0..=MMs for anon pages (raw `_mapcount` + 1).
    pub p: Vec<i64>,
    /// `E`: PMD mappings, 0..=MMs (raw `_entire_mapcount` + 1).
    pub e: i64,
    /// `NPM`: pages with `P[i] >= 1`, 0..=N (`_nr_pages_mapped` without the
    /// `ENTIRELY_MAPPED` bit, which here is `E >= 1`).
    pub npm: i64,
    /// `L`: all entries, `E + ΣP[i]` (raw `_large_mapcount` + 1).
    pub l: i64,
}

impl PmCounts {
    pub fn new(nr: u64) -> PmCounts {
        PmCounts {
            p: vec![0; nr as usize],
            e: 0,
            npm: 0,
            l: 0,
        }
    }
    fn n(&self) -> i64 {
        self.p.len() as i64
    }
    pub fn is_initial(&self) -> bool {
        self.e == 0 && self.npm == 0 && self.l == 0 && self.p.iter().all(|&x| x == 0)
    }

    /// `folio_add_new_anon_rmap` of a large folio (a PMD for PMD-mappable ones).
    pub fn add_new(&mut self, pmd: bool) -> StatDelta {
        let n = self.n();
        if pmd {
            self.e = 1;
            self.l = 1;
            return StatDelta { nr: n, nr_pmd: n };
        }
        self.p.iter_mut().for_each(|x| *x = 1);
        self.npm = n;
        self.l = n;
        StatDelta { nr: n, nr_pmd: 0 }
    }

    /// PTE mappings of pages `[idx, idx + nr)`; returns the stat delta and whether some page
    /// went 0 -> 1.
    pub fn add_ptes(&mut self, idx: usize, nr: u64) -> (StatDelta, bool) {
        let mut first = 0;
        for x in &mut self.p[idx..idx + nr as usize] {
            *x += 1;
            first += (*x == 1) as i64;
        }
        self.npm += first;
        self.l += nr as i64;
        let nr = if self.e == 0 { first } else { 0 };
        (StatDelta { nr, nr_pmd: 0 }, first > 0)
    }

    pub fn add_pmd(&mut self) -> (StatDelta, bool) {
        self.e += 1;
        self.l += 1;
        if self.e != 1 {
            return (StatDelta::default(), false);
        }
        let n = self.n();
        (
            StatDelta {
                nr: (n - self.npm).max(0),
                nr_pmd: n,
            },
            true,
        )
    }

    pub fn remove_ptes(&mut self, idx: usize, nr: u64) -> (Removed, bool) {
        self.l -= nr as i64;
        let mut last = 0;
        for x in &mut self.p[idx..idx + nr as usize] {
            *x -= 1;
            last += (*x == 0) as i64;
        }
        self.npm -= last;
        let mut r = Removed::default();
        if last > 0 && self.e == 0 {
            r.stat.nr = -last;
            r.partially_mapped = self.npm != 0;
        }
        (r, last > 0)
    }

    pub fn remove_pmd(&mut self) -> (Removed, bool) {
        self.l -= 1;
        self.e -= 1;
        let mut r = Removed::default();
        if self.e != 0 {
            return (r, false);
        }
        let n = self.n();
        let nr = (n - self.npm).max(0);
        r.stat = StatDelta {
            nr: -nr,
            nr_pmd: -n,
        };
        r.partially_mapped = nr > 0 && nr < n;
        (r, true)
    }

    /// Fork: counts rise, nothing changes state (every page is already mapped).
    pub fn dup_ptes(&mut self, idx: usize, nr: u64) {
        self.p[idx..idx + nr as usize]
            .iter_mut()
            .for_each(|x| *x += 1);
        self.l += nr as i64;
    }
    pub fn dup_pmd(&mut self) {
        self.e += 1;
        self.l += 1;
    }

    pub fn page_mapcount(&self, i: usize) -> i64 {
        self.p[i] + self.e
    }

    /// Every count here is exact.
    pub fn check(&self, truth: &FolioTruth, out: &mut Vec<String>) {
        if self.l != truth.total_entries() as i64 {
            out.push(format!(
                "L {}, page tables map it {} times",
                self.l,
                truth.total_entries()
            ));
        }
        if self.e != truth.pmd_maps as i64 {
            out.push(format!("E {}, {} PMD mappings", self.e, truth.pmd_maps));
        }
        if self.npm != truth.pages_pte_mapped() as i64 {
            out.push(format!(
                "NPM {}, {} pages PTE-mapped",
                self.npm,
                truth.pages_pte_mapped()
            ));
        }
        if let Some(i) = first_page_mismatch(&self.p, &truth.pte_maps_per_page, |&p| p) {
            out.push(format!(
                "P[{i}] {}, {} PTE mappings",
                self.p[i], truth.pte_maps_per_page[i]
            ));
        }
    }
}
