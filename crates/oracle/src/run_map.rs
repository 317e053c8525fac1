//! [`RunMap`]: per-page values kept as runs of consecutive pages, keyed by their first page
//! index, where page `i` of a run holds the run's first value advanced by `i` pages (a
//! write tag, a file page index). Lookups, removals and moves cost the runs they touch, not
//! the pages. The oracle keeps page contents ([`crate::runs`]) and file bindings
//! ([`crate::bindings`]) in it.

use std::collections::BTreeMap;

/// A value a run of pages holds: what its page `pages` pages on from the first holds.
pub(crate) trait RunValue: Copy {
    fn advanced(self, pages: u64) -> Self;
}

/// One run: `len` pages from its key, the first holding `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run<V> {
    len: u64,
    first: V,
}

/// Non-overlapping runs of pages, keyed by their first page index.
#[derive(Clone, Debug)]
pub(crate) struct RunMap<V> {
    runs: BTreeMap<u64, Run<V>>,
}

impl<V> Default for RunMap<V> {
    fn default() -> Self {
        RunMap {
            runs: BTreeMap::new(),
        }
    }
}

impl<V: RunValue> RunMap<V> {
    /// What `page` holds, if a run covers it.
    pub(crate) fn get(&self, page: u64) -> Option<V> {
        let (&start, r) = self.runs.range(..=page).next_back()?;
        (page < start + r.len).then(|| r.first.advanced(page - start))
    }

    /// Whether a run covers any page of [start, end).
    pub(crate) fn any_in(&self, start: u64, end: u64) -> bool {
        self.get(start).is_some() || self.runs.range(start..end).next().is_some()
    }

    /// Pages [start, start + len) hold `first` on, replacing what they held.
    pub(crate) fn insert(&mut self, start: u64, len: u64, first: V) {
        self.remove(start, start + len);
        if len > 0 {
            self.runs.insert(start, Run { len, first });
        }
    }

    /// Stores `v` at `page`, extending the run that ends just before it when `v` continues
    /// it (is its first value advanced by its length: the next write of one `write`
    /// statement over a region).
    pub(crate) fn set(&mut self, page: u64, v: V)
    where
        V: PartialEq,
    {
        self.remove(page, page + 1);
        if let Some((&start, r)) = self.runs.range_mut(..page).next_back() {
            if start + r.len == page && r.first.advanced(r.len) == v {
                r.len += 1;
                return;
            }
        }
        self.runs.insert(page, Run { len: 1, first: v });
    }

    /// Forgets the pages of [start, end).
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        self.take(start, end);
    }

    /// What [start, end) holds moves to the range starting at `new`, replacing what the
    /// moved pages land on; [start, end) then holds nothing.
    pub(crate) fn move_range(&mut self, start: u64, end: u64, new: u64) {
        for (k, r) in self.take(start, end) {
            let at = k - start + new;
            self.take(at, at + r.len);
            self.runs.insert(at, r);
        }
    }

    /// How many runs there are (tests: that runs are shared).
    #[cfg(test)]
    pub(crate) fn nr_runs(&self) -> usize {
        self.runs.len()
    }

    /// Removes and returns the runs of [start, end), cut at its bounds.
    fn take(&mut self, start: u64, end: u64) -> Vec<(u64, Run<V>)> {
        if start >= end {
            return Vec::new();
        }
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.runs.range(start..end).map(|(k, _)| *k).collect();
        keys.into_iter()
            .filter_map(|k| self.runs.remove(&k).map(|r| (k, r)))
            .collect()
    }

    /// Cuts the run covering `page` (if it starts before it) so that a run starts there.
    fn split_at(&mut self, page: u64) {
        let Some((&start, &r)) = self.runs.range(..page).next_back() else {
            return;
        };
        if page < start + r.len {
            let head = page - start;
            self.runs.insert(start, Run { len: head, ..r });
            let tail = Run {
                len: r.len - head,
                first: r.first.advanced(head),
            };
            self.runs.insert(page, tail);
        }
    }
}
