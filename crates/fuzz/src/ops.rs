//! The statement table: one row per statement the generator can emit. Adding a statement
//! (as the model learns swap, mremap, more advice, ...) is one row here: a name, whether it
//! may be switched off by the swarm, a base weight, a sample the runner's support check is
//! asked about, and the function that draws a valid instance from the shadow world.
//!
//! Rows whose sample the runner reports unsupported get weight 0, so the generator never
//! emits what the model cannot perform; they switch on by themselves when the model grows.

use crate::gen::Gen;
use crate::world::Need;
use foliolab_scenario::{Advice, MapKind, Pos, ProcOp, Prot, Range, RangeForm, StmtKind};
use foliolab_types::PAGE_SIZE;

pub struct OpSpec {
    pub name: &'static str,
    /// Never switched off by the swarm (without them nothing happens).
    pub core: bool,
    pub base_weight: u64,
    /// A representative statement for the runner's support check.
    pub sample: fn() -> StmtKind,
    /// Draws a valid instance, or `None` when there is nothing to act on.
    pub gen: fn(&mut Gen) -> Option<StmtKind>,
}

macro_rules! advise_row {
    ($name:literal, $advice:expr, $need:expr) => {
        advise_row!($name, $advice, $need, 2)
    };
    ($name:literal, $advice:expr, $need:expr, $w:expr) => {
        OpSpec {
            name: $name,
            core: false,
            base_weight: $w,
            sample: || {
                sample_op(ProcOp::Advise {
                    range: sample_range(),
                    advice: $advice,
                })
            },
            gen: |g| advise(g, $advice, $need),
        }
    };
}

pub const OPS: &[OpSpec] = &[
    OpSpec {
        name: "spawn",
        core: false,
        base_weight: 1,
        sample: || StmtKind::Spawn { proc: "p".into() },
        gen: spawn,
    },
    OpSpec {
        name: "fork",
        core: false,
        base_weight: 3,
        sample: || sample_op(ProcOp::Fork { child: "c".into() }),
        gen: fork,
    },
    OpSpec {
        name: "exit",
        core: false,
        base_weight: 2,
        sample: || sample_op(ProcOp::Exit),
        gen: exit,
    },
    OpSpec {
        name: "map",
        core: true,
        base_weight: 3,
        sample: || sample_map(MapKind::Anon),
        gen: |g| map(g, MapKind::Anon),
    },
    OpSpec {
        name: "map-shmem",
        core: false,
        base_weight: 1,
        sample: || sample_map(MapKind::Shmem),
        gen: |g| map(g, MapKind::Shmem),
    },
    OpSpec {
        name: "unmap",
        core: false,
        base_weight: 2,
        sample: || {
            sample_op(ProcOp::Unmap {
                range: sample_range(),
            })
        },
        gen: unmap,
    },
    OpSpec {
        name: "protect",
        core: false,
        base_weight: 2,
        sample: || {
            sample_op(ProcOp::Protect {
                range: sample_range(),
                prot: Prot::R,
            })
        },
        gen: protect,
    },
    OpSpec {
        name: "write",
        core: true,
        base_weight: 8,
        sample: || {
            sample_op(ProcOp::Write {
                range: sample_range(),
                value: 1,
            })
        },
        gen: write,
    },
    OpSpec {
        name: "read",
        core: false,
        base_weight: 4,
        sample: || {
            sample_op(ProcOp::Read {
                range: sample_range(),
            })
        },
        gen: read,
    },
    OpSpec {
        name: "shrink",
        core: false,
        base_weight: 1,
        sample: || StmtKind::Shrink,
        gen: |_| Some(StmtKind::Shrink),
    },
    OpSpec {
        name: "khugepaged",
        core: false,
        base_weight: 1,
        sample: || StmtKind::Khugepaged,
        gen: |_| Some(StmtKind::Khugepaged),
    },
    OpSpec {
        name: "observe",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::Observe {
                range: sample_range(),
            })
        },
        gen: observe,
    },
    OpSpec {
        name: "observe-smaps",
        core: false,
        base_weight: 1,
        sample: || sample_op(ProcOp::ObserveSmaps { region: "a".into() }),
        gen: observe_smaps,
    },
    OpSpec {
        name: "observe-stats",
        core: false,
        base_weight: 1,
        sample: || StmtKind::ObserveStats,
        gen: |_| Some(StmtKind::ObserveStats),
    },
    OpSpec {
        name: "move",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::Move {
                range: sample_range(),
                new_region: "b".into(),
                align_bytes: 2 << 20,
                shift_bytes: 0,
            })
        },
        gen: move_range,
    },
    OpSpec {
        name: "pin",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::Pin {
                name: "n".into(),
                range: sample_range(),
                write: true,
                longterm: true,
                fast: false,
            })
        },
        gen: pin,
    },
    OpSpec {
        name: "splice",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::Splice {
                name: "n".into(),
                range: sample_range(),
            })
        },
        gen: splice,
    },
    OpSpec {
        name: "release",
        core: false,
        base_weight: 1,
        sample: || sample_op(ProcOp::Release { name: "n".into() }),
        gen: release,
    },
    OpSpec {
        name: "expect-pin",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::ExpectPin {
                name: "n".into(),
                value: 0,
            })
        },
        gen: |g| expect_held(g, false),
    },
    OpSpec {
        name: "expect-pipe",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::ExpectPipe {
                name: "n".into(),
                value: 0,
            })
        },
        gen: |g| expect_held(g, true),
    },
    OpSpec {
        name: "migrate",
        core: false,
        base_weight: 1,
        sample: || {
            sample_op(ProcOp::Migrate {
                range: sample_range(),
            })
        },
        gen: migrate,
    },
    advise_row!("advise-hugepage", Advice::Hugepage, Need::Mapped),
    advise_row!("advise-nohugepage", Advice::Nohugepage, Need::Mapped),
    advise_row!("advise-dontneed", Advice::Dontneed, Need::Mapped),
    advise_row!("advise-free", Advice::Free, Need::Mapped),
    advise_row!("advise-pageout", Advice::Pageout, Need::Mapped),
    advise_row!("advise-cold", Advice::Cold, Need::Mapped),
    advise_row!("advise-willneed", Advice::Willneed, Need::Mapped),
    advise_row!("advise-collapse", Advice::Collapse, Need::Mapped),
    advise_row!("advise-dontfork", Advice::Dontfork, Need::Mapped, 1),
    advise_row!("advise-dofork", Advice::Dofork, Need::Mapped, 1),
    advise_row!("advise-wipeonfork", Advice::Wipeonfork, Need::Mapped, 1),
    advise_row!("advise-keeponfork", Advice::Keeponfork, Need::Mapped, 1),
    advise_row!("advise-populate_read", Advice::PopulateRead, Need::Readable),
    advise_row!(
        "advise-populate_write",
        Advice::PopulateWrite,
        Need::Writable
    ),
];

/// Index of a row by name (tests, canaries).
pub fn op_index(name: &str) -> Option<usize> {
    OPS.iter().position(|o| o.name == name)
}

fn sample_range() -> Range {
    Range {
        region: "a".into(),
        form: RangeForm::Whole,
        pos: Pos::default(),
    }
}

fn sample_op(op: ProcOp) -> StmtKind {
    StmtKind::Proc {
        proc: "p".into(),
        op,
    }
}

fn sample_map(kind: MapKind) -> StmtKind {
    sample_op(ProcOp::Map {
        region: "a".into(),
        size_bytes: PAGE_SIZE,
        kind,
        prot: Prot::Rw,
        align_bytes: 2 << 20,
    })
}

fn proc_op(proc: String, op: ProcOp) -> Option<StmtKind> {
    Some(StmtKind::Proc { proc, op })
}

/// When the drawn statements had nothing to act on: a process, then a region.
pub fn fallback(g: &mut Gen) -> StmtKind {
    if g.world.procs.is_empty() {
        return spawn_any(g);
    }
    if let Some(k) = map(g, MapKind::Anon) {
        return k;
    }
    StmtKind::ObserveStats
}

fn spawn_any(g: &mut Gen) -> StmtKind {
    let proc = g.world.fresh_proc();
    g.world.spawn(&proc);
    StmtKind::Spawn { proc }
}

fn spawn(g: &mut Gen) -> Option<StmtKind> {
    (g.world.procs.len() < g.swarm.procs_max).then(|| spawn_any(g))
}

fn fork(g: &mut Gen) -> Option<StmtKind> {
    if g.world.procs.len() >= g.swarm.procs_max {
        return None;
    }
    // Half the time the deepest process forks: fork trees several levels deep.
    let parent = if g.rng.chance(1, 2) {
        let deepest = g.world.procs.iter().max_by_key(|(_, p)| p.depth)?;
        deepest.0.clone()
    } else {
        g.proc()?
    };
    let child = g.world.fresh_proc();
    g.world.fork(&parent, &child);
    proc_op(parent, ProcOp::Fork { child })
}

fn exit(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    g.world.exit(&proc);
    proc_op(proc, ProcOp::Exit)
}

fn map(g: &mut Gen, kind: MapKind) -> Option<StmtKind> {
    let proc = g.proc()?;
    if g.world.procs[&proc].regions.len() >= g.swarm.regions_max {
        return None;
    }
    let size_bytes = region_size(g);
    let align_bytes = *g
        .rng
        .pick(&[4u64 << 10, 16 << 10, 64 << 10, 2 << 20, 2 << 20, 4 << 20]);
    let prot = *g
        .rng
        .pick(&[Prot::Rw, Prot::Rw, Prot::Rw, Prot::Rwx, Prot::R, Prot::None]);
    let region = g.world.fresh_region();
    g.world
        .map(&proc, &region, size_bytes, prot, kind == MapKind::Anon);
    let op = ProcOp::Map {
        region,
        size_bytes,
        kind,
        prot,
        align_bytes,
    };
    proc_op(proc, op)
}

/// Region sizes: exponential in pages, often a multiple of 64K or 2M, at most 8M.
fn region_size(g: &mut Gen) -> u64 {
    let unit = *g.rng.pick(&[PAGE_SIZE, 16 << 10, 64 << 10, 2 << 20]);
    let max_units = (8 << 20) / unit;
    let n = g.rng.exponential(4, max_units);
    let extra = if g.rng.chance(1, 5) {
        PAGE_SIZE * g.rng.between(1, 15)
    } else {
        0
    };
    n * unit + extra
}

fn unmap(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let (region, first, n) = g.range(&proc, Need::Any)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    g.world.unmap(&proc, &region, first, n);
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Unmap { range })
}

fn protect(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let (region, first, n) = g.range(&proc, Need::Mapped)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let prot = *g
        .rng
        .pick(&[Prot::Rw, Prot::R, Prot::None, Prot::Rx, Prot::Rwx]);
    g.world.protect(&proc, &region, first, n, prot);
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Protect { range, prot })
}

/// A range of a random live process satisfying `need`, as an AST range.
fn ranged(g: &mut Gen, need: Need) -> Option<(String, Range)> {
    let proc = g.proc()?;
    let (region, first, n) = g.range(&proc, need)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let range = g.range_ast(&region, first, n, size);
    Some((proc, range))
}

fn write(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    // A quarter of the time the process writes the whole buffer it pinned or spliced, so
    // `expect pin` / `expect pipe` see one written value in every page.
    let held = if g.rng.chance(1, 4) {
        held_range(g, &proc)
    } else {
        None
    };
    let (region, first, n) = match held {
        Some(r) => r,
        None => g.range(&proc, Need::Writable)?,
    };
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let value = g.value();
    g.world.write(&proc, &region, first, n, value);
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Write { range, value })
}

fn read(g: &mut Gen) -> Option<StmtKind> {
    let (proc, range) = ranged(g, Need::Readable)?;
    proc_op(proc, ProcOp::Read { range })
}

fn observe(g: &mut Gen) -> Option<StmtKind> {
    let (proc, range) = ranged(g, Need::Any)?;
    proc_op(proc, ProcOp::Observe { range })
}

fn observe_smaps(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let regions: Vec<String> = g.world.procs[&proc].regions.keys().cloned().collect();
    if regions.is_empty() {
        return None;
    }
    let region = g.rng.pick(&regions).clone();
    proc_op(proc, ProcOp::ObserveSmaps { region })
}

fn advise(g: &mut Gen, advice: Advice, need: Need) -> Option<StmtKind> {
    let proc = g.proc()?;
    // MADV_WIPEONFORK and MADV_FREE are for private anonymous mappings only (EINVAL otherwise).
    let anon_only = matches!(
        advice,
        Advice::Wipeonfork | Advice::Keeponfork | Advice::Free
    );
    let (region, first, n) = g.range_where(&proc, need, anon_only, false)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let w = &mut g.world;
    match advice {
        Advice::Dontneed => w.dontneed(&proc, &region, first, n),
        Advice::Free => w.free(&proc, &region, first, n),
        Advice::Hugepage | Advice::Nohugepage => w.set_flags(&proc, &region, first, n, None, None),
        Advice::Dontfork => w.set_flags(&proc, &region, first, n, Some(true), None),
        Advice::Dofork => w.set_flags(&proc, &region, first, n, Some(false), None),
        Advice::Wipeonfork => w.set_flags(&proc, &region, first, n, None, Some(true)),
        Advice::Keeponfork => w.set_flags(&proc, &region, first, n, None, Some(false)),
        _ => {}
    }
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Advise { range, advice })
}

/// mremap of a range inside one VMA of a private anonymous region to a new region.
fn move_range(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    if g.world.procs[&proc].regions.len() >= g.swarm.regions_max {
        return None;
    }
    let (region, first, n) = g.range_where(&proc, Need::Mapped, true, true)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let align_bytes = *g
        .rng
        .pick(&[4u64 << 10, 16 << 10, 64 << 10, 2 << 20, 2 << 20, 2 << 20]);
    let shift_bytes = if align_bytes > PAGE_SIZE && g.rng.chance(1, 3) {
        if g.rng.chance(1, 2) {
            PAGE_SIZE
        } else {
            PAGE_SIZE * g.rng.between(1, align_bytes / PAGE_SIZE - 1)
        }
    } else {
        0
    };
    let new_region = g.world.fresh_region();
    g.world.move_to(&proc, &region, first, n, &new_region);
    let range = g.range_ast(&region, first, n, size);
    proc_op(
        proc,
        ProcOp::Move {
            range,
            new_region,
            align_bytes,
            shift_bytes,
        },
    )
}

/// The range of one of `proc`'s holds if the process can still write all of it there.
fn held_range(g: &mut Gen, proc: &str) -> Option<(String, usize, usize)> {
    let p = &g.world.procs[proc];
    let ok: Vec<(String, usize, usize)> = g
        .world
        .holds
        .values()
        .filter(|h| h.owner == proc)
        .map(|h| h.at.clone())
        .filter(|(region, first, n)| {
            p.regions.get(region).is_some_and(|r| {
                r.pages[*first..first + n]
                    .iter()
                    .all(|pg| Need::Writable.ok(*pg))
            })
        })
        .collect();
    if ok.is_empty() {
        return None;
    }
    Some(g.rng.pick(&ok).clone())
}

/// A pin in any of its forms: `rw` needs writable pages, `ro` readable ones (EFAULT
/// otherwise, a hole included).
fn pin(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let write = g.rng.chance(1, 2);
    let longterm = g.rng.chance(1, 2);
    let fast = g.rng.chance(1, 4);
    let need = if write {
        Need::Writable
    } else {
        Need::Readable
    };
    let (region, first, n) = g.range_where(&proc, need, true, false)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let name = g.world.fresh_hold();
    g.world
        .hold(&name, &proc, &region, first, n, false, write || longterm);
    let range = g.range_ast(&region, first, n, size);
    proc_op(
        proc,
        ProcOp::Pin {
            name,
            range,
            write,
            longterm,
            fast,
        },
    )
}

/// vmsplice into a pipe: FOLL_GET of readable pages.
fn splice(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let (region, first, n) = g.range_where(&proc, Need::Readable, true, false)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let name = g.world.fresh_hold();
    g.world.hold(&name, &proc, &region, first, n, true, false);
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Splice { name, range })
}

/// A live pin or pipe, released by its holder.
fn release(g: &mut Gen) -> Option<StmtKind> {
    let names: Vec<String> = g.world.holds.keys().cloned().collect();
    if names.is_empty() {
        return None;
    }
    let name = g.rng.pick(&names).clone();
    let owner = g.world.holds[&name].owner.clone();
    g.world.release(&name);
    proc_op(owner, ProcOp::Release { name })
}

/// `expect pin` / `expect pipe` of a hold whose every page reads one known value.
fn expect_held(g: &mut Gen, pipe: bool) -> Option<StmtKind> {
    let known: Vec<(String, String, u64)> = g
        .world
        .holds
        .iter()
        .filter(|(_, h)| h.pipe == pipe)
        .filter_map(|(n, h)| Some((n.clone(), h.owner.clone(), h.value()?)))
        .collect();
    if known.is_empty() {
        return None;
    }
    let (name, owner, value) = g.rng.pick(&known).clone();
    let op = if pipe {
        ProcOp::ExpectPipe { name, value }
    } else {
        ProcOp::ExpectPin { name, value }
    };
    proc_op(owner, op)
}

/// Migration of the folios mapped in a range of a private anonymous region.
fn migrate(g: &mut Gen) -> Option<StmtKind> {
    let proc = g.proc()?;
    let (region, first, n) = g.range_where(&proc, Need::Mapped, true, false)?;
    let size = g.world.procs[&proc].regions[&region].pages.len();
    let range = g.range_ast(&region, first, n, size);
    proc_op(proc, ProcOp::Migrate { range })
}
