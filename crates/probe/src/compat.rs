//! What older kernels lack, handled explicitly, so the same runner works on this machine's
//! 6.18 and on every generation a VM boots (`foliolab probe --kernel 6.1`):
//!
//! - per-size anon mTHP knobs (`hugepages-*kB/enabled`) exist from 6.8, per-size shmem knobs
//!   from 6.12 (`hugepages-*kB/shmem_enabled`): before that the PMD size follows the
//!   top-level knob, so a scenario's `2M=` (and `shmem.2M=`) is folded into `enabled`
//!   (`shmem_enabled`); any other size can only be `never` there, and a scenario that wants
//!   it is unsupported;
//! - madvise advice newer than the kernel (MADV_COLD/PAGEOUT 5.4, MADV_POPULATE_* 5.14,
//!   MADV_COLLAPSE 6.1) makes the scenario unsupported;
//! - before 6.2 the RSS counters of /proc/PID/status lag (per-task caching,
//!   SPLIT_RSS_COUNTING): the runner sums smaps instead ([`rss_from_smaps_kb`]);
//! - PAGEMAP_SCAN exists from 6.7: before that "mapped by a PMD" comes from smaps
//!   ([`pmd_bits`]);
//! - counters a kernel does not have are not shown ([`shows_counter`]): `expect stat` of
//!   one is `skipped(kernel)`.
//!
//! Version checks use the running kernel's release (`uname -r`); a release foliolab cannot
//! parse counts as new (everything supported).

use crate::error::{ProbeError, Result};
use crate::host::THP_DIR;
use crate::readers::{Pagemap, PhysReader, SmapsVma, PAGE};
use foliolab_scenario::{Advice, ProcOp, Stmt, StmtKind, ThpKey, ThpSetting};
use std::path::Path;
use std::sync::OnceLock;

/// `MAJOR.MINOR` of a kernel release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// `6.1.0-57-amd64` → 6.1.
    pub fn from_release(release: &str) -> Option<KernelVersion> {
        let mut it = release.split(['.', '-', '+']);
        let major = it.next()?.parse().ok()?;
        let minor_text: String = it
            .next()?
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        Some(KernelVersion {
            major,
            minor: minor_text.parse().ok()?,
        })
    }
}

/// The running kernel's version (`None` if the release does not parse).
pub fn running() -> Option<KernelVersion> {
    static V: OnceLock<Option<KernelVersion>> = OnceLock::new();
    *V.get_or_init(|| KernelVersion::from_release(&crate::sys::kernel_release()))
}

fn older_than(major: u32, minor: u32) -> bool {
    running().is_some_and(|v| v < KernelVersion::new(major, minor))
}

fn knob_exists(knob: &str) -> bool {
    Path::new(THP_DIR).join(knob).exists()
}

/// Folds per-size PMD knobs into the top-level ones where the kernel has no per-size knobs:
/// `hugepages-2048kB/enabled=X` (X not `inherit`) becomes `enabled=X`, and the same for
/// `shmem_enabled`. Knobs this kernel has pass unchanged; `exists` says which it has.
pub fn fold_legacy_knobs(
    knobs: Vec<(String, String)>,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let pairs = [
        ("hugepages-2048kB/enabled", "enabled"),
        ("hugepages-2048kB/shmem_enabled", "shmem_enabled"),
    ];
    let mut out = knobs;
    for (size_knob, top) in pairs {
        if exists(size_knob) {
            continue;
        }
        let v = out
            .iter()
            .find(|(k, _)| k == size_knob)
            .map(|(_, v)| v.clone());
        if let Some(v) = v.filter(|v| v != "inherit") {
            if let Some(e) = out.iter_mut().find(|(k, _)| k == top) {
                e.1 = v;
            }
        }
    }
    out
}

/// Why a `thp` setting cannot be applied on this kernel, if it cannot. `knob` is its file
/// under the THP directory.
pub fn thp_setting_unsupported(s: &ThpSetting, knob: &str) -> Option<String> {
    thp_setting_unsupported_with(s, knob, &knob_exists)
}

fn thp_setting_unsupported_with(
    s: &ThpSetting,
    knob: &str,
    exists: &dyn Fn(&str) -> bool,
) -> Option<String> {
    if exists(knob) {
        return None;
    }
    let (order, top) = match s.key {
        ThpKey::Size(o) => (o, "enabled"),
        ThpKey::ShmemSize(o) => (o, "shmem_enabled"),
        _ => return Some(format!("THP knob {knob} does not exist on this kernel")),
    };
    if order == 9 && exists(top) {
        return None; // folded into the top-level knob
    }
    if order < 9 && s.value == "never" {
        return None; // no mTHP of that size exists here
    }
    let since = if top == "enabled" { "6.8" } else { "6.12" };
    Some(format!(
        "THP knob {knob} does not exist on this kernel (per-size knobs arrived in {since}; only the PMD size can be set here)"
    ))
}

/// The first kernel version with an advice.
fn advice_since(a: Advice) -> Option<KernelVersion> {
    match a {
        Advice::Cold | Advice::Pageout => Some(KernelVersion::new(5, 4)),
        Advice::PopulateRead | Advice::PopulateWrite => Some(KernelVersion::new(5, 14)),
        Advice::Collapse => Some(KernelVersion::new(6, 1)),
        _ => None,
    }
}

/// Why a statement cannot run on this kernel's generation (beyond the knobs), if it cannot.
pub fn statement_unsupported(st: &Stmt) -> Option<String> {
    let v = running()?;
    statement_unsupported_on(st, v)
}

fn statement_unsupported_on(st: &Stmt, v: KernelVersion) -> Option<String> {
    if let StmtKind::Proc {
        op: ProcOp::Advise { advice, .. },
        ..
    } = &st.kind
    {
        if let Some(since) = advice_since(*advice).filter(|s| v < *s) {
            return Some(format!(
                "line {}: advise {} needs Linux {}.{} (this is {}.{})",
                st.pos.line,
                advice.name(),
                since.major,
                since.minor,
                v.major,
                v.minor
            ));
        }
    }
    None
}

/// Whether /proc/PID/status RSS counters lag on this kernel (SPLIT_RSS_COUNTING, < 6.2).
pub fn rss_lags() -> bool {
    older_than(6, 2)
}

/// A scenario region as the RSS sum needs it.
pub struct RegionSpan {
    pub addr: u64,
    pub size: u64,
    /// Backed by tmpfs (shared anonymous memory, memfd): its page-cache pages count as
    /// RssShmem.
    pub shmem: bool,
    /// A shared mapping (MAP_SHARED).
    pub shared: bool,
}

/// Which RSS counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssCounter {
    Anon,
    File,
    Shmem,
    Swap,
}

/// The regions' RSS from smaps, in kB: anon pages (`Anonymous`), tmpfs pages of shmem
/// regions (`Rss - Anonymous`), file pages of other regions, and `Swap` of every mapping but
/// shared tmpfs ones (whose page tables hold no swap entries: smaps' `Swap` there counts the
/// file's swapped pages). For a private tmpfs mapping smaps also counts the file's swapped
/// pages under holes; scenarios do not swap those. Used where /proc/PID/status lags.
pub fn rss_from_smaps_kb(vmas: &[SmapsVma], regions: &[RegionSpan], which: RssCounter) -> u64 {
    let f = |v: &SmapsVma, k: &str| v.fields.get(k).copied().unwrap_or(0);
    let mut kb = 0;
    for v in vmas {
        let Some(r) = regions
            .iter()
            .find(|r| v.end > r.addr && v.start < r.addr + r.size)
        else {
            continue;
        };
        let rest = f(v, "Rss").saturating_sub(f(v, "Anonymous"));
        kb += match which {
            RssCounter::Anon => f(v, "Anonymous"),
            RssCounter::Shmem if r.shmem => rest,
            RssCounter::File if !r.shmem => rest,
            RssCounter::Swap if !(r.shmem && r.shared) => f(v, "Swap"),
            _ => 0,
        };
    }
    kb
}

/// Whether an error of the PAGEMAP_SCAN ioctl means the kernel has none (before 6.7).
fn no_pagemap_scan(e: &ProbeError) -> bool {
    matches!(e, ProbeError::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EINVAL)))
}

/// Per page of [addr, addr + n pages): mapped by a PMD? PAGEMAP_SCAN's PAGE_IS_HUGE where the
/// kernel has it; else [`pmd_by_smaps`].
pub fn pmd_bits(
    pm: &Pagemap,
    pid: i32,
    phys: &PhysReader,
    addr: u64,
    n: usize,
) -> Result<Vec<Option<bool>>> {
    match pm.huge(addr, n) {
        Ok(h) => Ok(h.into_iter().map(Some).collect()),
        Err(e) if no_pagemap_scan(&e) => pmd_by_smaps(pm, pid, phys, addr, n),
        Err(e) => Err(e),
    }
}

const PMD_PAGES: u64 = 512;
const PMD_BYTES: u64 = PMD_PAGES * PAGE;
const KPF_THP: u64 = 1 << 22;
const KPF_ZERO: u64 = 1 << 24;

/// What one 2 MiB-aligned block of a VMA holds, for the PMD fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// The huge zero folio: only ever mapped by a PMD.
    HugeZero,
    /// One order-9 folio mapped in order, head first: PMD-mapped or 512 PTEs.
    Candidate,
    Other,
}

fn classify_block(pm: &Pagemap, phys: &PhysReader, start: u64) -> Result<Block> {
    let e = pm.entries(start, PMD_PAGES as usize)?;
    let present = 1u64 << 63;
    let pfn_mask = (1u64 << 55) - 1;
    if e.iter().any(|x| x & present == 0) {
        return Ok(Block::Other);
    }
    let pfn0 = e[0] & pfn_mask;
    if !pfn0.is_multiple_of(PMD_PAGES)
        || e.iter()
            .enumerate()
            .any(|(i, x)| x & pfn_mask != pfn0 + i as u64)
    {
        return Ok(Block::Other);
    }
    let flags = phys.flags(pfn0)?;
    let (head, order) = phys.folio_of(pfn0, flags, &mut std::collections::HashMap::new())?;
    if head != pfn0 || order != 9 {
        return Ok(Block::Other);
    }
    Ok(if flags & KPF_ZERO != 0 && flags & KPF_THP != 0 {
        Block::HugeZero
    } else {
        Block::Candidate
    })
}

/// "Mapped by a PMD" without PAGEMAP_SCAN: in each VMA, smaps' `AnonHugePages`,
/// `ShmemPmdMapped` and `FilePmdMapped` count the PMD-mapped THPs; the blocks that could be
/// PMD-mapped are the 2 MiB-aligned blocks holding one order-9 folio in order. When the two
/// counts agree every candidate is PMD-mapped, when smaps counts none none is, and in
/// between the pages of candidates are unknown (`None`). The huge zero folio is always
/// PMD-mapped.
pub fn pmd_by_smaps(
    pm: &Pagemap,
    pid: i32,
    phys: &PhysReader,
    addr: u64,
    n: usize,
) -> Result<Vec<Option<bool>>> {
    let end = addr + n as u64 * PAGE;
    let mut out = vec![Some(false); n];
    for v in crate::readers::read_smaps(pid)?
        .iter()
        .filter(|v| v.end > addr && v.start < end)
    {
        let f = |k: &str| v.fields.get(k).copied().unwrap_or(0);
        let pmd_mapped = (f("AnonHugePages") + f("ShmemPmdMapped") + f("FilePmdMapped")) / 2048;
        let mut blocks = Vec::new();
        let mut b = v.start.div_ceil(PMD_BYTES) * PMD_BYTES;
        while b + PMD_BYTES <= v.end {
            blocks.push((b, classify_block(pm, phys, b)?));
            b += PMD_BYTES;
        }
        let candidates = blocks
            .iter()
            .filter(|(_, k)| *k == Block::Candidate)
            .count() as u64;
        let verdict = if pmd_mapped == candidates {
            Some(true)
        } else if pmd_mapped == 0 {
            Some(false)
        } else {
            None
        };
        for (start, kind) in blocks {
            let bit = match kind {
                Block::HugeZero => Some(true),
                Block::Candidate => verdict,
                Block::Other => continue,
            };
            for i in 0..PMD_PAGES {
                let a = start + i * PAGE;
                if a >= addr && a < end {
                    out[((a - addr) / PAGE) as usize] = bit;
                }
            }
        }
    }
    Ok(out)
}

/// The pid of the khugepaged thread (it is restarted when THP goes `never` and back).
fn khugepaged_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "khugepaged").then_some(pid)
    })
}

/// khugepaged's scheduler state (`R`, `S`, `D`, ...), from /proc/PID/stat.
fn khugepaged_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Waits `min`, then until khugepaged sleeps (three looks 10 ms apart find it neither
/// running nor in an uninterruptible wait), at most 10 s: a pass a knob write started
/// must be over before a scenario goes on, however slow the machine (a VM under TCG runs a
/// pass many times slower than the host).
pub fn settle_khugepaged(min: std::time::Duration) {
    std::thread::sleep(min);
    let Some(pid) = khugepaged_pid() else {
        return;
    };
    let t = std::time::Instant::now();
    let mut quiet = 0;
    while quiet < 3 && t.elapsed() < std::time::Duration::from_secs(10) {
        match khugepaged_state(pid) {
            Some('R') | Some('D') => quiet = 0,
            _ => quiet += 1,
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Folds the per-CPU deltas of the vmstat counters into the totals /proc/vmstat shows
/// (`/proc/sys/vm/stat_refresh`), on kernels that count THPs in THP units (before 5.13 a
/// THP moved `nr_anon_transparent_hugepages` by 1, below the per-CPU batching threshold, so
/// the total lagged: 5.10 showed it 0 or 1 for the same run). Newer kernels count pages
/// and the total is exact without it.
pub fn refresh_counters() {
    if older_than(5, 13) {
        let _ = std::fs::write("/proc/sys/vm/stat_refresh", "1");
    }
}

/// Whether this kernel shows counter `name` (spec 3.6 names): a per-size stat file or a
/// /proc/vmstat line.
pub fn shows_counter(name: &str) -> bool {
    if let Some((size, stat)) = name.split_once('.') {
        let kb = match size.strip_suffix('M') {
            Some(m) => m.parse::<u64>().map(|m| m * 1024),
            None => size.trim_end_matches('K').parse::<u64>(),
        };
        return kb.is_ok_and(|kb| knob_exists(&format!("hugepages-{kb}kB/stats/{stat}")));
    }
    crate::sys::read_string("/proc/vmstat")
        .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().next() == Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_scenario::Pos;

    #[test]
    fn releases() {
        let v = |s| KernelVersion::from_release(s);
        assert_eq!(v("6.1.0-57-amd64"), Some(KernelVersion::new(6, 1)));
        assert_eq!(v("6.12.118+deb12-amd64"), Some(KernelVersion::new(6, 12)));
        assert_eq!(v("7.2.13+deb14-amd64"), Some(KernelVersion::new(7, 2)));
        assert_eq!(v("6.18.44-fc-v657"), Some(KernelVersion::new(6, 18)));
        assert_eq!(v("5.10.0-46-amd64"), Some(KernelVersion::new(5, 10)));
        assert_eq!(v("6.8-rc3"), Some(KernelVersion::new(6, 8)));
        assert_eq!(v("weird"), None);
        assert!(KernelVersion::new(5, 10) < KernelVersion::new(6, 1));
        assert!(KernelVersion::new(6, 2) < KernelVersion::new(6, 12));
    }

    fn setting(key: ThpKey, value: &str) -> ThpSetting {
        ThpSetting {
            key,
            value: value.into(),
        }
    }

    #[test]
    fn legacy_knobs_fold_the_pmd_size() {
        let old = |k: &str| !k.starts_with("hugepages-");
        let knobs = vec![
            ("enabled".to_string(), "madvise".to_string()),
            ("shmem_enabled".into(), "never".into()),
            ("hugepages-2048kB/enabled".into(), "never".into()),
            ("hugepages-2048kB/shmem_enabled".into(), "inherit".into()),
        ];
        let f = fold_legacy_knobs(knobs.clone(), &old);
        assert!(f.contains(&("enabled".into(), "never".into())));
        assert!(f.contains(&("shmem_enabled".into(), "never".into())));
        // A kernel with per-size knobs keeps them as they are.
        assert_eq!(fold_legacy_knobs(knobs.clone(), &|_| true), knobs);
        let old = |k: &str| !k.starts_with("hugepages-") && k != "shrink_underused";
        let s = |k, knob, v| thp_setting_unsupported_with(&setting(k, v), knob, &old);
        assert_eq!(
            s(ThpKey::Size(9), "hugepages-2048kB/enabled", "always"),
            None
        );
        assert_eq!(s(ThpKey::Size(4), "hugepages-64kB/enabled", "never"), None);
        let m = s(ThpKey::Size(4), "hugepages-64kB/enabled", "madvise");
        assert!(m.is_some_and(|m| m.contains("6.8")));
        let m = s(
            ThpKey::ShmemSize(4),
            "hugepages-64kB/shmem_enabled",
            "always",
        );
        assert!(m.is_some_and(|m| m.contains("6.12")));
        assert!(s(ThpKey::ShrinkUnderused, "shrink_underused", "on").is_some());
        let new = |_: &str| true;
        let m = thp_setting_unsupported_with(
            &setting(ThpKey::Size(4), "madvise"),
            "hugepages-64kB/enabled",
            &new,
        );
        assert_eq!(m, None);
    }

    #[test]
    fn advice_by_version() {
        let st = |advice| Stmt {
            pos: Pos { line: 3, column: 1 },
            kind: StmtKind::Proc {
                proc: "p".into(),
                op: ProcOp::Advise {
                    range: foliolab_scenario::Range {
                        region: "a".into(),
                        form: foliolab_scenario::RangeForm::Whole,
                        pos: Pos::default(),
                    },
                    advice,
                },
            },
            comment: None,
        };
        let on = |a, maj, min| statement_unsupported_on(&st(a), KernelVersion::new(maj, min));
        assert!(on(Advice::Collapse, 5, 10)
            .unwrap()
            .contains("needs Linux 6.1"));
        assert_eq!(on(Advice::Collapse, 6, 1), None);
        assert!(on(Advice::PopulateWrite, 5, 10).is_some());
        assert_eq!(on(Advice::PopulateWrite, 6, 1), None);
        assert_eq!(on(Advice::Hugepage, 5, 10), None);
    }

    #[test]
    fn rss_sums_by_region_kind() {
        let vma = |start: u64, end: u64, fields: &[(&str, u64)]| SmapsVma {
            start,
            end,
            path: String::new(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        let vmas = vec![
            vma(0x1000, 0x2000, &[("Rss", 999), ("Anonymous", 999)]), // the helper's own
            vma(
                0x10000,
                0x20000,
                &[("Rss", 64), ("Anonymous", 48), ("Swap", 8)],
            ),
            vma(
                0x40000,
                0x50000,
                &[("Rss", 32), ("Anonymous", 4), ("Swap", 12)],
            ),
        ];
        let regions = [
            RegionSpan {
                addr: 0x10000,
                size: 0x10000,
                shmem: false,
                shared: false,
            },
            RegionSpan {
                addr: 0x40000,
                size: 0x10000,
                shmem: true,
                shared: true,
            },
        ];
        let kb = |w| rss_from_smaps_kb(&vmas, &regions, w);
        assert_eq!(kb(RssCounter::Anon), 52);
        assert_eq!(kb(RssCounter::File), 16);
        assert_eq!(kb(RssCounter::Shmem), 28);
        assert_eq!(kb(RssCounter::Swap), 8);
    }
}
