//! The statistics the touched check conserves, kept per folio: each folio's part
//! ([`Part`]: the pages the design counts in NR_ANON_MAPPED / NR_FILE_MAPPED, its PMD
//! mappings, its mTHP counters) and their sums ([`Sums`]), which the check compares with
//! the model's counters. A part is kept in 32 bits by head PFN ([`Parts`]) when it holds
//! page counts alone ([`compact`]: a small folio's, a file folio's mapped by PTEs), else in
//! a word of 64 bits that only a larger folio has (by head PFN / 2: such a head is even);
//! a run of small folios' parts is a slice of 32-bit words.

use super::grow_to;

/// One folio's part of the statistics the check conserves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Part {
    /// Pages counted in NR_ANON_MAPPED / NR_FILE_MAPPED by the design, and whether the
    /// design cannot say (its statistic depends on the history).
    pub(super) anon_mapped: u64,
    pub(super) anon_unknown: bool,
    pub(super) file_mapped: u64,
    pub(super) file_unknown: bool,
    pub(super) shmem_pmd_pages: i64,
    /// PMD-mapped anon folio.
    pub(super) thp: bool,
    /// Order of a live large anon folio (0: not one), and whether it is flagged partially
    /// mapped.
    pub(super) anon_order: u8,
    pub(super) flagged: bool,
}

/// Sums of [`Part`] over every folio.
#[derive(Clone, Debug, Default)]
pub(super) struct Sums {
    pub(super) anon_mapped: i64,
    pub(super) anon_unknown: i64,
    pub(super) file_mapped: i64,
    pub(super) file_unknown: i64,
    pub(super) shmem_pmd_pages: i64,
    pub(super) thps: i64,
    pub(super) per_order: [i64; 10],
    pub(super) flagged: [i64; 10],
}

impl Part {
    /// Packed into one word (16 bits per page count: a folio has at most 512 pages).
    pub(super) fn pack(&self) -> u64 {
        let c = |n: u64| n.min(0xffff);
        c(self.anon_mapped)
            | c(self.file_mapped) << 16
            | (self.shmem_pmd_pages as u64).min(0xffff) << 32
            | (self.anon_order as u64 & 0xf) << 48
            | (self.anon_unknown as u64) << 52
            | (self.file_unknown as u64) << 53
            | (self.thp as u64) << 54
            | (self.flagged as u64) << 55
    }
    pub(super) fn unpack(w: u64) -> Part {
        Part {
            anon_mapped: w & 0xffff,
            file_mapped: (w >> 16) & 0xffff,
            shmem_pmd_pages: ((w >> 32) & 0xffff) as i64,
            anon_order: ((w >> 48) & 0xf) as u8,
            anon_unknown: w >> 52 & 1 != 0,
            file_unknown: w >> 53 & 1 != 0,
            thp: w >> 54 & 1 != 0,
            flagged: w >> 55 & 1 != 0,
        }
    }
}

/// The compact word of a part kept in [`Parts::wide`]: never a part's own (a part whose
/// design cannot say its anon pages counts none).
pub(super) const WIDE: u32 = u32::MAX;

/// Pages a compact word counts per field at most: a folio said to map more (no design
/// says so; a folio has at most 512 pages) is kept as mapping this many, and the sums then
/// drift, which only makes the full check run.
const MAX_PAGES: u64 = 0x7fff;

/// The compact word of `w`, a packed part ([`Part::pack`]): bits 0..=14 anon pages, 15
/// anon unknown, 16..=30 file pages, 31 file unknown; [`WIDE`] for a part with more than
/// that (a PMD mapping, an mTHP counter: only a larger folio's). A small folio's part is
/// the same number in both forms (1 for a mapped anon page, 1 << 16 for a file one).
#[inline]
pub(super) fn compact(w: u64) -> u32 {
    const COUNTS: u64 = 0xffff_ffff | 1 << 52 | 1 << 53;
    if w & !COUNTS != 0 {
        return WIDE;
    }
    let anon = (w & 0xffff).min(MAX_PAGES);
    let file = ((w >> 16) & 0xffff).min(MAX_PAGES);
    (anon | (w >> 52 & 1) << 15 | file << 16 | (w >> 53 & 1) << 31) as u32
}

/// The packed part of `c`, a compact word (not [`WIDE`]).
#[inline]
pub(super) fn expand(c: u32) -> u64 {
    let c = c as u64;
    (c & MAX_PAGES) | ((c >> 16) & MAX_PAGES) << 16 | ((c >> 15) & 1) << 52 | (c >> 31) << 53
}

impl Sums {
    /// Adds (`sign` 1) or takes out (-1) the part `c`, a compact word.
    #[inline]
    pub(super) fn add_compact(&mut self, c: u32, sign: i64) {
        let field = |shift: u32, mask: u32| sign * ((c >> shift) & mask) as i64;
        self.anon_mapped += field(0, MAX_PAGES as u32);
        self.anon_unknown += field(15, 1);
        self.file_mapped += field(16, MAX_PAGES as u32);
        self.file_unknown += field(31, 1);
    }

    /// Takes the parts `kept` (compact words, none [`WIDE`]) out of the sums, their
    /// fields summed apart with no branch (the words stay).
    pub(super) fn remove_compact(&mut self, kept: &[u32]) {
        let (mut anon_mapped, mut file_mapped, mut anon_unknown, mut file_unknown) = (0, 0, 0, 0);
        for &c in kept {
            let c = c as u64;
            anon_mapped += c & MAX_PAGES;
            anon_unknown += (c >> 15) & 1;
            file_mapped += (c >> 16) & MAX_PAGES;
            file_unknown += c >> 31;
        }
        self.anon_mapped -= anon_mapped as i64;
        self.file_mapped -= file_mapped as i64;
        self.anon_unknown -= anon_unknown as i64;
        self.file_unknown -= file_unknown as i64;
    }

    fn apply(&mut self, p: &Part, sign: i64) {
        self.anon_mapped += sign * p.anon_mapped as i64;
        self.anon_unknown += sign * p.anon_unknown as i64;
        self.file_mapped += sign * p.file_mapped as i64;
        self.file_unknown += sign * p.file_unknown as i64;
        self.shmem_pmd_pages += sign * p.shmem_pmd_pages;
        self.thps += sign * p.thp as i64;
        self.per_order[p.anon_order as usize] += sign * (p.anon_order > 0) as i64;
        self.flagged[p.anon_order as usize] += sign * p.flagged as i64;
    }
}

/// Each folio's part, by head PFN.
#[derive(Clone, Debug, Default)]
pub(super) struct Parts {
    /// Each folio's part as a compact word ([`compact`]; 0: no part), [`WIDE`] for one
    /// kept in `wide`.
    pub(super) words: Vec<u32>,
    /// The packed parts of the larger folios whose word is [`WIDE`], by head PFN / 2.
    wide: Vec<u64>,
}

impl Parts {
    /// Makes room for the parts of heads up to `last`.
    #[inline]
    pub(super) fn grow_to(&mut self, last: usize) {
        grow_to(&mut self.words, last, 0);
    }

    /// The part kept for `head`, packed ([`Part::pack`]).
    pub(super) fn get(&self, head: usize) -> u64 {
        match self.words[head] {
            WIDE => self.wide[head / 2],
            c => expand(c),
        }
    }

    /// Keeps `new` (packed) as the part of `head` and brings the sums up to date: a part
    /// of page counts alone in a few operations.
    #[inline]
    pub(super) fn replace(&mut self, head: usize, new: u64, sums: &mut Sums) {
        let (old, c) = (self.words[head], compact(new));
        if old == c && c != WIDE {
            return;
        }
        if old != WIDE && c != WIDE {
            sums.add_compact(old, -1);
            sums.add_compact(c, 1);
            self.words[head] = c;
            return;
        }
        self.replace_wide(head, new, sums);
    }

    /// [`Parts::replace`] where the old or the new part is a larger folio's: out of line.
    #[cold]
    #[inline(never)]
    fn replace_wide(&mut self, head: usize, new: u64, sums: &mut Sums) {
        let old = self.get(head);
        let c = compact(new);
        let kept = match c {
            WIDE => {
                debug_assert_eq!(head % 2, 0, "a larger folio's head is even");
                grow_to(&mut self.wide, head / 2, 0);
                self.wide[head / 2] = new;
                new
            }
            _ => expand(c),
        };
        self.words[head] = c;
        sums.apply(&Part::unpack(old), -1);
        sums.apply(&Part::unpack(kept), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::prng::Prng;

    /// A random packed part: page counts alone mostly, sometimes more than 2^15 pages,
    /// sometimes a larger folio's.
    fn random_part(rng: &mut Prng) -> u64 {
        let count = |rng: &mut Prng| match rng.below(8) {
            0 => 0x8000 + rng.below(0x7fff),
            1 => 0,
            _ => rng.below(513),
        };
        let anon = rng.below(2) == 0;
        let unknown = rng.below(6) == 0;
        let pages = if unknown { None } else { Some(count(rng)) };
        let mut p = Part {
            anon_mapped: if anon { pages.unwrap_or(0) } else { 0 },
            anon_unknown: anon && unknown,
            file_mapped: if anon { 0 } else { pages.unwrap_or(0) },
            file_unknown: !anon && unknown,
            ..Part::default()
        };
        if rng.below(4) == 0 {
            p.anon_order = 1 + rng.below(9) as u8;
            p.thp = rng.below(2) == 0;
            p.flagged = rng.below(2) == 0;
            p.shmem_pmd_pages = rng.below(2) as i64 * 512;
        }
        p.pack()
    }

    /// The sums kept by [`Parts::replace`] are those of the parts kept, recomputed from
    /// scratch: page counts beyond 2^15 - 1 kept as that many, larger folios' parts whole.
    #[test]
    fn kept_parts_and_their_sums_agree() {
        let mut rng = Prng::new(0x5eed);
        let (mut parts, mut sums) = (Parts::default(), Sums::default());
        parts.grow_to(63);
        for _ in 0..5000 {
            let head = 2 * rng.below(32) as usize;
            let new = random_part(&mut rng);
            parts.replace(head, new, &mut sums);
            let c = compact(new);
            let want = if c == WIDE { new } else { expand(c) };
            assert_eq!(parts.get(head), want);
            let mut fresh = Sums::default();
            for h in 0..64 {
                fresh.apply(&Part::unpack(parts.get(h)), 1);
            }
            assert_eq!(format!("{fresh:?}"), format!("{sums:?}"));
        }
    }

    /// A small folio's part is the same number packed and compact, and page counts alone
    /// survive the round trip.
    #[test]
    fn compact_words_hold_page_counts() {
        for anon in [false, true] {
            for pages in [None, Some(0), Some(1), Some(512)] {
                let w = Part {
                    anon_mapped: if anon { pages.unwrap_or(0) } else { 0 },
                    anon_unknown: anon && pages.is_none(),
                    file_mapped: if anon { 0 } else { pages.unwrap_or(0) },
                    file_unknown: !anon && pages.is_none(),
                    ..Part::default()
                }
                .pack();
                assert_ne!(compact(w), WIDE);
                assert_eq!(expand(compact(w)), w);
                if pages.is_some_and(|n| n <= 1) {
                    assert_eq!(compact(w) as u64, w);
                }
            }
        }
    }
}
