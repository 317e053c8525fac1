//! How much memory a guest gets: enough for the kernel, the initramfs (the executable and
//! the scenarios live in ramfs) and the largest scenario, where every process may have
//! copied every region; checked against what the host has available.

use super::VmError;
use foliolab_scenario::{ProcOp, Scenario, StmtKind};

const MIB: u64 = 1 << 20;
/// The guest's kernel, page cache and the runner before any scenario.
const BASE_MIB: u64 = 512;
const MIN_MIB: u64 = 1024;
const MAX_MIB: u64 = 16384;

/// Bytes a scenario can make resident at most: every region and file, once per process
/// (fork copies), plus the khugepaged keeper's touched pages.
pub fn footprint_bytes(s: &Scenario) -> u64 {
    let (mut regions, mut files, mut procs) = (0u64, 0u64, 0u64);
    for st in s.statements() {
        match &st.kind {
            StmtKind::Spawn { .. } => procs += 1,
            StmtKind::File { size_bytes, .. } => files += size_bytes,
            StmtKind::Proc { op, .. } => match op {
                ProcOp::Map { size_bytes, .. } => regions += size_bytes,
                ProcOp::Fork { .. } => procs += 1,
                _ => {}
            },
            _ => {}
        }
    }
    regions.saturating_mul(procs.max(1)) + files + 64 * 4096
}

/// Guest memory in MiB for a job: a base plus twice the largest footprint, in steps of
/// 256 MiB, between 1 and 16 GiB.
pub fn guest_mib<'a>(scenarios: impl IntoIterator<Item = &'a Scenario>) -> u64 {
    let max = scenarios
        .into_iter()
        .map(footprint_bytes)
        .max()
        .unwrap_or(0);
    let want = BASE_MIB + (2 * max).div_ceil(MIB);
    (want.div_ceil(256) * 256).clamp(MIN_MIB, MAX_MIB)
}

/// MemAvailable of the host in MiB.
pub fn host_available_mib() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/meminfo").ok()?;
    let l = t.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(l.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

/// Refuses a guest the host cannot hold (what QEMU itself needs included).
pub fn check_host(guest_mib: u64) -> Result<(), VmError> {
    let need = guest_mib + 256;
    match host_available_mib() {
        Some(have) if have < need => Err(VmError::Resources(format!(
            "the guest needs {guest_mib} MiB and QEMU about 256 MiB more; the host has {have} MiB available"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes() {
        let s = foliolab_scenario::parse("t.scn", "spawn p\np: map a 2M\np: fork c\n").unwrap();
        assert_eq!(footprint_bytes(&s), 2 * (2 << 20) + 64 * 4096);
        assert_eq!(guest_mib([&s]), 1024);
        let big = foliolab_scenario::parse("b.scn", "spawn p\np: map a 1G\np: fork c\n").unwrap();
        assert_eq!(guest_mib([&s, &big]), 4864);
    }
}
