//! Where regions go. Every region starts at a multiple of its alignment that is not a
//! multiple of twice the alignment (spec 3.2), and no two regions share a 2 MiB page-table
//! range, so they never touch, never merge and never share a PTE table.

use foliolab_types::{VirtAddr, PMD_SIZE};
use std::collections::BTreeMap;

/// First address handed out.
const BASE: u64 = 0x100_0000_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: VirtAddr,
    pub size_bytes: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Placement {
    cursor: u64,
    regions: BTreeMap<(String, String), Region>,
}

impl Placement {
    /// Places a new region of `proc` and returns its start.
    pub fn place(
        &mut self,
        proc: &str,
        region: &str,
        size_bytes: u64,
        align_bytes: u64,
    ) -> VirtAddr {
        self.place_shifted(proc, region, size_bytes, align_bytes, 0)
    }

    /// As [`Placement::place`], then `shift_bytes` further (the `shift` of `move`).
    pub fn place_shifted(
        &mut self,
        proc: &str,
        region: &str,
        size_bytes: u64,
        align_bytes: u64,
        shift_bytes: u64,
    ) -> VirtAddr {
        let cursor = self.cursor.max(BASE);
        let mut start = cursor.div_ceil(align_bytes) * align_bytes;
        if start.is_multiple_of(2 * align_bytes) {
            start += align_bytes;
        }
        start += shift_bytes;
        let end = start + size_bytes;
        self.cursor = end.div_ceil(PMD_SIZE) * PMD_SIZE + PMD_SIZE;
        let r = Region {
            start: VirtAddr(start),
            size_bytes,
        };
        self.regions
            .insert((proc.to_string(), region.to_string()), r);
        r.start
    }

    /// Defines `region` of `proc` at exactly `start` (a region placed inside a space).
    pub fn define(&mut self, proc: &str, region: &str, start: VirtAddr, size_bytes: u64) {
        let r = Region { start, size_bytes };
        self.regions
            .insert((proc.to_string(), region.to_string()), r);
    }

    pub fn region(&self, proc: &str, region: &str) -> Option<Region> {
        self.regions
            .get(&(proc.to_string(), region.to_string()))
            .copied()
    }

    /// The child gets the parent's region names.
    pub fn fork(&mut self, parent: &str, child: &str) {
        let inherited: Vec<(String, Region)> = self.of(parent).collect();
        for (name, reg) in inherited {
            self.regions.insert((child.to_string(), name), reg);
        }
    }

    /// Regions of `proc` in address order.
    pub fn regions_of(&self, proc: &str) -> Vec<(String, Region)> {
        let mut v: Vec<(String, Region)> = self.of(proc).collect();
        v.sort_by_key(|(_, r)| r.start);
        v
    }

    /// The regions of `proc` by name: a range of the map (keys sort by process first), so a
    /// fork costs the parent's regions, not every process's.
    fn of<'a>(&'a self, proc: &'a str) -> impl Iterator<Item = (String, Region)> + 'a {
        self.regions
            .range((proc.to_string(), String::new())..)
            .take_while(move |((p, _), _)| p == proc)
            .map(|((_, r), reg)| (r.clone(), *reg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_odd_multiples_of_the_alignment_and_never_share_a_pmd() {
        let mut p = Placement::default();
        let a = p.place("p", "a", 128 << 10, 64 << 10);
        let b = p.place("p", "b", 4 << 20, 2 << 20);
        let c = p.place("p", "c", 4096, 4096);
        for (va, al) in [(a, 64u64 << 10), (b, 2 << 20), (c, 4096)] {
            assert_eq!(va.0 % al, 0);
            assert_ne!(va.0 % (2 * al), 0);
        }
        assert!(b.0 / PMD_SIZE > (a.0 + (128 << 10)) / PMD_SIZE);
        assert!(c.0 / PMD_SIZE > (b.0 + (4 << 20) - 1) / PMD_SIZE);
    }
}
