//! What the oracle knows about one folio, recounted from page tables alone: the one truth.
//! Plain data: the oracle fills it in, designs compare their counters with it, neither sees
//! the other's code. Its methods are the only definitions of "mapped", "mapped by", "mapped
//! shared" and "partially mapped"; the model's checks, shadow mode, the fuzzer and the `exact`
//! design all use them.

use crate::MmId;
use std::fmt;

/// True mapping state of one folio (all counts true, unbiased).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolioTruth {
    /// Pages in the folio (N).
    pub nr_pages: u64,
    /// PTEs mapping each page, across all processes (index = page in folio).
    pub pte_maps_per_page: PageCounts,
    /// PMD entries mapping the whole folio, across all processes.
    pub pmd_maps: u64,
    /// Page-table entries (PTE or PMD) per MM that has at least one: the `r_x` of the MM_ID
    /// invariants. An MM with no entry has no key.
    pub entries_per_mm: MmCounts,
}

/// Zero counts, what a large folio no PTE maps reads (up to PMD order).
static ZEROS: [u64; 512] = [0; 512];

/// Pages of a folio whose counts live in the same allocation as their sums (a 64K mTHP's):
/// its counts are one load from the truth, not two.
const INLINE_PAGES: usize = 16;

/// A count per page of a folio, read as a slice (`[i]`, `iter()`) and changed one page at
/// a time ([`PageCounts::add`], [`PageCounts::sub`]), which keeps the sum and the number of
/// non-zero pages: a check of a large folio asks them without walking its pages. A small
/// folio's count lives inline (16 bytes in all: the oracle keeps one per mapped small
/// folio). A large folio's lives behind one pointer, kept for reuse: up to
/// [`INLINE_PAGES`] pages next to the sums, beyond in a vector written only once a PTE maps
/// a page (a folio mapped by PMDs alone reads shared zeros, so counting a 2M folio in or
/// out costs nothing per page).
#[derive(Clone, Default)]
pub struct PageCounts {
    /// The count of a one-page folio (0 for a larger one).
    one: u64,
    /// A larger folio's counts (`None`, or `nr_pages` 1, for a one-page folio).
    many: Option<Box<ManyCounts>>,
}

/// Counts of some pages of a folio, and its sum and non-zero pages if it is large.
type PagesMut<'a> = (&'a mut [u64], Option<(&'a mut u64, &'a mut u64)>);

/// The counts of a folio of more than one page, with their sum and non-zero pages.
#[derive(Clone, Default)]
struct ManyCounts {
    /// Pages of the folio (1: the counts are the inline one).
    nr_pages: usize,
    /// The counts of a folio of at most [`INLINE_PAGES`] pages (zero past `nr_pages`).
    near: [u64; INLINE_PAGES],
    /// A larger folio's counts once a page was counted (empty before).
    counts: Vec<u64>,
    /// Sum of the counts.
    sum: u64,
    /// Pages whose count is not zero.
    nonzero: u64,
}

impl PageCounts {
    /// Zero counts for `nr_pages` pages.
    pub fn new(nr_pages: u64) -> PageCounts {
        let mut c = PageCounts::default();
        c.reset(nr_pages);
        c
    }
    /// The counts of a larger folio, if this is one.
    #[inline]
    fn large(&self) -> Option<&ManyCounts> {
        self.many.as_deref().filter(|m| m.nr_pages > 1)
    }
    /// One more for page `i`.
    #[inline]
    pub fn add(&mut self, i: usize) {
        self.add_pages(i, 1);
    }
    /// One less for page `i` (which has one).
    #[inline]
    pub fn sub(&mut self, i: usize) {
        self.sub_pages(i, 1);
    }
    /// Sum of the counts.
    #[inline]
    pub fn sum(&self) -> u64 {
        self.large().map_or(self.one, |m| m.sum)
    }
    /// Pages whose count is not zero.
    #[inline]
    pub fn nonzero(&self) -> u64 {
        self.large().map_or((self.one > 0) as u64, |m| m.nonzero)
    }
    /// The counts of the `nr` pages from `first` to change, and the large folio's sums when
    /// it is one.
    #[inline]
    fn pages_mut(&mut self, first: usize, nr: usize) -> PagesMut<'_> {
        match self.many.as_deref_mut().filter(|m| m.nr_pages > 1) {
            Some(m) => {
                let counts = if m.nr_pages <= INLINE_PAGES {
                    &mut m.near[..]
                } else {
                    if m.counts.is_empty() {
                        m.counts.resize(m.nr_pages, 0);
                    }
                    &mut m.counts[..]
                };
                let sums = Some((&mut m.sum, &mut m.nonzero));
                (&mut counts[first..first + nr], sums)
            }
            None => (
                &mut std::slice::from_mut(&mut self.one)[first..first + nr],
                None,
            ),
        }
    }
    /// One more for each of the `nr` pages from `first` (a run of PTEs), in one pass.
    #[inline]
    pub fn add_pages(&mut self, first: usize, nr: usize) {
        let (counts, sums) = self.pages_mut(first, nr);
        let mut firsts = 0;
        for n in counts {
            firsts += (*n == 0) as u64;
            *n += 1;
        }
        if let Some((sum, nonzero)) = sums {
            *sum += nr as u64;
            *nonzero += firsts;
        }
    }
    /// One less for each of the `nr` pages from `first` (each has one), in one pass.
    #[inline]
    pub fn sub_pages(&mut self, first: usize, nr: usize) {
        let (counts, sums) = self.pages_mut(first, nr);
        let mut lasts = 0;
        for n in counts {
            *n -= 1;
            lasts += (*n == 0) as u64;
        }
        if let Some((sum, nonzero)) = sums {
            *sum -= nr as u64;
            *nonzero -= lasts;
        }
    }
    /// Zero counts for `nr_pages` pages, keeping the allocation.
    pub fn reset(&mut self, nr_pages: u64) {
        self.one = 0;
        if nr_pages <= 1 {
            if let Some(m) = &mut self.many {
                m.nr_pages = 1;
                m.counts.clear();
            }
            return;
        }
        let m = self.many.get_or_insert_with(Box::default);
        m.nr_pages = nr_pages as usize;
        m.sum = 0;
        m.nonzero = 0;
        m.near = [0; INLINE_PAGES];
        m.counts.clear();
        if m.nr_pages > ZEROS.len() {
            m.counts.resize(m.nr_pages, 0);
        }
    }
}

impl std::ops::Deref for PageCounts {
    type Target = [u64];
    #[inline]
    fn deref(&self) -> &[u64] {
        match self.large() {
            Some(m) if m.nr_pages <= INLINE_PAGES => &m.near[..m.nr_pages],
            Some(m) if m.counts.is_empty() => &ZEROS[..m.nr_pages],
            Some(m) => &m.counts,
            None => std::slice::from_ref(&self.one),
        }
    }
}

impl PartialEq for PageCounts {
    fn eq(&self, other: &PageCounts) -> bool {
        **self == **other
    }
}

impl Eq for PageCounts {}

/// Printed as a slice.
impl fmt::Debug for PageCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// MMs kept inline before a [`MmCounts`] moves to its vector.
const MM_INLINE: usize = 2;

/// The count of a removed MM whose place a [`MmCounts`] vector keeps (a tombstone).
const GONE: u32 = u32::MAX;

/// Entries per MM of one folio (PTEs and PMDs of that MM mapping any of its pages, 1 up to
/// `u32::MAX - 1`: an MM maps a page at most once per VMA), sorted by MM, an MM with none
/// absent (eight bytes an MM: a folio shared by thousands of MMs keeps thousands): a map kept as a
/// sorted array, inline while few MMs map the folio (most folios), else in a vector kept
/// for reuse. MMs forked one after another take increasing ids, so most insertions append;
/// a removal from the vector leaves a tombstone (its count [`GONE`]) that an MM taking the
/// same id again revives, and the vector is compacted once tombstones outnumber the MMs:
/// a folio mapped by thousands of MMs gains and loses one in O(log n), not O(n).
#[derive(Clone, Default)]
pub struct MmCounts {
    /// Entries in `inline` while `heap` is empty.
    nr_inline: usize,
    inline: [(MmId, u32); MM_INLINE],
    /// Every entry, and tombstones, once more than `MM_INLINE` were held (until no MM is
    /// left).
    heap: Vec<(MmId, u32)>,
    /// MMs in `heap` (its entries that are not tombstones).
    heap_live: usize,
}

impl MmCounts {
    /// The entries, tombstones included.
    fn as_slice(&self) -> &[(MmId, u32)] {
        if self.heap.is_empty() {
            &self.inline[..self.nr_inline]
        } else {
            &self.heap
        }
    }
    fn as_mut_slice(&mut self) -> &mut [(MmId, u32)] {
        if self.heap.is_empty() {
            &mut self.inline[..self.nr_inline]
        } else {
            &mut self.heap
        }
    }
    /// Where `mm`'s entry is (`Ok`, maybe a tombstone) or would go (`Err`).
    fn find(&self, mm: MmId) -> Result<usize, usize> {
        search(self.as_slice(), mm)
    }
    /// Where `mm`'s live entry is.
    fn find_live(&self, mm: MmId) -> Option<usize> {
        let i = self.find(mm).ok()?;
        (self.as_slice()[i].1 != GONE).then_some(i)
    }
    /// Entries of `mm`, if it has any.
    pub fn get(&self, mm: &MmId) -> Option<&u32> {
        self.find_live(*mm).map(|i| &self.as_slice()[i].1)
    }
    pub fn get_mut(&mut self, mm: &MmId) -> Option<&mut u32> {
        let i = self.find_live(*mm)?;
        Some(&mut self.as_mut_slice()[i].1)
    }
    /// The entries of `mm`, inserted as 0 when it has none (remove it again if it stays 0).
    pub fn counter(&mut self, mm: MmId) -> &mut u32 {
        let i = match self.find(mm) {
            Ok(i) if self.as_slice()[i].1 != GONE => i,
            Ok(i) => {
                self.heap[i].1 = 0;
                self.heap_live += 1;
                i
            }
            Err(i) => {
                self.insert_at(i, mm);
                i
            }
        };
        &mut self.as_mut_slice()[i].1
    }
    fn insert_at(&mut self, i: usize, mm: MmId) {
        if !self.heap.is_empty() {
            self.heap.insert(i, (mm, 0));
            self.heap_live += 1;
        } else if self.nr_inline < MM_INLINE {
            self.inline.copy_within(i..self.nr_inline, i + 1);
            self.inline[i] = (mm, 0);
            self.nr_inline += 1;
        } else {
            // Past a few MMs a folio is usually shared by a forking parent's children:
            // room for more at once.
            self.heap.reserve(4 * MM_INLINE);
            self.heap.extend_from_slice(&self.inline);
            self.heap.insert(i, (mm, 0));
            self.heap_live = MM_INLINE + 1;
            self.nr_inline = 0;
        }
    }
    pub fn contains_key(&self, mm: &MmId) -> bool {
        self.find_live(*mm).is_some()
    }
    pub fn remove(&mut self, mm: &MmId) -> Option<u32> {
        let i = self.find_live(*mm)?;
        if !self.heap.is_empty() {
            let n = std::mem::replace(&mut self.heap[i].1, GONE);
            self.heap_live -= 1;
            self.compact();
            return Some(n);
        }
        let n = self.inline[i].1;
        self.inline.copy_within(i + 1..self.nr_inline, i);
        self.nr_inline -= 1;
        Some(n)
    }
    /// Drops the tombstones once they outnumber the MMs (amortized O(1) a removal), and
    /// the vector when no MM is left.
    fn compact(&mut self) {
        if self.heap_live == 0 {
            self.heap.clear();
        } else if self.heap.len() - self.heap_live > self.heap_live + 2 * MM_INLINE {
            self.heap.retain(|(_, n)| *n != GONE);
        }
    }
    pub fn len(&self) -> usize {
        if self.heap.is_empty() {
            self.nr_inline
        } else {
            self.heap_live
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Forgets every MM, keeping the allocation.
    pub fn clear(&mut self) {
        self.nr_inline = 0;
        self.heap.clear();
        self.heap_live = 0;
    }
    /// MMs in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = &MmId> + '_ {
        self.iter().map(|(m, _)| m)
    }
    /// (MM, entries) in ascending order of MM.
    pub fn iter(&self) -> impl Iterator<Item = (&MmId, &u32)> + '_ {
        self.as_slice()
            .iter()
            .filter(|(_, n)| *n != GONE)
            .map(|(m, n)| (m, n))
    }
}

/// Where `mm` is in the sorted `s` (`Ok`) or would go (`Err`). The MMs mapping a folio
/// shared across a fork tree are mostly ids handed out in turn, spread evenly: the search
/// starts where `mm` would be if they were, and gallops from there (one or two probes
/// instead of a binary search's cache misses over thousands of MMs; O(log n) at worst).
fn search(s: &[(MmId, u32)], mm: MmId) -> Result<usize, usize> {
    let within = |from: usize, to: usize| {
        s[from..to]
            .binary_search_by_key(&mm, |(m, _)| *m)
            .map(|i| i + from)
            .map_err(|i| i + from)
    };
    let (first, last) = match (s.first(), s.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => return Err(0),
    };
    if last < mm {
        return Err(s.len());
    }
    if s.len() <= 8 || mm <= first {
        return within(0, s.len());
    }
    let span = (last.0 - first.0) as usize;
    let guess = (mm.0 - first.0) as usize * (s.len() - 1) / span;
    if s[guess].0 == mm {
        return Ok(guess);
    }
    let mut step = 1;
    if s[guess].0 < mm {
        // s[last index] >= mm bounds the gallop to the right.
        let mut from = guess + 1;
        loop {
            let to = (guess + step).min(s.len() - 1);
            if s[to].0 >= mm {
                return within(from, to + 1);
            }
            from = to + 1;
            step *= 2;
        }
    }
    // s[0] < mm bounds the gallop to the left.
    let mut to = guess;
    loop {
        let from = guess.saturating_sub(step);
        if s[from].0 <= mm {
            return within(from, to);
        }
        to = from;
        step *= 2;
    }
}

impl PartialEq for MmCounts {
    fn eq(&self, other: &MmCounts) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for MmCounts {}

/// Printed as a map, as `BTreeMap` prints.
impl fmt::Debug for MmCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

// The oracle keeps one per mapped folio, most of them small: two cache lines at most.
const _: () = assert!(std::mem::size_of::<FolioTruth>() <= 104);

impl FolioTruth {
    pub fn new(nr_pages: u64) -> FolioTruth {
        FolioTruth {
            nr_pages,
            pte_maps_per_page: PageCounts::new(nr_pages),
            ..Default::default()
        }
    }
    /// Makes this the truth of an unmapped folio of `nr_pages`, keeping the allocations.
    pub fn reset(&mut self, nr_pages: u64) {
        self.nr_pages = nr_pages;
        self.pte_maps_per_page.reset(nr_pages);
        self.pmd_maps = 0;
        self.entries_per_mm.clear();
    }
    /// Every PTE and PMD entry that maps any part of the folio (the exact folio_mapcount).
    pub fn total_entries(&self) -> u64 {
        self.pte_maps_per_page.sum() + self.pmd_maps
    }
    /// Mappings covering page `i` (PTE plus PMD): the precise per-page mapcount.
    pub fn page_mapcount(&self, i: usize) -> u64 {
        self.pte_maps_per_page[i] + self.pmd_maps
    }
    /// Pages with at least one PTE mapping.
    pub fn pages_pte_mapped(&self) -> u64 {
        self.pte_maps_per_page.nonzero()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn mm_counts_behave_like_a_map_inline_or_not() {
        // Few MMs (inline and small vectors), then many (tombstones, revivals, compaction).
        for nr_mms in [6u64, 40] {
            let mut c = MmCounts::default();
            let mut reference: BTreeMap<MmId, u32> = BTreeMap::new();
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mm = MmId((x % nr_mms) as u32);
                if x & (1 << 33) != 0 {
                    *c.counter(mm) += 1;
                    *reference.entry(mm).or_insert(0) += 1;
                } else {
                    assert_eq!(c.remove(&mm), reference.remove(&mm));
                }
                assert!(c.iter().eq(reference.iter()));
                assert_eq!(c.len(), reference.len());
                assert_eq!(c.get(&mm), reference.get(&mm));
                assert_eq!(c.contains_key(&mm), reference.contains_key(&mm));
                assert_eq!(format!("{c:?}"), format!("{reference:?}"));
                let mut rebuilt = MmCounts::default();
                reference
                    .iter()
                    .for_each(|(&m, &n)| *rebuilt.counter(m) = n);
                assert_eq!(c, rebuilt, "equal whatever tombstones either holds");
            }
        }
    }

    #[test]
    fn the_search_finds_what_a_binary_search_finds() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 5, 9, 40, 300] {
            for spread in [1u32, 3, 1000] {
                let mut s: Vec<(MmId, u32)> = (0..len as u32)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (MmId(1 + i * spread + (x % spread as u64) as u32), 0)
                    })
                    .collect();
                s.dedup_by_key(|e| e.0);
                for mm in 0..(len as u32 * spread + 3) {
                    let want = s.binary_search_by_key(&MmId(mm), |e| e.0);
                    assert_eq!(
                        search(&s, MmId(mm)),
                        want,
                        "len {len} spread {spread} mm {mm}"
                    );
                }
            }
        }
    }

    #[test]
    fn mm_counts_remove_and_revive_in_place() {
        let mut c = MmCounts::default();
        for m in 1..=1000 {
            *c.counter(MmId(m)) += 1;
        }
        for m in (2..=1000).step_by(2) {
            assert_eq!(c.remove(&MmId(m)), Some(1));
        }
        assert_eq!(c.len(), 500);
        assert_eq!(
            c.heap.len(),
            1000,
            "removals leave tombstones, not a shifted vector"
        );
        *c.counter(MmId(10)) += 3;
        assert_eq!((c.get(&MmId(10)), c.len()), (Some(&3), 501));
        assert_eq!(
            c.heap.len(),
            1000,
            "an MM taking its id again revives its place"
        );
        for m in (1..=1000).step_by(2) {
            c.remove(&MmId(m));
        }
        assert!(
            c.heap.len() < 20,
            "compacted once tombstones outnumber the MMs"
        );
        assert!(c.keys().eq([MmId(10)].iter()));
        c.remove(&MmId(10));
        assert!(c.is_empty() && c.heap.is_empty());
    }

    #[test]
    fn page_counts_are_a_slice_of_the_folio() {
        let mut p = PageCounts::new(1);
        p.add(0);
        p.add(0);
        assert_eq!(&p[..], &[2]);
        assert_eq!((p.sum(), p.nonzero()), (2, 1));
        p.reset(4);
        p.add(3);
        p.add(1);
        p.add(3);
        p.sub(1);
        assert_eq!(format!("{p:?}"), "[0, 0, 0, 2]");
        assert_eq!((p.sum(), p.nonzero()), (2, 1));
        p.reset(1);
        assert_eq!(p, PageCounts::new(1));
        p.reset(16);
        p.add(3);
        p.add_pages(2, 4);
        assert_eq!(&p[..7], &[0, 0, 1, 2, 1, 1, 0]);
        assert_eq!((p.sum(), p.nonzero()), (5, 4));
        p.sub_pages(3, 3);
        assert_eq!(&p[..7], &[0, 0, 1, 1, 0, 0, 0]);
        assert_eq!((p.sum(), p.nonzero()), (2, 2));
    }

    #[test]
    fn page_counts_kept_next_to_their_sums_or_not_read_zero_after_a_reset() {
        // 16 pages (a 64K folio) next to the sums, 512 (a 2M folio) in the vector, and the
        // same allocation going from one to the other and back.
        let mut p = PageCounts::new(INLINE_PAGES as u64);
        p.add_pages(0, INLINE_PAGES);
        p.add(15);
        assert_eq!(p.len(), INLINE_PAGES);
        assert_eq!((p[0], p[15], p.sum(), p.nonzero()), (1, 2, 17, 16));
        p.reset(512);
        assert!(p.iter().all(|&n| n == 0) && p.len() == 512);
        p.add(511);
        assert_eq!((p[511], p.sum(), p.nonzero()), (1, 1, 1));
        p.reset(INLINE_PAGES as u64);
        assert_eq!(p, PageCounts::new(INLINE_PAGES as u64));
        assert_eq!((p.sum(), p.nonzero()), (0, 0));
        p.reset(8);
        p.add(7);
        assert_eq!(&p[..], &[0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
