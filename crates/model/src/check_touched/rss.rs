//! The RSS of an mm new since the last check (a forked child, a spawned process), read from
//! the entries the oracle's recount counted in for it ([`TouchedCheck::entry`]): the recount
//! had never seen the mm, so it counted in every entry the mm's page tables hold, runs of
//! PTEs mapping consecutive pages as one change. Their pages' counters are read a PMD
//! range's worth of `struct page`s at a time, with no second walk of the page tables.

use super::small::small_folio_bits;
use super::TouchedCheck;
use crate::model::{Model, RssCounter};
use foliolab_mem::{EntryChange, Page, PageFlags, PageTable};
use foliolab_types::{MmId, Pfn, PMD_ORDER, PMD_SIZE};

impl Model {
    /// Sums what the entries counted in since the last check map, per (mm, PMD range) and
    /// counter, into `st.added_rss`, sorted by range.
    pub(super) fn sum_added(&self, st: &mut TouchedCheck) {
        let TouchedCheck {
            added, added_rss, ..
        } = st;
        added_rss.clear();
        // Entries come range by range.
        for c in added.iter() {
            let key = (c.mm, c.va.0 / PMD_SIZE);
            if added_rss.last().is_none_or(|(k, _)| *k != key) {
                added_rss.push((key, [0; 4]));
            }
            if let Some((_, rss)) = added_rss.last_mut() {
                self.entry_rss(c, rss);
            }
        }
        if !added_rss.is_sorted_by_key(|(k, _)| *k) {
            added_rss.sort_by_key(|(k, _)| *k);
        }
        added_rss.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                (0..4).for_each(|c| kept.1[c] += later.1[c]);
            }
            same
        });
    }

    /// The RSS sums of `mm`, new since the last check, from the entries the recount counted
    /// in for it in this statement; the sums of each of its PMD ranges kept in `st`.
    pub(super) fn new_mm_rss(&self, st: &mut TouchedCheck, mm: MmId) -> [i64; 4] {
        let from = st.added_rss.partition_point(|((m, _), _)| *m < mm);
        let mut sums = [0i64; 4];
        for &((m, key), rss) in st.added_rss[from..]
            .iter()
            .take_while(|((m, _), _)| *m == mm)
        {
            if rss != [0; 4] {
                st.range_rss.insert((m, key), rss);
                (0..4).for_each(|c| sums[c] += rss[c]);
            }
        }
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
    /// small folio's from its `struct page`, read in one slice per PMD-order block (a run of
    /// small folios counted in one tight pass); a large folio's looked up once for its
    /// pages there.
    fn count_pages(&self, first: Pfn, nr: u64, rss: &mut [i64; 4]) {
        let block = PMD_ORDER.nr_pages();
        let (mut pfn, end) = (first.0, first.0 + nr);
        while pfn < end {
            let upto = ((pfn / block + 1) * block).min(end);
            let pages = self.mem.map.range(Pfn(pfn), (upto - pfn) as usize);
            let mut i = 0;
            while pfn + i < upto {
                let p = Pfn(pfn + i);
                if let Some(pages) = pages {
                    let small = count_small(&pages[i as usize..], p, rss);
                    if small > 0 {
                        i += small;
                        continue;
                    }
                }
                let (span, counter) = self.folio_counter(p);
                let n = span.end.min(upto).max(p.0 + 1) - p.0;
                rss[counter as usize] += n as i64;
                i += n;
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

/// `old`, the kept RSS of the range `key`, plus what the entries counted in there map
/// (`added`: [`Model::sum_added`]'s sums).
pub(super) fn added_rss(
    added: &[((MmId, u64), [i64; 4])],
    key: (MmId, u64),
    old: [i64; 4],
) -> [i64; 4] {
    let mut new = old;
    if let Ok(i) = added.binary_search_by_key(&key, |(k, _)| *k) {
        (0..4).for_each(|c| new[c] += added[i].1[c]);
    }
    new
}

/// Adds the pages of `pages` (from `first`) that are small folios' to `rss`, each under
/// its folio's RSS counter (as `counter_of` gives it: anon, else shmem if swap-backed,
/// else file), up to the first that is not: [`SMALL_CHUNK`] pages at a time, each chunk
/// in one pass with no branch in lanes of 32 bits (which the compiler vectorizes); the
/// first chunk that holds a page of another folio is walked page by page up to it. A call
/// at a large folio's head reads that page alone, and a call inside a block of mixed
/// folios at most a chunk past the small ones, not the rest of the block. (Debug builds
/// compare the sums with a recount from the page tables: `Model::tables_rss`.)
#[inline(never)]
fn count_small(pages: &[Page], first: Pfn, rss: &mut [i64; 4]) -> u64 {
    if !pages.first().is_some_and(|p| small_folio_bits(p, first.0)) {
        return 0;
    }
    let mut n = 0usize;
    for chunk in pages.chunks(SMALL_CHUNK) {
        let at = Pfn(first.0 + n as u64);
        let (all_small, mut anon, mut shmem) = small_chunk(chunk, at);
        let counted = if all_small {
            chunk.len()
        } else {
            let k = (chunk.iter().zip(at.0..))
                .take_while(|&(p, pfn)| small_folio_bits(p, pfn))
                .count();
            (anon, shmem) = count_kinds(&chunk[..k]);
            k
        };
        rss[RssCounter::Anon as usize] += anon as i64;
        rss[RssCounter::Shmem as usize] += shmem as i64;
        rss[RssCounter::File as usize] += (counted as u32 - anon - shmem) as i64;
        n += counted;
        if !all_small {
            break;
        }
    }
    n as u64
}

/// Pages [`count_small`] reads in one pass with no branch.
const SMALL_CHUNK: usize = 256;

/// Whether every page of `pages` (from `first`) is a small folio's, and how many are
/// anon and shmem (meaningful only when they all are), in one pass with no branch.
#[inline(always)]
fn small_chunk(pages: &[Page], first: Pfn) -> (bool, u32, u32) {
    const KIND: u32 = PageFlags::ALLOCATED | PageFlags::HEAD | PageFlags::BUDDY;
    if first.0 + pages.len() as u64 > u32::MAX as u64 {
        return (false, 0, 0);
    }
    let first = first.0 as u32;
    let (mut not_small, mut anon, mut shmem) = (0u32, 0u32, 0u32);
    for (i, page) in pages.iter().enumerate() {
        let flags = page.flags.0;
        let head = page.head().0 as u32;
        not_small |=
            ((flags & KIND) ^ PageFlags::ALLOCATED) | (head ^ first.wrapping_add(i as u32));
        anon += (flags & PageFlags::ANON != 0) as u32;
        shmem +=
            (flags & (PageFlags::ANON | PageFlags::SWAPBACKED) == PageFlags::SWAPBACKED) as u32;
    }
    (not_small == 0, anon, shmem)
}

/// How many of `pages` are anon, and how many swap-backed but not anon (shmem).
fn count_kinds(pages: &[Page]) -> (u32, u32) {
    const KIND: u32 = PageFlags::ANON | PageFlags::SWAPBACKED;
    pages.iter().fold((0, 0), |(anon, shmem), page| {
        let kind = page.flags.0 & KIND;
        (
            anon + (kind & PageFlags::ANON != 0) as u32,
            shmem + (kind == PageFlags::SWAPBACKED) as u32,
        )
    })
}
