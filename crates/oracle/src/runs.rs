//! Page contents kept by runs, as a program writes them: consecutive pages written with one
//! value by consecutive writes (one `write` statement over a region) are one run, whose
//! page `i` holds the value with tag `first_tag + i`. Lookups, unmaps and moves cost the
//! runs they touch, not the pages.

use foliolab_mem::Content;
use std::collections::BTreeMap;

/// One run: `len` pages from its key, all holding `value`, tagged consecutively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    len: u64,
    value: u64,
    first_tag: u32,
}

/// Per-page contents by page index, stored as runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct PageRuns {
    runs: BTreeMap<u64, Run>,
}

impl PageRuns {
    /// The content of `page`, if written.
    pub(crate) fn get(&self, page: u64) -> Option<Content> {
        let (&start, r) = self.runs.range(..=page).next_back()?;
        (page < start + r.len).then(|| Content {
            value: r.value,
            tag: r.first_tag + (page - start) as u32,
        })
    }

    /// Whether any page of [start, end) is written.
    pub(crate) fn any_in(&self, start: u64, end: u64) -> bool {
        self.get(start).is_some() || self.runs.range(start..end).next().is_some()
    }

    /// Stores `c` at `page`, extending the run that ends just before it when `c` continues it.
    pub(crate) fn insert(&mut self, page: u64, c: Content) {
        self.remove(page, page + 1);
        if let Some((&start, r)) = self.runs.range_mut(..page).next_back() {
            let continues = start + r.len == page
                && r.value == c.value
                && u64::from(r.first_tag) + r.len == u64::from(c.tag);
            if continues {
                r.len += 1;
                return;
            }
        }
        self.runs.insert(
            page,
            Run {
                len: 1,
                value: c.value,
                first_tag: c.tag,
            },
        );
    }

    /// Forgets the pages of [start, end).
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        self.take(start, end);
    }

    /// What [start, end) holds moves to the range starting at `new`, replacing what the
    /// moved pages land on; [start, end) is then unwritten.
    pub(crate) fn move_range(&mut self, start: u64, end: u64, new: u64) {
        for (k, r) in self.take(start, end) {
            let at = k - start + new;
            self.take(at, at + r.len);
            self.runs.insert(at, r);
        }
    }

    /// Removes and returns the runs of [start, end), cut at its bounds.
    fn take(&mut self, start: u64, end: u64) -> Vec<(u64, Run)> {
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
        if page >= start + r.len {
            return;
        }
        let head = page - start;
        self.runs.insert(start, Run { len: head, ..r });
        self.runs.insert(
            page,
            Run {
                len: r.len - head,
                value: r.value,
                first_tag: r.first_tag + head as u32,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain per-page map, on a pseudo-random mix of writes (mostly sequential,
    /// as programs write), removals and moves.
    #[test]
    fn runs_read_like_a_per_page_map() {
        let mut runs = PageRuns::default();
        let mut pages: BTreeMap<u64, Content> = BTreeMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut tag = 0u32;
        for _ in 0..3000 {
            let (a, len, op) = (next(200), 1 + next(40), next(10));
            match op {
                0..=5 => {
                    let value = next(3);
                    for p in a..a + len {
                        tag += 1;
                        let c = Content { value, tag };
                        runs.insert(p, c);
                        pages.insert(p, c);
                    }
                }
                6..=7 => {
                    runs.remove(a, a + len);
                    pages.retain(|p, _| !(a..a + len).contains(p));
                }
                _ => {
                    let new = next(260);
                    runs.move_range(a, a + len, new);
                    let moved: Vec<(u64, Content)> =
                        pages.range(a..a + len).map(|(p, c)| (*p, *c)).collect();
                    for (p, _) in &moved {
                        pages.remove(p);
                    }
                    for (p, c) in moved {
                        pages.insert(p - a + new, c);
                    }
                }
            }
            for p in 0..300 {
                assert_eq!(runs.get(p), pages.get(&p).copied(), "page {p}");
            }
            assert_eq!(
                runs.any_in(a, a + len),
                pages.range(a..a + len).next().is_some()
            );
        }
        assert!(
            runs.runs.len() < pages.len(),
            "sequential writes share runs"
        );
    }
}
