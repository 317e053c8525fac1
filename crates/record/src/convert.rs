//! A recording (merged events plus maps snapshots) to a version-2 scenario.
//!
//! Three steps: [`crate::resolve`] learns from the snapshots what each file mapping maps and
//! what each exec mapped; [`crate::walk`] replays the events over the recorder's view of
//! every address space and writes operations with absolute addresses; [`crate::layout`]
//! groups each exec lineage's addresses into spaces and [`crate::emit`] writes statements
//! relative to them.

use crate::event::Stamped;
use crate::maps::Snapshot;
use foliolab_scenario::{Scenario, ThpSetting};
use std::collections::BTreeMap;

pub(crate) const MAP_SHARED_MASK: u64 = 0x3;
pub(crate) const MAP_ANONYMOUS: u64 = 0x20;
pub(crate) const MAP_POPULATE: u64 = 0x8000;
pub(crate) const MAP_LOCKED: u64 = 0x2000;
pub(crate) const MAP_HUGETLB: u64 = 0x40000;

/// A failed system call's return value (`-4095..=-1`).
pub(crate) fn is_err(ret: i64) -> bool {
    (-4095..0).contains(&ret)
}

/// What the probe recorded.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// Every event, merged across CPUs in timestamp order.
    pub events: Vec<Stamped>,
    /// Snapshots by id (their markers are in `events`).
    pub snapshots: BTreeMap<u64, Snapshot>,
    /// The traced command's pid: its exec starts the first process.
    pub root_pid: i32,
    /// For the header: the command line, the kernel release.
    pub command: String,
    pub kernel: String,
    /// THP settings of the host that differ from the scenario defaults.
    pub thp: Vec<ThpSetting>,
}

/// What a conversion did, for the summary `foliolab record` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub processes: u64,
    pub exits: u64,
    pub regions: u64,
    pub spaces: u64,
    pub files: u64,
    pub faults_user: u64,
    pub faults_kernel: u64,
    /// Faults at addresses no mapping covers (the vDSO, SIGSEGV) or that the protection
    /// forbids (a SIGSEGV the program handled): they change nothing a scenario can hold.
    pub faults_outside: u64,
    pub faults_forbidden: u64,
    /// Faults of tasks the recording does not know (cannot happen with the pid filter).
    pub faults_unknown_task: u64,
    pub syscalls: u64,
    pub syscalls_failed: u64,
    /// Advice with no scenario counterpart (readahead hints, KSM, dump flags, guards).
    pub advice_ignored: u64,
    /// File mappings whose file no snapshot saw (a private stand-in file each).
    pub files_unknown: u64,
    /// File mappings no snapshot saw, identified by a seen mapping of the same length and
    /// offset (of one file only).
    pub files_inferred: u64,
    /// Device mappings left out (their faults are counted as outside).
    pub devices: u64,
    /// Execs whose mappings no snapshot caught (the process ended first): faults there
    /// map single anonymous pages.
    pub execs_unseen: u64,
    pub implicit_pages: u64,
    /// MAP_HUGETLB mappings, recorded as ordinary ones.
    pub hugetlb: u64,
    pub statements: u64,
}

/// Why a recording could not be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError(pub String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Converts a recording; the scenario is validated before it is returned.
pub fn convert(rec: &Recording) -> Result<(Scenario, Summary), ConvertError> {
    let resolved = crate::resolve::resolve(rec);
    let walked = crate::walk::walk(rec, &resolved);
    let layout = crate::layout::Layout::new(&walked);
    let (scenario, mut summary) = crate::emit::emit(rec, &walked, &layout);
    summary.files_inferred = resolved.inferred;
    foliolab_scenario::validate(&scenario).map_err(|e| {
        ConvertError(format!(
            "the recorded scenario is invalid (a recorder bug): {e}"
        ))
    })?;
    Ok((scenario, summary))
}
