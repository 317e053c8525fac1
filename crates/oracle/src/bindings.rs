//! Which file page each page of a process's file mappings shows, kept as runs of pages (one
//! entry per mapping, split where part of it is unmapped or moved), so a mapping costs the
//! same whatever its size.

use crate::expected::Binding;
use std::collections::BTreeMap;

/// Pages `[start, end)` (by page index) show `file` from page `first_index` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    end: u64,
    file: u32,
    first_index: u64,
    shared: bool,
}

impl Run {
    /// The part of the run from page `at` (inside it) on.
    fn tail(self, start: u64, at: u64) -> Run {
        Run {
            first_index: self.first_index + (at - start),
            ..self
        }
    }
}

/// Non-overlapping runs of file-backed pages, keyed by their first page index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bindings {
    runs: BTreeMap<u64, Run>,
}

impl Bindings {
    /// The binding of page `page`, if a run covers it.
    pub fn get(&self, page: u64) -> Option<Binding> {
        let (&start, run) = self.runs.range(..=page).next_back()?;
        (page < run.end).then(|| Binding {
            file: run.file,
            index: run.first_index + (page - start),
            shared: run.shared,
        })
    }

    /// Pages `[start, end)` show `file` from `first_index` on, replacing what they showed.
    pub fn map(&mut self, start: u64, end: u64, file: u32, first_index: u64, shared: bool) {
        self.remove(start, end);
        if start < end {
            let run = Run {
                end,
                file,
                first_index,
                shared,
            };
            self.runs.insert(start, run);
        }
    }

    /// Pages `[start, end)` show nothing any more.
    pub fn remove(&mut self, start: u64, end: u64) {
        self.take(start, end);
    }

    /// Pages `[start, end)` move to start at `new` (mremap to a free range).
    pub fn shift(&mut self, start: u64, end: u64, new: u64) {
        for (s, run) in self.take(start, end) {
            let moved = Run {
                end: run.end - start + new,
                ..run
            };
            self.runs.insert(s - start + new, moved);
        }
    }

    /// Removes and returns the runs inside `[start, end)`, splitting those that cross it.
    fn take(&mut self, start: u64, end: u64) -> Vec<(u64, Run)> {
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

    /// Splits the run covering page `at` (if it starts before it) in two at `at`.
    fn split_at(&mut self, at: u64) {
        let Some((&s, &run)) = self.runs.range(..at).next_back() else {
            return;
        };
        if run.end > at {
            self.runs.insert(s, Run { end: at, ..run });
            self.runs.insert(at, run.tail(s, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(b: &Bindings, page: u64) -> Option<u64> {
        b.get(page).map(|b| b.index)
    }

    #[test]
    fn a_huge_mapping_is_one_run() {
        let mut b = Bindings::default();
        b.map(1 << 30, 1 << 40, 3, 0, true);
        assert_eq!(b.runs.len(), 1);
        assert_eq!(index(&b, (1 << 30) + 5), Some(5));
        assert_eq!(index(&b, 1 << 40), None);
    }

    #[test]
    fn holes_and_moves_split_runs() {
        let mut b = Bindings::default();
        b.map(10, 20, 1, 100, false);
        b.remove(12, 14);
        assert_eq!(index(&b, 11), Some(101));
        assert_eq!(index(&b, 12), None);
        assert_eq!(index(&b, 14), Some(104));
        b.shift(15, 18, 50);
        assert_eq!(index(&b, 15), None);
        assert_eq!(index(&b, 50), Some(105));
        assert_eq!(index(&b, 52), Some(107));
        assert_eq!(index(&b, 53), None);
        assert_eq!(index(&b, 18), Some(108));
        b.map(11, 19, 2, 0, true);
        assert_eq!(b.get(11).map(|x| (x.file, x.index)), Some((2, 0)));
        assert_eq!(index(&b, 10), Some(100));
        assert_eq!(index(&b, 19), Some(109));
    }
}
