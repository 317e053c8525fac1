//! The recorder's view of one address space: which region maps each address, with what
//! protection and kind, split and joined as the traced system calls say.

use foliolab_scenario::Prot;
use std::collections::BTreeMap;

pub(crate) const PAGE: u64 = 4096;

/// What a piece maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PieceKind {
    Anon,
    Shmem,
    /// A file (index into the recording's files) from page `pgoff` at the piece's start.
    File {
        file: usize,
        shared: bool,
        pgoff: u64,
    },
}

/// A maximal run of pages of one region with one protection and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub end: u64,
    pub region: usize,
    /// The address of the region's offset 0.
    pub region_start: u64,
    pub prot: Prot,
    pub kind: PieceKind,
    pub dontfork: bool,
    pub wipeonfork: bool,
    /// Part of a stack: faults just below it grow it.
    pub stack: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Vmas {
    pieces: BTreeMap<u64, Piece>,
}

impl Vmas {
    pub fn find(&self, addr: u64) -> Option<(u64, Piece)> {
        let (s, p) = self.pieces.range(..=addr).next_back()?;
        (addr < p.end).then_some((*s, *p))
    }

    /// A boundary at `addr` (the piece across it is cut in two).
    fn split_at(&mut self, addr: u64) {
        let Some((s, p)) = self.find(addr) else {
            return;
        };
        if s == addr {
            return;
        }
        let mut hi = p;
        if let PieceKind::File {
            file,
            shared,
            pgoff,
        } = p.kind
        {
            hi.kind = PieceKind::File {
                file,
                shared,
                pgoff: pgoff + (addr - s) / PAGE,
            };
        }
        if let Some(lo) = self.pieces.get_mut(&s) {
            lo.end = addr;
        }
        self.pieces.insert(addr, hi);
    }

    /// The pieces inside [start, end), clipped, in address order.
    pub fn pieces_in(&self, start: u64, end: u64) -> Vec<(u64, u64, Piece)> {
        let mut out = Vec::new();
        let first = self.find(start).map_or(start, |(s, _)| s);
        for (s, p) in self.pieces.range(first..end) {
            let (a, b) = ((*s).max(start), p.end.min(end));
            if a < b {
                out.push((a, b, *p));
            }
        }
        out
    }

    /// Removes [start, end) and returns what was there.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<(u64, u64, Piece)> {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.pieces.range(start..end).map(|(s, _)| *s).collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(p) = self.pieces.remove(&k) {
                out.push((k, p.end, p));
            }
        }
        out
    }

    pub fn insert(&mut self, start: u64, piece: Piece) {
        self.pieces.insert(start, piece);
    }

    /// Applies `f` to every piece inside [start, end), split at the bounds first.
    pub fn modify(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Piece)) {
        self.split_at(start);
        self.split_at(end);
        for (_, p) in self.pieces.range_mut(start..end) {
            f(p);
        }
    }

    /// The address space a fork gives the child: MADV_DONTFORK pieces are holes there.
    pub fn forked(&self) -> Vmas {
        let pieces = self
            .pieces
            .iter()
            .filter(|(_, p)| !p.dontfork)
            .map(|(s, p)| (*s, *p))
            .collect();
        Vmas { pieces }
    }

    /// The lowest start of a stack piece.
    pub fn stack_bottom(&self) -> Option<u64> {
        self.pieces.iter().find(|(_, p)| p.stack).map(|(s, _)| *s)
    }

    /// Whether nothing is mapped in [start, end).
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.pieces_in(start, end).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(end: u64, region: usize) -> Piece {
        Piece {
            end,
            region,
            region_start: 0x10000,
            prot: Prot::Rw,
            kind: PieceKind::File {
                file: 0,
                shared: false,
                pgoff: 0,
            },
            dontfork: false,
            wipeonfork: false,
            stack: false,
        }
    }

    #[test]
    fn split_remove_modify() {
        let mut v = Vmas::default();
        v.insert(0x10000, piece(0x20000, 1));
        v.modify(0x12000, 0x14000, |p| p.prot = Prot::R);
        let ps = v.pieces_in(0, u64::MAX);
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[1].2.prot, Prot::R);
        assert!(matches!(ps[1].2.kind, PieceKind::File { pgoff: 2, .. }));
        let gone = v.remove(0x13000, 0x18000);
        assert_eq!(gone.iter().map(|g| g.1 - g.0).sum::<u64>(), 0x5000);
        assert!(v.find(0x13000).is_none());
        assert_eq!(v.find(0x18000).map(|f| f.0), Some(0x18000));
        assert!(v.is_free(0x13000, 0x18000));
        assert!(!v.is_free(0x12000, 0x13001));
    }
}
