//! An upper bound of the memory a scenario makes this machine use, from its statements alone
//! (the probe never relies on the scenario validator's limits for its own safety).
//!
//! - touched memory: every access, populate, pin, splice, collapse or read of a range
//!   charges the range rounded up to 2 MiB (a THP fault allocates a whole PMD folio), at
//!   most the region's size; anonymous regions per process (a forked child starts with
//!   nothing charged, as COW shares; a child of a process holding pins is charged what its
//!   parent had, since fork copies pinned pages), shared memory and files once per object.
//!   Nothing is credited back at `unmap`; a process's private charge is credited back at
//!   its `exit` (the helper has exited and its mm is gone: the probe waits for it), and the
//!   bound is the peak over the scenario, so it holds at every point;
//! - page tables: 1/512 of the touched memory plus 256 KiB per process live at the peak;
//! - helpers: [`HELPER_BYTES`] per process live at once (spawned or forked, not yet
//!   exited: a recorded `make -j2` spawns 600 processes, about 20 live at a time), and one
//!   for the khugepaged keeper;
//! - swap: [`SWAP_META_BYTES_PER_PAGE`] per page of the device, and the compressed copies
//!   of swapped pages (at most 1/16 of what is touched: the probe's pages hold one word);
//! - observation buffers: the probe observes pages in batches of a fixed size; values
//!   read come back whole (a word in the helper and a record in the probe per page); `check`
//!   keeps both runs' page records to compare them.

use foliolab_scenario::{Advice, MapKind, ProcOp, Range, Scenario, StmtKind};
use std::collections::BTreeMap;

/// A helper's own memory: its touched heap, stack, binary and page tables (27 MiB
/// measured: `VmRSS` of an idle helper).
pub const HELPER_BYTES: u64 = 27 << 20;
/// Kernel memory per page of swap: swap_map, the zram table entry, cgroup and cluster
/// metadata (measured: `swap 32G` costs 156 MB, 18.6 bytes per page).
pub const SWAP_META_BYTES_PER_PAGE: u64 = 20;
/// What a page-observation batch costs the probe at most.
pub const OBSERVE_BATCH_BYTES: u64 = 16 << 20;
/// Per page of a `read` or `expect RANGE == V`: the helper's word and the probe's record.
pub const READ_BYTES_PER_PAGE: u64 = 64;
/// Per page a `check` keeps as records of both runs (`observe`).
pub const CHECK_RECORD_BYTES_PER_PAGE: u64 = 1024;

const PAGE: u64 = 4096;
const PMD: u64 = 2 << 20;

/// Which command runs the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `foliolab probe`: records go out as they are made.
    Probe,
    /// `foliolab check`: both runs' records are kept and compared.
    Check,
}

/// What a scenario needs, by kind, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Need {
    /// Touched memory at its peak (private memory of exited processes credited back).
    pub touched_bytes: u64,
    pub page_table_bytes: u64,
    /// Helper processes live at once at the peak (spawned or forked and not yet exited,
    /// plus the keeper).
    pub helpers: u64,
    pub helper_bytes: u64,
    pub swap_bytes: u64,
    pub observe_bytes: u64,
}

impl Need {
    pub fn total_bytes(&self) -> u64 {
        [
            self.touched_bytes,
            self.page_table_bytes,
            self.helper_bytes,
            self.swap_bytes,
            self.observe_bytes,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Where a region's pages are charged.
#[derive(Clone, Debug)]
enum Owner {
    /// Private anonymous memory of this process.
    Private,
    /// A shared object (shmem region or file), by key.
    Shared(String),
}

#[derive(Clone, Debug)]
struct Region {
    size: u64,
    owner: Owner,
    /// A private file mapping: reads fill the file, writes make private copies.
    private_file: bool,
    charged: u64,
}

#[derive(Clone, Debug, Default)]
struct Process {
    regions: BTreeMap<String, Region>,
    pins: bool,
    /// What this process charged to private memory (credited back at its exit).
    private_bytes: u64,
}

/// The walk over the statements.
#[derive(Default)]
struct Walk {
    procs: BTreeMap<String, Process>,
    /// Shared objects: (size, charged).
    shared: BTreeMap<String, (u64, u64)>,
    files: BTreeMap<String, u64>,
    next_shmem: u64,
    need: Need,
    /// Touched bytes and helpers now (`need` keeps their peaks).
    touched_now: u64,
    helpers_now: u64,
    swap_size: u64,
    observed_pages: u64,
    read_pages: u64,
}

fn add(a: &mut u64, b: u64) {
    *a = a.saturating_add(b);
}

impl Walk {
    /// `bytes` more touched now, `private` of them by `proc` (credited back at its exit).
    fn charge(&mut self, proc: &str, bytes: u64, private: u64) {
        add(&mut self.touched_now, bytes);
        self.need.touched_bytes = self.need.touched_bytes.max(self.touched_now);
        if let Some(p) = self.procs.get_mut(proc) {
            add(&mut p.private_bytes, private);
        }
    }

    /// `exit`: the helper is gone, and with it its private memory.
    fn exit(&mut self, proc: &str) {
        if let Some(p) = self.procs.remove(proc) {
            self.touched_now = self.touched_now.saturating_sub(p.private_bytes);
            self.helpers_now = self.helpers_now.saturating_sub(1);
        }
    }

    fn range_len(&self, proc: &str, r: &Range) -> u64 {
        let size = self
            .procs
            .get(proc)
            .and_then(|p| p.regions.get(&r.region))
            .map_or(0, |reg| reg.size);
        let (s, e) = r.form.resolve(size);
        e.min(size).saturating_sub(s)
    }

    /// Charges `len` bytes of touching to the range's region (rounded up to 2 MiB, at most
    /// the region) and to its shared object.
    fn touch(&mut self, proc: &str, r: &Range) {
        let len = self.range_len(proc, r).div_ceil(PMD).saturating_mul(PMD);
        let Some(reg) = self
            .procs
            .get_mut(proc)
            .and_then(|p| p.regions.get_mut(&r.region))
        else {
            return;
        };
        let mut private = 0;
        if matches!(reg.owner, Owner::Private) || reg.private_file {
            let c = reg.charged.saturating_add(len).min(reg.size);
            private = c - reg.charged;
            reg.charged = c;
        }
        let mut new = private;
        if let Owner::Shared(key) = &reg.owner {
            if let Some((size, charged)) = self.shared.get_mut(key) {
                let c = charged.saturating_add(len).min(*size);
                new += c - *charged;
                *charged = c;
            }
        }
        self.charge(proc, new, private);
    }

    fn map(&mut self, proc: &str, region: &str, size: u64, kind: &MapKind) {
        let (owner, private_file) = match kind {
            MapKind::Shmem => {
                self.next_shmem += 1;
                let key = format!("shmem#{}", self.next_shmem);
                self.shared.insert(key.clone(), (size, 0));
                (Owner::Shared(key), false)
            }
            MapKind::File { file, shared } => {
                let key = format!("file:{file}");
                let fsize = self.files.get(file).copied().unwrap_or(size);
                self.shared.entry(key.clone()).or_insert((fsize, 0));
                (Owner::Shared(key), !shared)
            }
            _ => (Owner::Private, false),
        };
        let reg = Region {
            size,
            owner,
            private_file,
            charged: 0,
        };
        self.procs
            .entry(proc.to_string())
            .or_default()
            .regions
            .insert(region.to_string(), reg);
    }

    fn fork(&mut self, parent: &str, child: &str) {
        let Some(p) = self.procs.get(parent).cloned() else {
            return;
        };
        let mut c = Process {
            regions: p.regions,
            pins: false,
            private_bytes: 0,
        };
        let mut copied = 0;
        for reg in c.regions.values_mut() {
            if !p.pins {
                reg.charged = 0;
            } else if matches!(reg.owner, Owner::Private) {
                add(&mut copied, reg.charged);
            }
        }
        self.procs.insert(child.to_string(), c);
        self.charge(child, copied, copied);
        self.spawned();
    }

    fn spawned(&mut self) {
        self.helpers_now += 1;
        self.need.helpers = self.need.helpers.max(self.helpers_now);
    }

    /// `grow`: the region is bigger from now on (its charge is not).
    fn grow(&mut self, proc: &str, region: &str, by: u64) {
        if let Some(r) = self
            .procs
            .get_mut(proc)
            .and_then(|p| p.regions.get_mut(region))
        {
            r.size = r.size.saturating_add(by);
        }
    }

    fn move_range(&mut self, proc: &str, r: &Range, new_region: &str) {
        let len = self.range_len(proc, r);
        let Some(p) = self.procs.get_mut(proc) else {
            return;
        };
        if let Some(src) = p.regions.get(&r.region).cloned() {
            let charged = src.charged.min(len);
            p.regions.insert(
                new_region.to_string(),
                Region {
                    size: len,
                    charged,
                    ..src
                },
            );
        }
    }

    fn op(&mut self, proc: &str, op: &ProcOp) {
        match op {
            ProcOp::Map {
                region,
                size_bytes,
                kind,
                ..
            } => self.map(proc, region, *size_bytes, kind),
            ProcOp::Write { range, .. } => self.touch(proc, range),
            ProcOp::Read { range } | ProcOp::ExpectValue { range, .. } => {
                self.touch(proc, range);
                let pages = self.range_len(proc, range) / PAGE;
                add(&mut self.read_pages, pages);
            }
            ProcOp::Advise { range, advice } => self.advise(proc, range, *advice),
            ProcOp::Pin { range, .. } | ProcOp::Splice { range, .. } => {
                self.touch(proc, range);
                if matches!(op, ProcOp::Pin { .. }) {
                    self.procs.entry(proc.to_string()).or_default().pins = true;
                }
                let pages = self.range_len(proc, range) / PAGE;
                add(
                    &mut self.need.observe_bytes,
                    pages.saturating_mul(READ_BYTES_PER_PAGE),
                );
            }
            ProcOp::Fork { child } => self.fork(proc, child),
            ProcOp::Move {
                range, new_region, ..
            }
            | ProcOp::MoveAt {
                range, new_region, ..
            } => self.move_range(proc, range, new_region),
            ProcOp::MapAt {
                region,
                size_bytes,
                kind,
                ..
            } => self.map(proc, region, *size_bytes, kind),
            ProcOp::Grow { region, size_bytes } => self.grow(proc, region, *size_bytes),
            ProcOp::Observe { range } => {
                let pages = self.range_len(proc, range) / PAGE;
                add(&mut self.observed_pages, pages);
            }
            _ => {}
        }
    }

    fn advise(&mut self, proc: &str, r: &Range, advice: Advice) {
        match advice {
            Advice::PopulateRead | Advice::PopulateWrite | Advice::Willneed => self.touch(proc, r),
            Advice::Collapse => {
                self.touch(proc, r);
                self.charge(proc, 2 * PMD, 0);
            }
            _ => {}
        }
    }
}

/// An upper bound of what `scenario` needs, by kind.
pub fn estimate(scenario: &Scenario, mode: Mode) -> Need {
    let mut w = Walk::default();
    w.spawned(); // the khugepaged keeper
    for st in scenario.statements() {
        match &st.kind {
            StmtKind::Spawn { proc } => {
                w.procs.insert(proc.clone(), Process::default());
                w.spawned();
            }
            StmtKind::Swap { size_bytes } => w.swap_size = *size_bytes,
            StmtKind::File { file, size_bytes } => {
                w.files.insert(file.clone(), *size_bytes);
            }
            StmtKind::Khugepaged => w.charge("", 4 * PMD, 0),
            StmtKind::Proc {
                proc,
                op: ProcOp::Exit,
            } => w.exit(proc),
            StmtKind::Proc { proc, op } => w.op(proc, op),
            _ => {}
        }
    }
    finish(w, mode)
}

fn finish(mut w: Walk, mode: Mode) -> Need {
    let n = &mut w.need;
    n.helper_bytes = n.helpers.saturating_mul(HELPER_BYTES);
    n.page_table_bytes = n.touched_bytes / 512 + n.helpers.saturating_mul(256 << 10);
    n.swap_bytes = (w.swap_size / PAGE)
        .saturating_mul(SWAP_META_BYTES_PER_PAGE)
        .saturating_add(w.swap_size.min(n.touched_bytes) / 16);
    add(&mut n.observe_bytes, OBSERVE_BATCH_BYTES);
    add(
        &mut n.observe_bytes,
        w.read_pages.saturating_mul(READ_BYTES_PER_PAGE),
    );
    if mode == Mode::Check {
        add(
            &mut n.observe_bytes,
            w.observed_pages.saturating_mul(CHECK_RECORD_BYTES_PER_PAGE),
        );
    }
    w.need
}
