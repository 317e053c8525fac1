//! The RSS of an mm new since the last check (a forked child, a spawned process), read from
//! the entries the oracle's recount counted in for it ([`TouchedCheck::entry`]): the recount
//! had never seen the mm, so it counted in every entry the mm's page tables hold, runs of
//! PTEs mapping consecutive pages as one change. Their pages' counters are read a PMD
//! range's worth of `struct page`s at a time, with no second walk of the page tables.

use super::{counter_of, small::is_small_folio, TouchedCheck};
use crate::model::{Model, RssCounter};
use foliolab_mem::{EntryChange, PageTable};
use foliolab_types::{MmId, Pfn, PMD_ORDER, PMD_SIZE};

impl Model {
    /// The RSS sums of `mm`, new since the last check, from the entries the recount counted
    /// in for it in this statement; the sums of each of its PMD ranges kept in `st`.
    pub(super) fn new_mm_rss(&self, st: &mut TouchedCheck, mm: MmId) -> [i64; 4] {
        let TouchedCheck {
            added, range_rss, ..
        } = st;
        let mut sums = [0i64; 4];
        // The range being summed: entries come range by range.
        let mut range: Option<(u64, [i64; 4])> = None;
        let mut keep = |range: Option<(u64, [i64; 4])>| {
            let Some((key, rss)) = range.filter(|(_, rss)| *rss != [0; 4]) else {
                return;
            };
            let kept = range_rss.entry((mm, key)).or_insert([0; 4]);
            for c in 0..4 {
                kept[c] += rss[c];
                sums[c] += rss[c];
            }
        };
        for c in added.iter().filter(|c| c.mm == mm) {
            let key = c.va.0 / PMD_SIZE;
            if range.is_none_or(|(k, _)| k != key) {
                keep(range.take());
                range = Some((key, [0; 4]));
            }
            if let Some((_, rss)) = &mut range {
                self.entry_rss(c, rss);
            }
        }
        keep(range);
        sums
    }

    /// Adds what the entries of `c` map to `rss`, per RSS counter, as
    /// [`Model::range_rss`] counts them from the page table.
    fn entry_rss(&self, c: &EntryChange, rss: &mut [i64; 4]) {
        if c.pmd {
            if !c.pte.is_special() {
                let (_, counter) = self.folio_counter(c.pte.pfn());
                rss[counter as usize] += PMD_ORDER.nr_pages() as i64;
            }
        } else if c.pte.is_present() && !c.pte.is_special() {
            self.count_pages(c.pte.pfn(), c.nr, rss);
        } else if c.pte.is_swap() {
            rss[RssCounter::Swap as usize] += c.nr as i64;
        }
    }

    /// Adds the `nr` pages from `first` to `rss`, each under its folio's RSS counter: a
    /// small folio's from its `struct page`, read in one slice per PMD-order block; a large
    /// folio's looked up once for its pages there.
    fn count_pages(&self, first: Pfn, nr: u64, rss: &mut [i64; 4]) {
        let block = PMD_ORDER.nr_pages();
        let (mut pfn, end) = (first.0, first.0 + nr);
        while pfn < end {
            let upto = ((pfn / block + 1) * block).min(end);
            let pages = self.mem.map.range(Pfn(pfn), (upto - pfn) as usize);
            let mut i = 0;
            while pfn + i < upto {
                let p = Pfn(pfn + i);
                match pages.map(|pages| &pages[i as usize]) {
                    Some(page) if is_small_folio(page, p) => {
                        rss[counter_of(page.flags) as usize] += 1;
                        i += 1;
                    }
                    _ => {
                        let (span, counter) = self.folio_counter(p);
                        let n = span.end.min(upto).max(p.0 + 1) - p.0;
                        rss[counter as usize] += n as i64;
                        i += n;
                    }
                }
            }
            pfn = upto;
        }
    }

    /// The RSS sums of the mm whose page table is `pt`, recounted from the table (debug
    /// builds check [`Model::new_mm_rss`] against it).
    pub(super) fn tables_rss(&self, pt: &PageTable) -> [i64; 4] {
        let mut keys: Vec<u64> = pt.iter().map(|(va, _)| va.0 / PMD_SIZE).collect();
        keys.dedup();
        keys.iter().fold([0; 4], |mut sums, &key| {
            let rss = self.range_rss(pt, key);
            (0..4).for_each(|c| sums[c] += rss[c]);
            sums
        })
    }
}
