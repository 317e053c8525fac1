//! Page contents in 4 bytes per page. A scenario can write or read only the first 64 bits of
//! a page, and every write has an id (its tag, counted from 1 by whoever writes: the runner's
//! expected memory, the explorer): a page holds the value of the write that stored it. One
//! `write` statement stores one value with consecutive tags, so the model keeps per page only
//! the tag, and the values once per run of tags, as a table of the first tag of each run.
//!
//! What does not fit that shape is still exact: a page that reads zero although its tag was
//! written with another value (a swap-in from the zeromap keeps the writer's tag) has a bit
//! of its own; a (value, tag) pair that contradicts the table, or a tag beyond 30 bits, is
//! kept in a side map by PFN.

use foliolab_types::{Pfn, PfnArray};
use std::collections::BTreeMap;

/// What one base page holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Content {
    pub value: u64,
    /// 0: never written since allocation (zero-filled); otherwise the id of the write.
    pub tag: u32,
}

/// Stored word: the tag in bits 0..=29, [`READS_ZERO`] and [`ASIDE`] above; 0 is a page
/// never written since allocation.
const TAG_MASK: u32 = (1 << 30) - 1;
/// The page reads 0 whatever its tag's run holds.
const READS_ZERO: u32 = 1 << 30;
/// The page's content is in `aside`.
const ASIDE: u32 = 1 << 31;

/// Every page's content.
#[derive(Clone, Debug)]
pub struct Contents {
    /// By PFN: the stored word (tag and bits).
    words: PfnArray<u32>,
    /// Runs of tags, in tag order: `(first_tag, value)`; a run ends where the next begins.
    runs: Vec<(u32, u64)>,
    /// Contents the words cannot describe, by PFN.
    aside: BTreeMap<u64, Content>,
    /// The largest tag stored so far: a run may begin only beyond it.
    max_tag: u32,
}

impl Contents {
    pub fn new(nr_pages: u64) -> Contents {
        Contents {
            words: PfnArray::new(nr_pages),
            runs: Vec::new(),
            aside: BTreeMap::new(),
            max_tag: 0,
        }
    }

    /// The value tag `tag` was written with, by the runs (`None` before the first run).
    #[inline]
    fn run_value(&self, tag: u32) -> Option<u64> {
        let i = self.runs.partition_point(|&(first, _)| first <= tag);
        Some(self.runs[i.checked_sub(1)?].1)
    }

    #[inline]
    pub fn get(&self, pfn: Pfn) -> Content {
        let w = *self.words.get(pfn);
        if w & ASIDE != 0 {
            return self.aside[&pfn.0];
        }
        let tag = w & TAG_MASK;
        let value = if tag == 0 || w & READS_ZERO != 0 {
            0
        } else {
            self.run_value(tag).expect("a stored tag has a run")
        };
        Content { value, tag }
    }

    #[inline]
    pub fn set(&mut self, pfn: Pfn, c: Content) {
        let w = self.encode(c);
        let old = std::mem::replace(self.words.get_mut(pfn), w);
        if old & ASIDE != 0 {
            self.aside.remove(&pfn.0);
        }
        if w & ASIDE != 0 {
            self.aside.insert(pfn.0, c);
        }
    }

    /// `nr` pages from `pfn` (in one memmap section) hold zeros, never written.
    pub fn clear(&mut self, pfn: Pfn, nr: usize) {
        self.words.range_mut(pfn, nr).fill(0);
        if !self.aside.is_empty() {
            let end = pfn.0 + nr as u64;
            let keys: Vec<u64> = self.aside.range(pfn.0..end).map(|(k, _)| *k).collect();
            for k in keys {
                self.aside.remove(&k);
            }
        }
    }

    /// The stored word for `c`, opening a run for a tag beyond every run so far.
    fn encode(&mut self, c: Content) -> u32 {
        if c.tag == 0 {
            return if c.value == 0 { 0 } else { ASIDE };
        }
        if c.tag > TAG_MASK {
            return ASIDE;
        }
        let run = self.run_value(c.tag);
        let word = match run {
            Some(v) if v == c.value => c.tag,
            Some(_) if c.value == 0 => c.tag | READS_ZERO,
            // A new run begins at a tag beyond every stored one (no stored tag changes run).
            _ if c.tag > self.max_tag => {
                self.runs.push((c.tag, c.value));
                c.tag
            }
            _ => return ASIDE,
        };
        self.max_tag = self.max_tag.max(c.tag);
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain per-page map, on writes in runs (as `write` statements store them),
    /// copies of old contents, zero reads of written tags and out-of-order tags.
    #[test]
    fn contents_read_back_as_written() {
        let mut c = Contents::new(1 << 16);
        let mut plain = BTreeMap::new();
        let mut put = |c: &mut Contents, pfn: u64, v: Content| {
            c.set(Pfn(pfn), v);
            plain.insert(pfn, v);
        };
        let mut tag = 0;
        for (start, value) in [(0u64, 5u64), (100, 7), (50, 5), (0, 0)] {
            for p in start..start + 80 {
                tag += 1;
                put(&mut c, p, Content { value, tag });
            }
        }
        let old = c.get(Pfn(10));
        put(&mut c, 300, old);
        put(&mut c, 301, Content { value: 0, tag: 3 });
        put(&mut c, 302, Content { value: 9, tag: 3 });
        put(&mut c, 303, Content { value: 4, tag: 0 });
        put(
            &mut c,
            304,
            Content {
                value: 4,
                tag: 1 << 31,
            },
        );
        // A tag below the largest stored one, first seen with a new value.
        put(
            &mut c,
            305,
            Content {
                value: 11,
                tag: tag - 5,
            },
        );
        put(&mut c, 303, Content::default());
        c.clear(Pfn(302), 2);
        plain.insert(302, Content::default());
        plain.insert(303, Content::default());
        for p in 0..1000 {
            assert_eq!(
                c.get(Pfn(p)),
                plain.get(&p).copied().unwrap_or_default(),
                "pfn {p}"
            );
        }
        assert_eq!(
            c.aside.len(),
            2,
            "only the contradicting pairs are kept aside"
        );
    }
}
