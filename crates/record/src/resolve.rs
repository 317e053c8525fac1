//! The first pass: which mm every snapshot belongs to, what file (or device, or anonymous
//! memory) each file mmap maps, and the mappings each exec left that no traced system call
//! made (the program, its interpreter, the stack).

use crate::convert::{is_err, Recording, MAP_ANONYMOUS};
use crate::event::{Event, Syscall};
use crate::maps::{parse_marker, MapsEntry};
use crate::tasks::{MmChange, Tasks};
use std::collections::BTreeMap;

/// What a file-backed mapping maps, as the snapshots tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// A file: its `dev:inode` key, path and size in bytes.
    File {
        key: String,
        path: String,
        size: u64,
    },
    /// `/dev/zero`: anonymous (private) or shmem (shared).
    Zero,
    /// A device: not memory a scenario can hold.
    Device(String),
    /// No snapshot saw it.
    Unknown,
}

#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Backing of each file mmap/shmat exit, by event index.
    pub backing: BTreeMap<usize, Backing>,
    /// File mappings whose file was inferred from another mapping's length and offset.
    pub inferred: u64,
    /// Length of each shmat mapping (the snapshot's VMA), by event index.
    pub shm_len: BTreeMap<usize, u64>,
    /// Mappings an exec made, by the new mm; `None` when no snapshot was taken in time.
    pub exec_maps: BTreeMap<usize, Option<Vec<(MapsEntry, Backing)>>>,
}

impl Resolved {
    /// The backing of the mapping event `idx` made ([`Backing::Unknown`] when none is known).
    pub fn event_backing(&self, idx: usize) -> Backing {
        self.backing.get(&idx).cloned().unwrap_or(Backing::Unknown)
    }
}

struct Snap {
    mm: usize,
    end_idx: usize,
    id: u64,
}

struct Pass1 {
    snaps: Vec<Snap>,
    /// (event index, mm, start, end, file offset or None for shmat)
    file_maps: Vec<(usize, usize, u64, u64, Option<u64>)>,
    /// Every mapping a system call made: (event index, mm, start, end).
    made: Vec<(usize, usize, u64, u64)>,
    /// Exec events: (event index, new mm).
    execs: Vec<(usize, usize)>,
}

fn pass1(rec: &Recording) -> Pass1 {
    let mut tasks = Tasks::new(rec.root_pid);
    let mut pending: BTreeMap<i32, [u64; 6]> = BTreeMap::new();
    let mut p = Pass1 {
        snaps: Vec::new(),
        file_maps: Vec::new(),
        made: Vec::new(),
        execs: Vec::new(),
    };
    for (idx, st) in rec.events.iter().enumerate() {
        if let MmChange::Exec { new, .. } = tasks.on_event(&st.event) {
            p.execs.push((idx, new));
        }
        match &st.event {
            Event::Marker { text } => {
                let Some((id, true)) = parse_marker(text) else {
                    continue;
                };
                let tid = rec.snapshots.get(&id).map_or(-1, |s| s.tid);
                if let Some(mm) = tasks.mm(tid) {
                    p.snaps.push(Snap {
                        mm,
                        end_idx: idx,
                        id,
                    });
                }
            }
            Event::SysEnter { tid, args, .. } => {
                pending.insert(*tid, *args);
            }
            Event::SysExit { tid, call, ret } => {
                let (Some(args), Some(mm)) = (pending.remove(tid), tasks.mm(*tid)) else {
                    continue;
                };
                if is_err(*ret) {
                    continue;
                }
                let at = *ret as u64;
                let len = |l: u64| l.div_ceil(4096) * 4096;
                match call {
                    Syscall::Mmap => {
                        let end = at + len(args[1]);
                        p.made.push((idx, mm, at, end));
                        if args[3] & MAP_ANONYMOUS == 0 {
                            p.file_maps.push((idx, mm, at, end, Some(args[5])));
                        }
                    }
                    Syscall::Mremap => p.made.push((idx, mm, at, at + len(args[2]))),
                    Syscall::Shmat => {
                        p.made.push((idx, mm, at, at + 4096));
                        p.file_maps.push((idx, mm, at, at + 4096, None));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    p
}

/// The backing of `entry` (a maps line that covers the mapping).
fn backing_of(rec: &Recording, snap: u64, e: &MapsEntry) -> Backing {
    if e.is_dev_zero() {
        return Backing::Zero;
    }
    if e.is_special() {
        return Backing::Device(e.path.clone());
    }
    let _ = snap;
    let key = format!("{}:{}", e.dev, e.inode);
    let size = rec
        .snapshots
        .values()
        .flat_map(|s| s.file_sizes.iter())
        .filter(|(d, i, _)| *d == e.dev && *i == e.inode)
        .map(|(_, _, sz)| *sz)
        .max()
        .unwrap_or(0);
    Backing::File {
        key,
        path: e.path.clone(),
        size,
    }
}

/// First snapshot of `mm` that ends after `idx`.
fn snap_after(p: &Pass1, mm: usize, idx: usize) -> Option<&Snap> {
    p.snaps.iter().find(|s| s.mm == mm && s.end_idx > idx)
}

pub(crate) fn resolve(rec: &Recording) -> Resolved {
    let p = pass1(rec);
    let mut out = Resolved::default();
    for &(idx, mm, start, _end, off) in &p.file_maps {
        let found = p
            .snaps
            .iter()
            .filter(|s| s.mm == mm && s.end_idx > idx)
            .find_map(|s| {
                let entries = &rec.snapshots.get(&s.id)?.entries;
                let e = entries.iter().find(|e| {
                    e.start <= start
                        && start < e.end
                        && off.is_none_or(|o| e.offset + (start - e.start) == o)
                })?;
                let b = (e.is_file() || e.is_dev_zero() || e.is_special())
                    .then(|| backing_of(rec, s.id, e))?;
                Some((b, e.end - start))
            });
        if let (Some((_, len)), None) = (&found, off) {
            out.shm_len.insert(idx, *len);
        }
        out.backing
            .insert(idx, found.map_or(Backing::Unknown, |f| f.0));
    }
    infer_unknown(&p, &mut out);
    for &(idx, mm) in &p.execs {
        out.exec_maps.insert(mm, exec_maps(rec, &p, idx, mm));
    }
    out
}

/// A file mapping no snapshot saw is the file that another, seen, mapping of the same
/// length from the same offset maps, when only one file was seen mapped so (ld.so maps
/// every library with a first mapping of its whole span, then its segments at fixed
/// offsets: the lengths and offsets identify the library).
fn infer_unknown(p: &Pass1, out: &mut Resolved) {
    let mut seen: BTreeMap<(u64, u64), Option<Backing>> = BTreeMap::new();
    for &(idx, _, start, end, off) in &p.file_maps {
        let (Some(off), Some(b @ Backing::File { .. })) = (off, out.backing.get(&idx)) else {
            continue;
        };
        let e = seen
            .entry((end - start, off))
            .or_insert_with(|| Some(b.clone()));
        if e.as_ref() != Some(b) {
            *e = None;
        }
    }
    for &(idx, _, start, end, off) in &p.file_maps {
        let Some(off) = off else { continue };
        if out.backing.get(&idx) != Some(&Backing::Unknown) {
            continue;
        }
        if let Some(Some(b)) = seen.get(&(end - start, off)) {
            out.backing.insert(idx, b.clone());
            out.inferred += 1;
        }
    }
}

/// The mappings of the first snapshot after an exec that no system call made in between.
fn exec_maps(
    rec: &Recording,
    p: &Pass1,
    idx: usize,
    mm: usize,
) -> Option<Vec<(MapsEntry, Backing)>> {
    let snap = snap_after(p, mm, idx)?;
    let entries = &rec.snapshots.get(&snap.id)?.entries;
    if entries.is_empty() {
        return None;
    }
    let made: Vec<(u64, u64)> = p
        .made
        .iter()
        .filter(|m| m.1 == mm && m.0 > idx && m.0 < snap.end_idx)
        .map(|m| (m.2, m.3))
        .collect();
    let mut out = Vec::new();
    for e in entries {
        if e.is_special() || e.path == "[heap]" {
            continue;
        }
        if made.iter().any(|(s, en)| *s < e.end && e.start < *en) {
            continue;
        }
        let b = if e.is_file() {
            backing_of(rec, snap.id, e)
        } else {
            Backing::Zero
        };
        out.push((e.clone(), b));
    }
    Some(out)
}
