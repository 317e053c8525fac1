//! A set of PFNs as a bitmap with a summary level, as the kernel keeps per-page state in bits
//! rather than in a tree: insert, remove and membership cost one word, and iteration (in PFN
//! order) skips empty 4096-page stretches by the summary.

use crate::Pfn;

const BITS: u64 = 64;

/// A set of PFNs, iterated in ascending order; its bitmap grows to the highest PFN inserted.
#[derive(Clone, Debug, Default)]
pub struct PfnSet {
    /// Bit `pfn % 64` of word `pfn / 64`.
    words: Vec<u64>,
    /// Bit `w % 64` of summary word `w / 64`: word `w` is not zero.
    summary: Vec<u64>,
    len: usize,
}

impl PfnSet {
    /// An empty set.
    pub fn new() -> PfnSet {
        PfnSet::default()
    }

    fn at(pfn: Pfn) -> (usize, u64) {
        ((pfn.0 / BITS) as usize, 1 << (pfn.0 % BITS))
    }

    /// Adds `pfn`; whether it was absent.
    #[inline]
    pub fn insert(&mut self, pfn: Pfn) -> bool {
        let (w, bit) = Self::at(pfn);
        if w >= self.words.len() {
            self.grow(w);
        }
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.summary[w / BITS as usize] |= 1 << (w as u64 % BITS);
        self.len += 1;
        true
    }

    /// Makes room for word `w` (out of line: the insert stays a few instructions).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, w: usize) {
        let nr_words = (w + 1).next_power_of_two();
        self.words.resize(nr_words, 0);
        self.summary.resize(nr_words.div_ceil(BITS as usize), 0);
    }

    /// Removes `pfn`; whether it was present.
    #[inline]
    pub fn remove(&mut self, pfn: &Pfn) -> bool {
        let (w, bit) = Self::at(*pfn);
        if !self.contains(pfn) {
            return false;
        }
        self.words[w] &= !bit;
        if self.words[w] == 0 {
            self.summary[w / BITS as usize] &= !(1 << (w as u64 % BITS));
        }
        self.len -= 1;
        true
    }

    /// Removes every PFN of `first..first + nr`, a word at a time; how many were present.
    pub fn remove_range(&mut self, first: Pfn, nr: u64) -> usize {
        let (mut pfn, end) = (first.0, first.0 + nr);
        let mut removed = 0;
        while pfn < end {
            let w = (pfn / BITS) as usize;
            if w >= self.words.len() {
                break;
            }
            let (lo, n) = (pfn % BITS, (end - pfn).min(BITS - pfn % BITS));
            let mask = (u64::MAX >> (BITS - n)) << lo;
            removed += (self.words[w] & mask).count_ones() as usize;
            self.words[w] &= !mask;
            if self.words[w] == 0 {
                self.summary[w / BITS as usize] &= !(1 << (w as u64 % BITS));
            }
            pfn += n;
        }
        self.len -= removed;
        removed
    }

    #[inline]
    pub fn contains(&self, pfn: &Pfn) -> bool {
        let (w, bit) = Self::at(*pfn);
        self.words.get(w).is_some_and(|x| x & bit != 0)
    }

    /// How many of the `max` PFNs from `first` on are members before the first that is
    /// not: a word at a time.
    #[inline]
    pub fn run_len(&self, first: Pfn, max: usize) -> usize {
        self.stretch_len(first, max, true)
    }

    /// How many of the `max` PFNs from `first` on are not members before the first that
    /// is: a word at a time.
    #[inline]
    pub fn absent_len(&self, first: Pfn, max: usize) -> usize {
        self.stretch_len(first, max, false)
    }

    /// How many of the `max` PFNs from `first` on are members (`members`) or not before
    /// the first that is the other: the words read with members as zeros (past the end of
    /// the bitmap every PFN is absent), zeros counted from `first`'s bit.
    #[inline]
    fn stretch_len(&self, first: Pfn, max: usize, members: bool) -> usize {
        let flip = if members { u64::MAX } else { 0 };
        let mut n = 0;
        while n < max {
            let pfn = first.0 + n as u64;
            let (w, shift) = ((pfn / BITS) as usize, pfn % BITS);
            let word = self.words.get(w).copied().unwrap_or(0) ^ flip;
            // Zeros from bit `shift` up, at most to the word's end.
            let zeros = ((word >> shift).trailing_zeros() as usize).min((BITS - shift) as usize);
            n += zeros;
            if zeros < (BITS - shift) as usize {
                break;
            }
        }
        n.min(max)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.summary.iter().enumerate().flat_map(move |(s, &sw)| {
            bits(sw).flat_map(move |i| {
                let w = s * BITS as usize + i as usize;
                bits(self.words[w]).map(move |b| Pfn(w as u64 * BITS + b))
            })
        })
    }
}

/// Indices of the set bits of `x`, lowest first.
fn bits(mut x: u64) -> impl Iterator<Item = u64> {
    std::iter::from_fn(move || {
        if x == 0 {
            return None;
        }
        let i = x.trailing_zeros() as u64;
        x &= x - 1;
        Some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn behaves_like_an_ordered_set() {
        let mut s = PfnSet::new();
        let mut reference = BTreeSet::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pfn = Pfn(x % (1 << 20));
            if x & (1 << 40) != 0 {
                assert_eq!(s.insert(pfn), reference.insert(pfn));
            } else {
                assert_eq!(s.remove(&pfn), reference.remove(&pfn));
            }
            assert_eq!(s.contains(&pfn), reference.contains(&pfn));
        }
        assert_eq!(s.len(), reference.len());
        assert!(s.iter().eq(reference.iter().copied()));
        assert!(!s.contains(&Pfn(1 << 30)), "beyond the bitmap: absent");
        assert!(!s.remove(&Pfn(1 << 30)));
    }

    /// Removing a range is removing each of its PFNs: the count, the members, the order of
    /// iteration (which reads the summary) and ranges past the bitmap's end.
    #[test]
    fn a_range_removal_is_each_pfns_removal() {
        let (mut s, mut reference) = (PfnSet::new(), BTreeSet::new());
        let mut rng = crate::prng::Prng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move |n: u64| rng.below(n);
        for _ in 0..3000 {
            for _ in 0..next(200) {
                let pfn = Pfn(next(1 << 13));
                s.insert(pfn);
                reference.insert(pfn);
            }
            let (first, nr) = (next(1 << 14), next(700));
            let want = (first..first + nr)
                .filter(|&p| reference.remove(&Pfn(p)))
                .count();
            assert_eq!(s.remove_range(Pfn(first), nr), want, "{first:#x}+{nr}");
            assert_eq!(s.len(), reference.len());
        }
        assert!(s.iter().eq(reference.iter().copied()));
    }

    /// A run of members is measured across words, up to `max`, from any bit, and ends at
    /// the first absent PFN or the end of the bitmap.
    #[test]
    fn run_len_counts_members_up_to_the_first_absent_one() {
        let mut s = PfnSet::new();
        (60..200).chain(201..210).for_each(|p| {
            s.insert(Pfn(p));
        });
        let naive = |first: u64, max: usize| {
            (first..first + max as u64)
                .take_while(|&p| s.contains(&Pfn(p)))
                .count()
        };
        for (first, max) in [(60, 512), (61, 100), (63, 2), (64, 64), (0, 10), (199, 5)] {
            assert_eq!(
                s.run_len(Pfn(first), max),
                naive(first, max),
                "{first} {max}"
            );
        }
        assert_eq!(s.run_len(Pfn(60), 512), 140);
        assert_eq!(s.run_len(Pfn(201), 512), 9);
        assert_eq!(s.run_len(Pfn(1 << 30), 4), 0);
    }

    /// A run of non-members is measured like a run of members: across words, up to `max`,
    /// to the first member; past the end of the bitmap everything is absent.
    #[test]
    fn absent_len_counts_non_members_up_to_the_first_member() {
        let mut s = PfnSet::new();
        for p in [5, 70, 200, 201] {
            s.insert(Pfn(p));
        }
        let naive = |first: u64, max: usize| {
            (first..first + max as u64)
                .take_while(|&p| !s.contains(&Pfn(p)))
                .count()
        };
        for (first, max) in [(0, 512), (6, 512), (6, 10), (63, 3), (71, 300), (202, 1000)] {
            assert_eq!(
                s.absent_len(Pfn(first), max),
                naive(first, max),
                "{first} {max}"
            );
        }
        assert_eq!(s.absent_len(Pfn(71), 512), 129);
        assert_eq!(s.absent_len(Pfn(1 << 30), 7), 7);
    }
}
