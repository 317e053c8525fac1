//! Spaces: every address an exec lineage (a process and the forks it made, with their
//! forks) ever mapped, grouped into runs whose gaps are below [`GAP`]. Inside a space the
//! distances between mappings are kept exactly, and so is every address modulo 2 MiB, so
//! page-table boundaries and THP alignment fall where they fell.

use crate::walk::{Op, Walked};
use std::collections::BTreeMap;

/// Mappings closer than this share a space.
const GAP: u64 = 1 << 30;
const PMD: u64 = 2 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Space {
    /// Global space number (names `s1`, `s2`, ...).
    pub id: usize,
    pub start: u64,
    pub end: u64,
}

impl Space {
    pub fn shift(&self) -> u64 {
        self.start % PMD
    }
}

pub(crate) struct Layout {
    /// Spaces of each lineage, by start.
    pub spaces: BTreeMap<usize, Vec<Space>>,
}

impl Layout {
    pub fn new(w: &Walked) -> Layout {
        let mut spans: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        for op in &w.ops {
            let (mm, s, l) = match op {
                Op::Map { mm, start, len, .. } => (*mm, *start, *len),
                Op::Move { mm, to, len, .. } => (*mm, *to, *len),
                Op::Grow { mm, at, len, .. } => (*mm, *at, *len),
                _ => continue,
            };
            spans.entry(w.mm_lineage[mm]).or_default().push((s, s + l));
        }
        let mut spaces = BTreeMap::new();
        let mut next = 0;
        for (lineage, mut v) in spans {
            v.sort();
            let mut merged: Vec<Space> = Vec::new();
            for (s, e) in v {
                match merged.last_mut() {
                    Some(last) if s < last.end.saturating_add(GAP) => last.end = last.end.max(e),
                    _ => {
                        next += 1;
                        merged.push(Space {
                            id: next,
                            start: s,
                            end: e,
                        });
                    }
                }
            }
            spaces.insert(lineage, merged);
        }
        Layout { spaces }
    }

    /// The space of `lineage` holding `addr`, and the offset in it.
    pub fn at(&self, lineage: usize, addr: u64) -> Option<(Space, u64)> {
        let v = self.spaces.get(&lineage)?;
        let i = v.partition_point(|s| s.start <= addr);
        let s = v.get(i.checked_sub(1)?)?;
        (addr < s.end || addr == s.start).then_some((*s, addr - s.start))
    }

    pub fn count(&self) -> usize {
        self.spaces.values().map(Vec::len).sum()
    }
}
