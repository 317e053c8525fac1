//! The traced system calls, as changes to the recorder's view of an address space.

use crate::convert::{
    is_err, MAP_ANONYMOUS, MAP_HUGETLB, MAP_LOCKED, MAP_POPULATE, MAP_SHARED_MASK,
};
use crate::event::Syscall;
use crate::resolve::Backing;
use crate::vmas::{PieceKind, PAGE};
use crate::walk::{prot_of, Loc, Op, Walker};
use foliolab_scenario::{Advice, Prot};

const MREMAP_DONTUNMAP: u64 = 4;
const SHM_RDONLY: u64 = 0o10000;

fn page_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

fn prot_bits(p: u64) -> Prot {
    prot_of(p & 1 != 0, p & 2 != 0, p & 4 != 0)
}

/// The scenario advice for a madvise `behavior`; `None` for advice a scenario has no
/// counterpart for.
fn advice(behavior: u64) -> Option<Advice> {
    Some(match behavior {
        3 => Advice::Willneed,
        4 | 24 => Advice::Dontneed,
        8 => Advice::Free,
        10 => Advice::Dontfork,
        11 => Advice::Dofork,
        14 => Advice::Hugepage,
        15 => Advice::Nohugepage,
        18 => Advice::Wipeonfork,
        19 => Advice::Keeponfork,
        20 => Advice::Cold,
        21 => Advice::Pageout,
        22 => Advice::PopulateRead,
        23 => Advice::PopulateWrite,
        25 => Advice::Collapse,
        _ => return None,
    })
}

impl Walker<'_> {
    pub(crate) fn syscall(&mut self, idx: usize, mm: usize, c: Syscall, a: [u64; 6], ret: i64) {
        self.out.summary.syscalls += 1;
        if is_err(ret) {
            self.out.summary.syscalls_failed += 1;
            return;
        }
        match c {
            Syscall::Mmap => self.mmap(idx, mm, a, ret as u64),
            Syscall::Munmap => self.unmap(mm, a[0], a[0] + page_up(a[1])),
            Syscall::Mprotect => self.mprotect(mm, a[0], a[0] + page_up(a[1]), prot_bits(a[2])),
            Syscall::Madvise => self.madvise(mm, a[0], a[0] + page_up(a[1]), a[2]),
            Syscall::Brk => self.brk(mm, ret as u64),
            Syscall::Mremap => self.mremap(mm, a, ret as u64),
            Syscall::Shmat => self.shmat(idx, mm, a, ret as u64),
            Syscall::Shmdt => self.shmdt(mm, a[0]),
            _ => {}
        }
    }

    fn mmap(&mut self, idx: usize, mm: usize, a: [u64; 6], start: u64) {
        let (len, prot, flags, off) = (page_up(a[1]), prot_bits(a[2]), a[3], a[5]);
        let shared = flags & MAP_SHARED_MASK != 2;
        if flags & MAP_HUGETLB != 0 {
            self.out.summary.hugetlb += 1;
        }
        let (kind, note) = if flags & MAP_ANONYMOUS != 0 {
            (
                if shared {
                    PieceKind::Shmem
                } else {
                    PieceKind::Anon
                },
                "anon".to_string(),
            )
        } else {
            let b = self.res.event_backing(idx);
            match &b {
                Backing::Zero if shared => (PieceKind::Shmem, "/dev/zero".into()),
                Backing::Zero => (PieceKind::Anon, "/dev/zero".into()),
                Backing::Device(path) => {
                    self.out.summary.devices += 1;
                    let _ = path;
                    self.unmap(mm, start, start + len);
                    return;
                }
                Backing::File { .. } | Backing::Unknown => {
                    let note = match &b {
                        Backing::File { path, .. } => path.clone(),
                        _ => "(unknown file)".into(),
                    };
                    let file = self.file(&b, off + len);
                    let pgoff = off / PAGE;
                    (
                        PieceKind::File {
                            file,
                            shared,
                            pgoff,
                        },
                        note,
                    )
                }
            }
        };
        let region = self.map(mm, start, len, kind, prot, &note);
        if flags & (MAP_POPULATE | MAP_LOCKED) != 0 {
            let write = !shared && prot.writable();
            let advice = if write {
                Advice::PopulateWrite
            } else {
                Advice::PopulateRead
            };
            self.out.ops.push(Op::Advise {
                mm,
                region,
                off: 0,
                len,
                advice,
            });
        }
    }

    fn mprotect(&mut self, mm: usize, start: u64, end: u64, prot: Prot) {
        for (s, e, p) in self.vmas[mm].pieces_in(start, end) {
            self.out.ops.push(Op::Protect {
                mm,
                region: p.region,
                off: s - p.region_start,
                len: e - s,
                prot,
            });
        }
        self.vmas[mm].modify(start, end, |p| p.prot = prot);
    }

    fn madvise(&mut self, mm: usize, start: u64, end: u64, behavior: u64) {
        let Some(adv) = advice(behavior) else {
            self.out.summary.advice_ignored += 1;
            return;
        };
        for (s, e, p) in self.vmas[mm].pieces_in(start, end) {
            self.out.ops.push(Op::Advise {
                mm,
                region: p.region,
                off: s - p.region_start,
                len: e - s,
                advice: adv,
            });
        }
        let flag = match adv {
            Advice::Dontfork => Some((true, None)),
            Advice::Dofork => Some((false, None)),
            Advice::Wipeonfork => Some((false, Some(true))),
            Advice::Keeponfork => Some((false, Some(false))),
            _ => None,
        };
        if let Some((dontfork, wipe)) = flag {
            self.vmas[mm].modify(start, end, |p| match wipe {
                None => p.dontfork = dontfork,
                Some(w) => p.wipeonfork = w,
            });
        }
    }

    /// `brk` returned the break now: the heap grows by a region placed against it, or
    /// its tail is unmapped.
    fn brk(&mut self, mm: usize, brk: u64) {
        let new_end = page_up(brk);
        let Some((start, end)) = self.brk[mm] else {
            self.brk[mm] = Some((new_end, new_end));
            return;
        };
        if new_end > end {
            let r = self.map(mm, end, new_end - end, PieceKind::Anon, Prot::Rw, "brk");
            let _ = r;
        } else if new_end < end {
            self.unmap(mm, new_end.max(start), end);
        }
        self.brk[mm] = Some((start, new_end.max(start)));
    }

    fn mremap(&mut self, mm: usize, a: [u64; 6], to: u64) {
        let (addr, old_len, new_len, flags) = (a[0], page_up(a[1]), page_up(a[2]), a[3]);
        if old_len == 0 {
            self.out.summary.advice_ignored += 1;
            return;
        }
        if new_len < old_len {
            self.unmap(mm, addr + new_len, addr + old_len);
        }
        let kept = old_len.min(new_len);
        if to != addr {
            self.move_range(mm, addr, kept, to);
            if flags & MREMAP_DONTUNMAP != 0 {
                self.map(
                    mm,
                    addr,
                    kept,
                    PieceKind::Anon,
                    Prot::Rw,
                    "mremap dontunmap",
                );
            }
        }
        if new_len > old_len {
            self.extend(mm, to + kept, new_len - kept);
        }
    }

    /// mremap of [from, from+len) to `to`.
    fn move_range(&mut self, mm: usize, from: u64, len: u64, to: u64) {
        let pieces = self.vmas[mm].pieces_in(from, from + len);
        let Some(first) = pieces.first().map(|p| p.2) else {
            return;
        };
        let one_region = pieces.iter().all(|p| p.2.region == first.region);
        let loc = if one_region {
            Loc::Region {
                region: first.region,
                off: from - first.region_start,
            }
        } else {
            Loc::Abs(from)
        };
        self.unmap(mm, to, to + len);
        self.vmas[mm].remove(from, from + len);
        let region = self.out.region_notes.len();
        let note = format!("mremap of {}", self.out.region_notes[first.region]);
        self.out.region_notes.push(note);
        self.out.region_ends.push(to + len);
        self.out.summary.regions += 1;
        for (s, e, mut p) in pieces {
            p.end = to + (e - from);
            p.region = region;
            p.region_start = to;
            self.vmas[mm].insert(to + (s - from), p);
        }
        self.out.ops.push(Op::Move {
            mm,
            from: loc,
            len,
            region,
            to,
        });
    }

    /// Growth in place after [.., at): a region of the same kind placed against it.
    fn extend(&mut self, mm: usize, at: u64, len: u64) {
        let Some((s, p)) = self.vmas[mm].find(at - PAGE) else {
            return;
        };
        let kind = match p.kind {
            PieceKind::File {
                file,
                shared,
                pgoff,
            } => PieceKind::File {
                file,
                shared,
                pgoff: pgoff + (at - s) / PAGE,
            },
            k => k,
        };
        if let PieceKind::File { file, pgoff, .. } = kind {
            let f = &mut self.out.files[file];
            f.size = f.size.max((pgoff * PAGE + len).div_ceil(PAGE) * PAGE);
        }
        if self.out.region_ends[p.region] == at && self.vmas[mm].is_free(at, at + len) {
            // In place, as mremap's vma_expand does: the same VMA, its offset continued.
            let mut grown = p;
            grown.end = at + len;
            grown.kind = kind;
            self.vmas[mm].insert(at, grown);
            self.out.region_ends[p.region] = at + len;
            let region = p.region;
            self.out.ops.push(Op::Grow {
                mm,
                region,
                at,
                len,
            });
            return;
        }
        let note = format!("growth of {}", self.out.region_notes[p.region]);
        self.map(mm, at, len, kind, p.prot, &note);
    }

    fn shmat(&mut self, idx: usize, mm: usize, a: [u64; 6], start: u64) {
        let Some(&len) = self.res.shm_len.get(&idx) else {
            self.out.summary.files_unknown += 1;
            return;
        };
        let b = self.res.event_backing(idx);
        let file = self.file(&b, len);
        let prot = if a[2] & SHM_RDONLY != 0 {
            Prot::R
        } else {
            Prot::Rw
        };
        let kind = PieceKind::File {
            file,
            shared: true,
            pgoff: 0,
        };
        self.map(mm, start, len, kind, prot, "SysV shared memory");
    }

    fn shmdt(&mut self, mm: usize, addr: u64) {
        let Some((_, p)) = self.vmas[mm].find(addr) else {
            return;
        };
        let end = self.vmas[mm]
            .pieces_in(addr, u64::MAX)
            .iter()
            .take_while(|x| x.2.region == p.region)
            .map(|x| x.1)
            .last()
            .unwrap_or(addr);
        self.unmap(mm, addr, end);
    }
}
