//! What the oracle knows about one folio, recounted from page tables alone: the one truth.
//! Plain data: the oracle fills it in, designs compare their counters with it, neither sees
//! the other's code. Its methods are the only definitions of "mapped", "mapped by", "mapped
//! shared" and "partially mapped"; the model's checks, shadow mode, the fuzzer and the `exact`
//! design all use them.

pub use crate::mmcounts::MmCounts;
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
    #[inline]
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
    /// The count of a one-page folio's page (the caller knows the folio is one page), to
    /// change in place: what counting a PTE of a small folio in or out writes.
    #[inline]
    pub fn small_mut(&mut self) -> &mut u64 {
        debug_assert!(
            self.large().is_none(),
            "small_mut of a large folio's counts"
        );
        &mut self.one
    }
    /// The count of a one-page folio's page (the caller knows the folio is one page): what
    /// [`PageCounts::sum`] gives, without asking whether the folio is larger.
    #[inline]
    pub fn small(&self) -> u64 {
        debug_assert!(self.large().is_none(), "small of a large folio's counts");
        self.one
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
    #[inline]
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

// The oracle keeps one per mapped folio, most of them small: one cache line.
const _: () = assert!(std::mem::size_of::<FolioTruth>() <= 64);

impl FolioTruth {
    /// The truth of an unmapped one-page folio: what [`FolioTruth::new`] of one page gives.
    pub const UNMAPPED_SMALL: FolioTruth = FolioTruth {
        nr_pages: 1,
        pte_maps_per_page: PageCounts { one: 0, many: None },
        pmd_maps: 0,
        entries_per_mm: MmCounts::EMPTY,
    };

    #[inline]
    pub fn new(nr_pages: u64) -> FolioTruth {
        FolioTruth {
            nr_pages,
            pte_maps_per_page: PageCounts::new(nr_pages),
            ..Default::default()
        }
    }
    /// Makes this the truth of an unmapped folio of `nr_pages`, keeping the allocations.
    #[inline]
    pub fn reset(&mut self, nr_pages: u64) {
        self.nr_pages = nr_pages;
        self.pte_maps_per_page.reset(nr_pages);
        self.pmd_maps = 0;
        self.entries_per_mm.clear();
    }
    /// Every PTE and PMD entry that maps any part of the folio (the exact folio_mapcount).
    #[inline]
    pub fn total_entries(&self) -> u64 {
        self.pte_maps_per_page.sum() + self.pmd_maps
    }
    /// Mappings covering page `i` (PTE plus PMD): the precise per-page mapcount.
    #[inline]
    pub fn page_mapcount(&self, i: usize) -> u64 {
        self.pte_maps_per_page[i] + self.pmd_maps
    }
    /// Pages with at least one PTE mapping.
    #[inline]
    pub fn pages_pte_mapped(&self) -> u64 {
        self.pte_maps_per_page.nonzero()
    }
    /// Pages mapped at all (by PTE or PMD).
    #[inline]
    pub fn pages_mapped(&self) -> u64 {
        if self.pmd_maps > 0 {
            self.nr_pages
        } else {
            self.pages_pte_mapped()
        }
    }
    /// MMs mapping any page of the folio ("mapped by").
    #[inline]
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
            1 => self.entries_per_mm.keys().next(),
            _ => None,
        }
    }
    /// Any page is mapped.
    #[inline]
    pub fn is_mapped(&self) -> bool {
        self.total_entries() > 0
    }
    /// "Mapped shared": more than one MM maps the folio, the question
    /// `folio_maybe_mapped_shared` estimates. A folio mapped twice by one MM is not shared.
    #[inline]
    pub fn is_mapped_shared(&self) -> bool {
        self.nr_mms() > 1
    }
    /// "Partially mapped": some but not all pages are mapped (then no PMD maps it), what
    /// deferred split should catch.
    #[inline]
    pub fn is_partially_mapped(&self) -> bool {
        let m = self.pages_mapped();
        m > 0 && m < self.nr_pages
    }
}

/// The truth of a one-page folio that at most two MMs map, in 16 bytes: what the oracle
/// keeps for most small folios ([`crate::TruthStore`] keeps it at the folio's page), read
/// as the [`FolioTruth`] it stands for ([`SmallTruth::to_truth`]). No PMD maps a one-page
/// folio, and each entry mapping it is a PTE of one of its MMs: the entries are its page's
/// count, their MMs' counts add up to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmallTruth {
    /// PTEs mapping the page, across all MMs (0 up to `u32::MAX`).
    entries: u32,
    /// Entries of `mms[0]` (`entries` when one MM maps the folio, 0 when none does; the
    /// rest are `mms[1]`'s).
    first: u32,
    /// The MMs mapping the folio in ascending order (as many as map it).
    mms: [MmId; 2],
}

/// What a change of a [`SmallTruth`] came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallStep {
    /// Done; the folio stays mapped.
    Keep,
    /// Done; its last entry went (forget the folio).
    Forget,
    /// Not done, nothing changed: it needs the general [`FolioTruth`] (a third MM).
    General,
}

// Four to a cache line.
const _: () = assert!(std::mem::size_of::<SmallTruth>() == 16);

impl SmallTruth {
    /// PTEs mapping the page (the folio's entries).
    #[inline]
    pub fn entries(&self) -> u64 {
        self.entries as u64
    }

    /// MMs mapping the folio (0 to 2).
    #[inline]
    fn nr_mms(&self) -> usize {
        (self.entries > 0) as usize + (self.first < self.entries) as usize
    }

    /// One more PTE of `mm`: [`SmallStep::Keep`], or [`SmallStep::General`] when `mm`
    /// would be a third MM (unchanged then).
    #[inline(always)]
    pub fn count_in(&mut self, mm: MmId) -> SmallStep {
        match self.nr_mms() {
            0 => (self.mms, self.first) = ([mm, mm], 1),
            _ if self.mms[0] == mm => self.first += 1,
            1 if mm > self.mms[0] => self.mms[1] = mm,
            1 => (self.mms, self.first) = ([mm, self.mms[0]], 1),
            _ if self.mms[1] == mm => {}
            _ => return SmallStep::General,
        }
        self.entries += 1;
        SmallStep::Keep
    }

    /// One PTE of `mm` fewer: [`SmallStep::Forget`] when it was the last,
    /// [`SmallStep::General`] when `mm` has none (unchanged then: a model bug the general
    /// truth records as the recount would).
    #[inline(always)]
    pub fn count_out(&mut self, mm: MmId) -> SmallStep {
        let two = self.nr_mms() == 2;
        if self.entries > 0 && self.mms[0] == mm {
            self.first -= 1;
            if self.first == 0 && two {
                (self.mms[0], self.first) = (self.mms[1], self.entries - 1);
            }
        } else if !(two && self.mms[1] == mm) {
            return SmallStep::General;
        }
        self.entries -= 1;
        match self.entries {
            0 => SmallStep::Forget,
            _ => SmallStep::Keep,
        }
    }

    /// The [`FolioTruth`] this stands for.
    pub fn to_truth(&self) -> FolioTruth {
        let mut t = FolioTruth::UNMAPPED_SMALL;
        *t.pte_maps_per_page.small_mut() = self.entries as u64;
        let counts = [self.first, self.entries - self.first];
        for (mm, n) in self.mms.iter().zip(counts).take(self.nr_mms()) {
            *t.entries_per_mm.counter(*mm) = n;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Counting PTEs of up to two MMs in and out of a small truth reads as the general
    /// truth does after the same changes; a third MM is left to the general truth.
    #[test]
    fn a_small_truth_reads_as_the_folio_truth_of_the_same_changes() {
        let mut rng = crate::prng::Prng::new(5);
        for _ in 0..200 {
            let (mut s, mut t) = (SmallTruth::default(), FolioTruth::new(1));
            let mut counts: BTreeMap<MmId, u32> = BTreeMap::new();
            for _ in 0..40 {
                let mm = MmId(1 + rng.below(4) as u32);
                if rng.below(3) > 0 {
                    let step = s.count_in(mm);
                    let third = counts.len() == 2 && !counts.contains_key(&mm);
                    assert_eq!(step == SmallStep::General, third, "{counts:?} + {mm:?}");
                    if third {
                        continue;
                    }
                    t.pte_maps_per_page.add(0);
                    *t.entries_per_mm.counter(mm) += 1;
                    *counts.entry(mm).or_insert(0) += 1;
                } else {
                    let step = s.count_out(mm);
                    let Some(n) = counts.get_mut(&mm) else {
                        assert_eq!(step, SmallStep::General);
                        continue;
                    };
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(&mm);
                    }
                    assert_eq!(step == SmallStep::Forget, counts.is_empty());
                    t.pte_maps_per_page.sub(0);
                    t.entries_per_mm.sub(mm, 1);
                }
                assert_eq!(s.to_truth(), t, "{s:?}");
                assert_eq!(s.entries(), t.total_entries());
            }
        }
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
