//! Virtual memory areas: split where an operation changes part of one, merged with equal
//! neighbours afterwards, as `vma_modify` and `vma_merge` do.

use foliolab_types::{VirtAddr, VmaId, PAGE_SIZE};
use std::collections::BTreeMap;

/// `vm_flags` bits the model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmFlags(pub u32);

impl VmFlags {
    pub const READ: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const EXEC: u32 = 1 << 2;
    pub const SHARED: u32 = 1 << 3;
    pub const HUGEPAGE: u32 = 1 << 4;
    pub const NOHUGEPAGE: u32 = 1 << 5;
    pub const DONTCOPY: u32 = 1 << 6;
    pub const WIPEONFORK: u32 = 1 << 7;
    pub const LOCKED: u32 = 1 << 8;
    pub const MIXEDMAP: u32 = 1 << 9;
    pub const PFNMAP: u32 = 1 << 10;
    /// `VM_ACCOUNT`: a private writable mapping charged to the commit limit
    /// (`accountable_mapping`); mprotect adds it when it makes a private mapping writable
    /// and never removes it. It only matters for merging: VMAs that differ in it stay apart.
    pub const ACCOUNT: u32 = 1 << 11;
    /// A fork child's VMA with an anon_vma: its anon_vma_chain also links the parent's
    /// (`vma_had_uncowed_parents`), so 6.18 refuses to merge it with a VMA of another
    /// anon_vma or of none (`is_mergeable_anon_vma`). Pieces of it still merge together.
    pub const FORKED_ANON: u32 = 1 << 12;
    pub const PROT_MASK: u32 = Self::READ | Self::WRITE | Self::EXEC;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn with(self, bit: u32, on: bool) -> VmFlags {
        if on {
            VmFlags(self.0 | bit)
        } else {
            VmFlags(self.0 & !bit)
        }
    }
}

/// What backs a VMA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Anon,
    Shmem,
    File { file: u32, shared: bool },
    DriverMixedmap,
    DriverPfnmap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub flags: VmFlags,
    pub kind: VmaKind,
    /// anon_vma id (0: none yet; assigned on the first anonymous fault).
    pub anon_vma: u32,
    /// `vm_pgoff`: page offset of `start` (for anon VMAs, `start >> PAGE_SHIFT` at creation).
    pub pgoff: u64,
    /// Identity, assigned by the [`VmaSet`] that holds it (a fresh one at insertion and for
    /// the upper piece of a split; kept by the lower piece and by the VMA a merge extends).
    pub id: VmaId,
}

impl Vma {
    pub fn len_bytes(&self) -> u64 {
        self.end.0 - self.start.0
    }
    pub fn contains(&self, va: VirtAddr) -> bool {
        va >= self.start && va < self.end
    }
    pub fn is_anon(&self) -> bool {
        matches!(self.kind, VmaKind::Anon)
    }
    /// Whether `next` can merge onto the end of `self`.
    fn can_merge_with(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.flags == next.flags
            && self.kind == next.kind
            && (self.anon_vma == 0 || next.anon_vma == 0 || self.anon_vma == next.anon_vma)
            && self.pgoff + self.len_bytes() / PAGE_SIZE == next.pgoff
    }
}

/// A process's VMAs, keyed by start address.
#[derive(Clone, Debug, Default)]
pub struct VmaSet {
    vmas: BTreeMap<u64, Vma>,
    /// VMA ids are `owner << 32 | n`, n counting from 1: unique across the sets of one
    /// model when each has its own owner.
    owner: u32,
    /// The last n handed out.
    last_id: u32,
    /// Changed since the runner last cleared it (see [`crate::dirty`]).
    pub touched: bool,
}

impl VmaSet {
    /// An empty set whose VMA ids no set of another owner gives.
    pub fn owned_by(owner: u32) -> VmaSet {
        VmaSet {
            owner,
            ..VmaSet::default()
        }
    }

    fn new_id(&mut self) -> VmaId {
        self.last_id += 1;
        VmaId((self.owner as u64) << 32 | self.last_id as u64)
    }

    /// Inserts a new VMA, under a fresh id (whatever `vma.id` said).
    pub fn insert(&mut self, mut vma: Vma) {
        self.touched = true;
        assert!(vma.start < vma.end);
        assert!(
            self.overlapping(vma.start, vma.end).is_empty(),
            "overlapping VMA {vma:?}"
        );
        vma.id = self.new_id();
        self.vmas.insert(vma.start.0, vma);
    }

    pub fn find(&self, va: VirtAddr) -> Option<&Vma> {
        self.vmas
            .range(..=va.0)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.contains(va))
    }

    pub fn find_mut(&mut self, va: VirtAddr) -> Option<&mut Vma> {
        self.touched = true;
        self.vmas
            .range_mut(..=va.0)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.contains(va))
    }

    /// VMAs intersecting [start, end), in address order (clones).
    pub fn overlapping(&self, start: VirtAddr, end: VirtAddr) -> Vec<Vma> {
        let first = self
            .vmas
            .range(..=start.0)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start.0);
        self.vmas
            .range(first..end.0)
            .map(|(_, v)| v)
            .filter(|v| v.end > start)
            .cloned()
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Splits VMAs so that `start` and `end` are VMA boundaries (or outside any VMA).
    pub fn split_at_bounds(&mut self, start: VirtAddr, end: VirtAddr) {
        self.split_at(start);
        self.split_at(end);
    }

    fn split_at(&mut self, at: VirtAddr) {
        self.touched = true;
        let Some(v) = self.find(at).cloned() else {
            return;
        };
        if v.start == at {
            return;
        }
        let mut hi = v.clone();
        hi.pgoff = v.pgoff + (at.0 - v.start.0) / PAGE_SIZE;
        hi.start = at;
        hi.id = self.new_id();
        self.vmas.get_mut(&v.start.0).expect("vma").end = at;
        self.vmas.insert(at.0, hi);
    }

    /// Removes [start, end) from the set (after splitting at the bounds).
    pub fn remove_range(&mut self, start: VirtAddr, end: VirtAddr) -> Vec<Vma> {
        self.touched = true;
        self.split_at_bounds(start, end);
        let keys: Vec<u64> = self.vmas.range(start.0..end.0).map(|(k, _)| *k).collect();
        keys.into_iter()
            .filter_map(|k| self.vmas.remove(&k))
            .collect()
    }

    /// Applies `f` to every VMA piece inside [start, end), splitting first, then merges.
    pub fn modify(&mut self, start: VirtAddr, end: VirtAddr, mut f: impl FnMut(&mut Vma)) {
        self.touched = true;
        self.split_at_bounds(start, end);
        for (_, v) in self.vmas.range_mut(start.0..end.0) {
            f(v);
        }
        self.merge_around(start, end);
    }

    /// Merges neighbours that became equal inside and at the edges of [start, end].
    pub fn merge_around(&mut self, start: VirtAddr, end: VirtAddr) {
        self.touched = true;
        let lo = self
            .vmas
            .range(..start.0)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start.0);
        let keys: Vec<u64> = self.vmas.range(lo..=end.0).map(|(k, _)| *k).collect();
        let mut cur = None::<u64>;
        for k in keys {
            if let Some(c) = cur {
                let next = self.vmas[&k].clone();
                let prev = self.vmas.get_mut(&c).expect("vma");
                if prev.can_merge_with(&next) {
                    prev.end = next.end;
                    if prev.anon_vma == 0 {
                        prev.anon_vma = next.anon_vma;
                    }
                    self.vmas.remove(&k);
                    continue;
                }
            }
            cur = Some(k);
        }
    }

    pub fn len(&self) -> usize {
        self.vmas.len()
    }
    pub fn is_empty(&self) -> bool {
        self.vmas.is_empty()
    }

    /// VMAs are non-empty, page aligned and do not overlap.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut last_end = 0u64;
        for v in self.vmas.values() {
            if v.start >= v.end || v.start.0 % PAGE_SIZE != 0 || v.end.0 % PAGE_SIZE != 0 {
                return Err(format!("malformed VMA {v:?}"));
            }
            if v.start.0 < last_end {
                return Err(format!("overlapping VMA {v:?}"));
            }
            last_end = v.end.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64) -> Vma {
        Vma {
            start: VirtAddr(start),
            end: VirtAddr(end),
            flags: VmFlags(VmFlags::READ | VmFlags::WRITE),
            kind: VmaKind::Anon,
            anon_vma: 1,
            pgoff: start / PAGE_SIZE,
            id: VmaId::NONE,
        }
    }

    #[test]
    fn modify_splits_then_merges_back() {
        let mut s = VmaSet::default();
        s.insert(anon(0x10000, 0x20000));
        s.modify(VirtAddr(0x14000), VirtAddr(0x18000), |v| {
            v.flags = v.flags.with(VmFlags::WRITE, false)
        });
        assert_eq!(s.len(), 3);
        s.check_invariants().unwrap();
        s.modify(VirtAddr(0x14000), VirtAddr(0x18000), |v| {
            v.flags = v.flags.with(VmFlags::WRITE, true)
        });
        assert_eq!(s.len(), 1);
        assert_eq!(s.find(VirtAddr(0x1f000)).unwrap().start, VirtAddr(0x10000));
    }

    #[test]
    fn a_split_gives_the_upper_pieces_new_ids_and_a_merge_keeps_the_lower_one() {
        let mut s = VmaSet::owned_by(3);
        s.insert(anon(0x10000, 0x20000));
        let id = |s: &VmaSet, va: u64| s.find(VirtAddr(va)).unwrap().id;
        let first = id(&s, 0x10000);
        assert_eq!(first, VmaId(3 << 32 | 1));
        s.modify(VirtAddr(0x14000), VirtAddr(0x18000), |v| {
            v.flags = v.flags.with(VmFlags::WRITE, false)
        });
        let ids = [id(&s, 0x10000), id(&s, 0x14000), id(&s, 0x18000)];
        assert_eq!(ids[0], first);
        assert!(ids[1] != first && ids[2] != first && ids[1] != ids[2]);
        s.modify(VirtAddr(0x14000), VirtAddr(0x18000), |v| {
            v.flags = v.flags.with(VmFlags::WRITE, true)
        });
        assert_eq!(id(&s, 0x1f000), first);
        let mut other = VmaSet::owned_by(4);
        other.insert(anon(0x10000, 0x20000));
        assert!(id(&other, 0x10000) != first, "ids differ across owners");
    }

    #[test]
    fn remove_range_leaves_a_hole() {
        let mut s = VmaSet::default();
        s.insert(anon(0x10000, 0x20000));
        let gone = s.remove_range(VirtAddr(0x12000), VirtAddr(0x13000));
        assert_eq!(gone.len(), 1);
        assert!(s.find(VirtAddr(0x12000)).is_none());
        assert_eq!(s.len(), 2);
        assert_eq!(s.find(VirtAddr(0x13000)).unwrap().pgoff, 0x13);
    }
}
