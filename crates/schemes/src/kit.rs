//! The plumbing designs share. A design built on the kit keeps one [`Kit`]: its per-folio
//! state in a [`Store`] (keyed by the head PFN, created when the folio is prepared, dropped,
//! checked for leftovers, when it is freed; ordered, as every collection in model state is)
//! and its cost meter. With the trait defaults (`dup` is an `add`, `add_new_anon` an `add` of
//! the whole folio, `page_mapped_exclusively` a per-page mapcount of one, ...) a design writes
//! only what is its own: docs/schemes/adding-a-design.md.

use crate::cost::Costs;
use crate::event::{Cause, FolioRef};
use foliolab_types::Pfn;
use std::collections::BTreeMap;

/// A design's per-folio state and its cost meter.
#[derive(Clone, Debug)]
pub struct Kit<T> {
    pub folios: Store<T>,
    pub costs: Costs,
}

impl<T> Default for Kit<T> {
    fn default() -> Kit<T> {
        Kit {
            folios: Store::default(),
            costs: Costs::default(),
        }
    }
}

impl<T: FolioState> Kit<T> {
    /// `prep_folio`: fresh state for a new folio.
    pub fn prep(&mut self, f: FolioRef) {
        self.folios.prep(f)
    }
    /// `free_folio`: drops the state; the error names what was left over (a bad page).
    pub fn free(&mut self, f: FolioRef) -> Result<(), String> {
        self.folios.free(f)
    }
    /// One rmap call of kind `cause` doing `rmw` atomics on `lines` distinct cachelines.
    pub fn record(&mut self, cause: Cause, rmw: u64, lines: u64) {
        self.costs.record(cause, rmw, lines)
    }
    /// The costs so far (`Reporting::costs`).
    pub fn costs(&self) -> Costs {
        self.costs.clone()
    }
}

/// State a scheme keeps for one folio.
pub trait FolioState: Clone {
    /// The state of a folio fresh from the allocator.
    fn fresh(f: FolioRef) -> Self;
    /// What is not back at its initial value (a "bad page"), if anything.
    fn leftovers(&self) -> Option<String>;
}

/// Every live folio's state.
#[derive(Clone, Debug)]
pub struct Store<T> {
    map: BTreeMap<Pfn, T>,
}

impl<T> Default for Store<T> {
    fn default() -> Store<T> {
        Store {
            map: BTreeMap::new(),
        }
    }
}

impl<T: FolioState> Store<T> {
    pub fn prep(&mut self, f: FolioRef) {
        self.map.insert(f.head, T::fresh(f));
    }
    /// Drops the state; the error names what was left over.
    pub fn free(&mut self, f: FolioRef) -> Result<(), String> {
        match self.map.remove(&f.head).and_then(|s| s.leftovers()) {
            None => Ok(()),
            Some(bad) => Err(format!("bad page state in {:?}: {bad}", f.head)),
        }
    }
    pub fn get_mut(&mut self, f: FolioRef) -> &mut T {
        self.map.entry(f.head).or_insert_with(|| T::fresh(f))
    }
    /// The folio's state, or a fresh one if the scheme never saw it.
    pub fn get(&self, f: FolioRef) -> std::borrow::Cow<'_, T> {
        match self.map.get(&f.head) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(T::fresh(f)),
        }
    }
}

/// The first page `i` whose count in `counts` (read as a true value by `value`) differs
/// from `truth[i]`, the oracle's count: the per-page part of a design's check. Compares a
/// chunk of pages at a time with no branch per page (the compiler vectorises the fold), so
/// checking a 2M folio's 512 pages costs a few hundred cycles, not a branch and a lookup
/// per page. Both slices have the folio's length.
#[inline]
pub fn first_page_mismatch<T>(
    counts: &[T],
    truth: &[u64],
    value: impl Fn(&T) -> i64,
) -> Option<usize> {
    debug_assert_eq!(counts.len(), truth.len());
    const CHUNK: usize = 64;
    let chunks = counts.chunks(CHUNK).zip(truth.chunks(CHUNK));
    for (k, (c, t)) in chunks.enumerate() {
        let diff = c
            .iter()
            .zip(t)
            .fold(0u64, |acc, (c, &t)| acc | (value(c) as u64 ^ t));
        if diff != 0 {
            let i = c.iter().zip(t).position(|(c, &t)| value(c) as u64 != t);
            return i.map(|i| k * CHUNK + i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_page_mismatch;

    #[test]
    fn first_page_mismatch_finds_the_first_wrong_page_in_any_chunk() {
        let truth: Vec<u64> = (0..512).map(|i| i % 3).collect();
        let raw: Vec<i32> = truth.iter().map(|&t| t as i32 - 1).collect();
        let value = |w: &i32| *w as i64 + 1;
        assert_eq!(first_page_mismatch(&raw, &truth, value), None);
        for bad in [0, 63, 64, 200, 511] {
            let mut wrong = raw.clone();
            wrong[bad] += 1;
            wrong[511] -= (bad != 511) as i32;
            assert_eq!(first_page_mismatch(&wrong, &truth, value), Some(bad));
            // A negative count is wrong too.
            let mut neg = raw.clone();
            neg[bad] = -2;
            assert_eq!(first_page_mismatch(&neg, &truth, value), Some(bad));
        }
        assert_eq!(first_page_mismatch::<i32>(&[], &[], value), None);
    }
}
