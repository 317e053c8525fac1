//! The second pass: events replayed over the recorder's view of every address space,
//! written as operations with absolute addresses (placement comes later, in `layout`).

use crate::convert::{Recording, Summary};
use crate::event::{Event, Syscall};
use crate::resolve::{Backing, Resolved};
use crate::tasks::{MmChange, Tasks};
use crate::vmas::{Piece, PieceKind, Vmas, PAGE};
use foliolab_scenario::{Advice, Prot};
use std::collections::BTreeMap;

/// Where a moved range is: inside one region, or over a space (absolute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Region { region: usize, off: u64 },
    Abs(u64),
}

/// One operation, addresses absolute; `mm` numbers processes, `region` regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Spawn {
        mm: usize,
    },
    Fork {
        parent: usize,
        child: usize,
    },
    Exit {
        mm: usize,
    },
    Map {
        mm: usize,
        region: usize,
        start: u64,
        len: u64,
        kind: PieceKind,
        prot: Prot,
    },
    Unmap {
        mm: usize,
        region: usize,
        off: u64,
        len: u64,
    },
    Protect {
        mm: usize,
        region: usize,
        off: u64,
        len: u64,
        prot: Prot,
    },
    Advise {
        mm: usize,
        region: usize,
        off: u64,
        len: u64,
        advice: Advice,
    },
    /// The VMA ending at the end of `region` (at `at`) grows in place by `len`.
    Grow {
        mm: usize,
        region: usize,
        at: u64,
        len: u64,
    },
    Move {
        mm: usize,
        from: Loc,
        len: u64,
        region: usize,
        to: u64,
    },
    Access {
        mm: usize,
        region: usize,
        off: u64,
        write: bool,
    },
}

/// A file the scenario defines: `dev:inode` key, path, size in bytes (a multiple of 4K).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileInfo {
    pub path: String,
    pub size: u64,
}

/// What the walk produced.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub ops: Vec<Op>,
    /// A note per region (file path, `brk`, `stack`, ...).
    pub region_notes: Vec<String>,
    /// Each region's end address (where it was mapped, moved, or grew to).
    pub region_ends: Vec<u64>,
    pub files: Vec<FileInfo>,
    /// Per mm: its exec lineage, pid and what it runs.
    pub mm_lineage: Vec<usize>,
    pub mm_pid: Vec<i32>,
    pub mm_name: Vec<String>,
    pub summary: Summary,
}

pub(crate) struct Walker<'a> {
    pub res: &'a Resolved,
    pub tasks: Tasks,
    pub vmas: Vec<Vmas>,
    /// Per mm: the heap `[start, end)` that brk manages.
    pub brk: Vec<Option<(u64, u64)>>,
    /// Per mm: whether its exec's mappings are known.
    pub exec_known: Vec<bool>,
    pending: BTreeMap<i32, (Syscall, [u64; 6])>,
    pub file_index: BTreeMap<String, usize>,
    pub out: Walked,
}

pub(crate) fn walk(rec: &Recording, res: &Resolved) -> Walked {
    let mut w = Walker {
        res,
        tasks: Tasks::new(rec.root_pid),
        vmas: Vec::new(),
        brk: Vec::new(),
        exec_known: Vec::new(),
        pending: BTreeMap::new(),
        file_index: BTreeMap::new(),
        out: Walked::default(),
    };
    for (idx, st) in rec.events.iter().enumerate() {
        let change = w.tasks.on_event(&st.event);
        w.grow_tables();
        w.mm_change(change);
        w.event(idx, &st.event);
    }
    for m in &w.tasks.mms {
        w.out.mm_lineage.push(m.lineage);
        w.out.mm_pid.push(m.pid);
        w.out.mm_name.push(m.filename.clone());
    }
    w.out
}

impl Walker<'_> {
    fn grow_tables(&mut self) {
        while self.vmas.len() < self.tasks.mms.len() {
            self.vmas.push(Vmas::default());
            self.brk.push(None);
            self.exec_known.push(true);
        }
    }

    fn mm_change(&mut self, change: MmChange) {
        match change {
            MmChange::None => {}
            MmChange::Forked { parent, child } => {
                self.vmas[child] = self.vmas[parent].forked();
                self.brk[child] = self.brk[parent];
                self.exec_known[child] = self.exec_known[parent];
                self.out.ops.push(Op::Fork { parent, child });
                self.out.summary.processes += 1;
            }
            MmChange::Exec { old, new } => {
                if let Some(mm) = old {
                    self.exit(mm);
                }
                self.out.ops.push(Op::Spawn { mm: new });
                self.out.summary.processes += 1;
                self.exec_mappings(new);
            }
            MmChange::Gone { mm } => self.exit(mm),
        }
    }

    fn exit(&mut self, mm: usize) {
        self.out.ops.push(Op::Exit { mm });
        self.out.summary.exits += 1;
        self.vmas[mm] = Vmas::default();
    }

    /// The mappings the exec made, from its snapshot.
    fn exec_mappings(&mut self, mm: usize) {
        let Some(Some(maps)) = self.res.exec_maps.get(&mm) else {
            self.exec_known[mm] = false;
            self.out.summary.execs_unseen += 1;
            return;
        };
        for (e, backing) in maps.clone() {
            let kind = match &backing {
                Backing::Zero if e.shared => PieceKind::Shmem,
                Backing::File { .. } => {
                    let file = self.file(&backing, e.offset + (e.end - e.start));
                    PieceKind::File {
                        file,
                        shared: e.shared,
                        pgoff: e.offset / PAGE,
                    }
                }
                _ => PieceKind::Anon,
            };
            let prot = prot_of(e.read, e.write, e.exec);
            let note = if e.path.is_empty() { "exec" } else { &e.path };
            let region = self.map(mm, e.start, e.end - e.start, kind, prot, note);
            if e.path == "[stack]" {
                self.vmas[mm].modify(e.start, e.end, |p| p.stack = true);
            }
            let _ = region;
        }
    }

    /// The file index of a backing (registering it), its size at least `extent` bytes.
    pub fn file(&mut self, b: &Backing, extent: u64) -> usize {
        let (key, path, size) = match b {
            Backing::File { key, path, size } => (key.clone(), path.clone(), *size),
            _ => {
                let n = self.out.files.len();
                self.out.summary.files_unknown += 1;
                (format!("unknown:{n}"), "(unknown file)".to_string(), 0)
            }
        };
        let size = size.max(extent).div_ceil(PAGE).max(1) * PAGE;
        if let Some(&i) = self.file_index.get(&key) {
            let f = &mut self.out.files[i];
            f.size = f.size.max(size);
            return i;
        }
        self.out.files.push(FileInfo { path, size });
        self.file_index.insert(key, self.out.files.len() - 1);
        self.out.files.len() - 1
    }

    /// A new region over [start, start+len), replacing whatever was there.
    pub fn map(
        &mut self,
        mm: usize,
        start: u64,
        len: u64,
        kind: PieceKind,
        prot: Prot,
        note: &str,
    ) -> usize {
        self.unmap(mm, start, start + len);
        let region = self.out.region_notes.len();
        self.out.region_notes.push(note.to_string());
        self.out.region_ends.push(start + len);
        self.out.summary.regions += 1;
        let piece = Piece {
            end: start + len,
            region,
            region_start: start,
            prot,
            kind,
            dontfork: false,
            wipeonfork: false,
            stack: false,
        };
        self.vmas[mm].insert(start, piece);
        self.out.ops.push(Op::Map {
            mm,
            region,
            start,
            len,
            kind,
            prot,
        });
        region
    }

    /// Unmaps [start, end), one statement per region piece.
    pub fn unmap(&mut self, mm: usize, start: u64, end: u64) {
        for (s, e, p) in self.vmas[mm].remove(start, end) {
            self.out.ops.push(Op::Unmap {
                mm,
                region: p.region,
                off: s - p.region_start,
                len: e - s,
            });
        }
    }

    fn event(&mut self, idx: usize, ev: &Event) {
        match ev {
            Event::Fault {
                tid,
                addr,
                write,
                kernel,
            } => self.fault(*tid, *addr, *write, *kernel),
            Event::SysEnter { tid, call, args } => {
                self.pending.insert(*tid, (*call, *args));
            }
            Event::SysExit { tid, call, ret } => {
                let Some((c, args)) = self.pending.remove(tid) else {
                    return;
                };
                let Some(mm) = self.tasks.mm(*tid) else {
                    return;
                };
                if c == *call {
                    self.syscall(idx, mm, c, args, *ret);
                }
            }
            _ => {}
        }
    }

    fn fault(&mut self, tid: i32, addr: u64, write: bool, kernel: bool) {
        if addr >= 1 << 47 {
            return;
        }
        let Some(mm) = self.tasks.mm(tid) else {
            self.out.summary.faults_unknown_task += 1;
            return;
        };
        if kernel {
            self.out.summary.faults_kernel += 1;
        } else {
            self.out.summary.faults_user += 1;
        }
        let page = addr & !(PAGE - 1);
        let piece = match self.vmas[mm].find(page) {
            Some((_, p)) => p,
            None => match self.grow_or_imply(mm, page) {
                Some(p) => p,
                None => {
                    self.out.summary.faults_outside += 1;
                    return;
                }
            },
        };
        if !piece.prot.readable() || (write && !piece.prot.writable()) {
            self.out.summary.faults_forbidden += 1;
            return;
        }
        self.out.ops.push(Op::Access {
            mm,
            region: piece.region,
            off: page - piece.region_start,
            write,
        });
    }

    /// A fault below the stack grows it (as `expand_stack` does); in a process whose exec
    /// mappings are unknown a fault anywhere maps one anonymous page.
    fn grow_or_imply(&mut self, mm: usize, page: u64) -> Option<Piece> {
        if let Some(bottom) = self.vmas[mm].stack_bottom() {
            if page < bottom && bottom - page <= 8 << 20 && self.vmas[mm].is_free(page, bottom) {
                self.map(mm, page, bottom - page, PieceKind::Anon, Prot::Rw, "stack");
                self.vmas[mm].modify(page, bottom, |p| p.stack = true);
                return self.vmas[mm].find(page).map(|f| f.1);
            }
        }
        if self.exec_known[mm] {
            return None;
        }
        self.out.summary.implicit_pages += 1;
        self.map(mm, page, PAGE, PieceKind::Anon, Prot::Rwx, "implicit");
        self.vmas[mm].find(page).map(|f| f.1)
    }
}

/// The scenario protection for PROT_* bits (write and exec imply read on x86).
pub(crate) fn prot_of(read: bool, write: bool, exec: bool) -> Prot {
    match (read || write || exec, write, exec) {
        (false, _, _) => Prot::None,
        (true, false, false) => Prot::R,
        (true, true, false) => Prot::Rw,
        (true, false, true) => Prot::Rx,
        (true, true, true) => Prot::Rwx,
    }
}
