//! Page contents kept by runs, as a program writes them: consecutive pages written with one
//! value by consecutive writes (one `write` statement over a region) are one run, whose
//! page `i` holds the value with tag `first_tag + i`. Lookups, unmaps and moves cost the
//! runs they touch, not the pages.

use crate::run_map::{RunMap, RunValue};
use foliolab_mem::Content;

/// Per-page contents by page index, stored as runs.
pub(crate) type PageRuns = RunMap<Content>;

impl RunValue for Content {
    /// The same value, written by the write `pages` writes later.
    fn advanced(self, pages: u64) -> Content {
        Content {
            value: self.value,
            tag: self.tag + pages as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
                        runs.set(p, c);
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
        assert!(runs.nr_runs() < pages.len(), "sequential writes share runs");
    }
}
