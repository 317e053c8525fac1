//! Operations to statements: names (`p1`, `r1`, `s1`, `f1`), spaces declared after each
//! `spawn`, regions placed `at=` their space, ranges relative to their region.

use crate::convert::{Recording, Summary};
use crate::layout::{Layout, Space};
use crate::vmas::PieceKind;
use crate::walk::{Loc, Op, Walked};
use foliolab_scenario::*;

struct Emitter<'a> {
    w: &'a Walked,
    layout: &'a Layout,
    items: Vec<Item>,
}

fn stmt(kind: StmtKind, comment: Option<String>) -> Item {
    Item::Stmt(Stmt {
        pos: Pos::default(),
        kind,
        comment,
    })
}

fn proc_name(mm: usize) -> String {
    format!("p{}", mm + 1)
}

fn region_name(r: usize) -> String {
    format!("r{}", r + 1)
}

fn space_name(s: &Space) -> String {
    format!("s{}", s.id)
}

fn range(region: usize, off: u64, len: u64) -> Range {
    let form = if len == 4096 {
        RangeForm::Page { offset_bytes: off }
    } else {
        RangeForm::Len {
            start_bytes: off,
            len_bytes: len,
        }
    };
    Range {
        region: region_name(region),
        form,
        pos: Pos::default(),
    }
}

pub(crate) fn emit(rec: &Recording, w: &Walked, layout: &Layout) -> (Scenario, Summary) {
    let mut e = Emitter {
        w,
        layout,
        items: Vec::new(),
    };
    e.header(rec);
    for op in &w.ops {
        e.op(op);
    }
    let mut summary = w.summary.clone();
    summary.spaces = layout.count() as u64;
    summary.files = w.files.len() as u64;
    summary.statements = e
        .items
        .iter()
        .filter(|i| matches!(i, Item::Stmt(_)))
        .count() as u64;
    let scenario = Scenario {
        path: "recording".into(),
        items: e.items,
    };
    (scenario, summary)
}

impl Emitter<'_> {
    fn header(&mut self, rec: &Recording) {
        self.items
            .push(stmt(StmtKind::Scenario { version: 2 }, None));
        for line in [
            format!(" Recorded by `foliolab record` on Linux {}:", rec.kernel),
            format!("   {}", rec.command),
            " One process per mm, one region per mapping, faults as reads and writes of the".into(),
            " faulting page; files are tmpfs stand-ins (docs/record.md).".into(),
        ] {
            self.items.push(Item::Comment {
                line: 0,
                text: line,
            });
        }
        if !rec.thp.is_empty() {
            let settings = rec.thp.clone();
            self.items.push(stmt(StmtKind::Thp { settings }, None));
        }
        for (i, f) in self.w.files.iter().enumerate() {
            let kind = StmtKind::File {
                file: format!("f{}", i + 1),
                size_bytes: f.size,
            };
            self.items.push(stmt(kind, Some(format!(" {}", f.path))));
        }
    }

    fn proc_stmt(&mut self, mm: usize, op: ProcOp, comment: Option<String>) {
        let kind = StmtKind::Proc {
            proc: proc_name(mm),
            op,
        };
        self.items.push(stmt(kind, comment));
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::Spawn { mm } => self.spawn(*mm),
            Op::Fork { parent, child } => {
                let c = format!(" pid {}", self.w.mm_pid[*child]);
                let child = proc_name(*child);
                self.proc_stmt(*parent, ProcOp::Fork { child }, Some(c));
            }
            Op::Exit { mm } => self.proc_stmt(*mm, ProcOp::Exit, None),
            Op::Map {
                mm,
                region,
                start,
                len,
                kind,
                prot,
            } => self.map(*mm, *region, *start, *len, *kind, *prot),
            Op::Unmap {
                mm,
                region,
                off,
                len,
            } => {
                let range = range(*region, *off, *len);
                self.proc_stmt(*mm, ProcOp::Unmap { range }, None)
            }
            Op::Protect {
                mm,
                region,
                off,
                len,
                prot,
            } => {
                let (range, prot) = (range(*region, *off, *len), *prot);
                self.proc_stmt(*mm, ProcOp::Protect { range, prot }, None)
            }
            Op::Advise {
                mm,
                region,
                off,
                len,
                advice,
            } => {
                let (range, advice) = (range(*region, *off, *len), *advice);
                self.proc_stmt(*mm, ProcOp::Advise { range, advice }, None)
            }
            Op::Move {
                mm,
                from,
                len,
                region,
                to,
            } => self.mv(*mm, *from, *len, *region, *to),
            Op::Grow {
                mm, region, len, ..
            } => {
                let op = ProcOp::Grow {
                    region: region_name(*region),
                    size_bytes: *len,
                };
                self.proc_stmt(*mm, op, None)
            }
            Op::Access {
                mm,
                region,
                off,
                write,
            } => self.access(*mm, *region, *off, *write),
        }
    }

    fn access(&mut self, mm: usize, region: usize, off: u64, write: bool) {
        let range = range(region, off, 4096);
        let op = if write {
            ProcOp::Write {
                range,
                value: mm as u64 + 1,
            }
        } else {
            ProcOp::Read { range }
        };
        self.proc_stmt(mm, op, None)
    }

    fn spawn(&mut self, mm: usize) {
        let proc = proc_name(mm);
        let c = format!(" pid {}: {}", self.w.mm_pid[mm], self.w.mm_name[mm]);
        self.items
            .push(stmt(StmtKind::Spawn { proc: proc.clone() }, Some(c)));
        let lineage = self.w.mm_lineage[mm];
        let spaces = self
            .layout
            .spaces
            .get(&lineage)
            .cloned()
            .unwrap_or_default();
        for s in spaces {
            let op = ProcOp::Space {
                space: space_name(&s),
                size_bytes: s.end - s.start,
                align_bytes: 2 << 20,
                shift_bytes: s.shift(),
            };
            self.proc_stmt(mm, op, None);
        }
    }

    fn at(&self, mm: usize, addr: u64) -> At {
        let (s, off) = self
            .layout
            .at(self.w.mm_lineage[mm], addr)
            .expect("every mapped address lies in a space of its lineage");
        At {
            space: space_name(&s),
            offset_bytes: off,
        }
    }

    fn map(&mut self, mm: usize, region: usize, start: u64, len: u64, kind: PieceKind, prot: Prot) {
        let (kind, file_offset_bytes) = match kind {
            PieceKind::Anon => (MapKind::Anon, 0),
            PieceKind::Shmem => (MapKind::Shmem, 0),
            PieceKind::File {
                file,
                shared,
                pgoff,
            } => (
                MapKind::File {
                    file: format!("f{}", file + 1),
                    shared,
                },
                pgoff * 4096,
            ),
        };
        let op = ProcOp::MapAt {
            region: region_name(region),
            size_bytes: len,
            kind,
            prot,
            at: self.at(mm, start),
            file_offset_bytes,
        };
        let note = &self.w.region_notes[region];
        let c = (!note.is_empty() && note != "anon").then(|| format!(" {note}"));
        self.proc_stmt(mm, op, c);
    }

    fn mv(&mut self, mm: usize, from: Loc, len: u64, region: usize, to: u64) {
        let range = match from {
            Loc::Region { region, off } => range(region, off, len),
            Loc::Abs(addr) => {
                let at = self.at(mm, addr);
                Range {
                    region: at.space,
                    form: RangeForm::Len {
                        start_bytes: at.offset_bytes,
                        len_bytes: len,
                    },
                    pos: Pos::default(),
                }
            }
        };
        let op = ProcOp::MoveAt {
            range,
            new_region: region_name(region),
            at: self.at(mm, to),
        };
        self.proc_stmt(mm, op, None);
    }
}
