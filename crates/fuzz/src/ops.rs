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
        OpSpec {
            name: $name,
            core: false,
            base_weight: 2,
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
    advise_row!("advise-hugepage", Advice::Hugepage, Need::Mapped),
    advise_row!("advise-nohugepage", Advice::Nohugepage, Need::Mapped),
    advise_row!("advise-dontneed", Advice::Dontneed, Need::Mapped),
    advise_row!("advise-free", Advice::Free, Need::Mapped),
    advise_row!("advise-pageout", Advice::Pageout, Need::Mapped),
    advise_row!("advise-cold", Advice::Cold, Need::Mapped),
    advise_row!("advise-willneed", Advice::Willneed, Need::Mapped),
    advise_row!("advise-collapse", Advice::Collapse, Need::Mapped),
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
    g.world.map(&proc, &region, size_bytes, prot);
    if kind != MapKind::Anon {
        let p = g.world.procs.get_mut(&proc).expect("live process");
        p.shared.insert(region.clone());
    }
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
    g.world.set(&proc, &region, first, n, None);
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
    let (proc, range) = ranged(g, Need::Writable)?;
    let value = g.value();
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
    let (proc, range) = ranged(g, need)?;
    let private_only = matches!(advice, Advice::Free | Advice::Wipeonfork);
    if private_only && g.world.procs[&proc].shared.contains(&range.region) {
        // EINVAL on shared memory: not a valid statement.
        return None;
    }
    proc_op(proc, ProcOp::Advise { range, advice })
}
