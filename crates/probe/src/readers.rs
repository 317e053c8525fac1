//! Readers of what the kernel exposes: pagemap, /proc/kpagecount, /proc/kpageflags (folio
//! order by the head/tail walk), PAGEMAP_SCAN (the PMD bit), smaps, RSS counters, per-size
//! THP stats and vmstat.

use crate::error::{ProbeError, Result};
use crate::host::THP_DIR;
use crate::sys;
use foliolab_driver::{PageObs, SmapsObs, ZeroKind};
use foliolab_scenario::{PageState, SmapsField};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

pub const PAGE: u64 = 4096;
const PM_PFN_MASK: u64 = (1 << 55) - 1;
const PM_EXCLUSIVE: u64 = 1 << 56;
const PM_SWAP: u64 = 1 << 62;
const PM_PRESENT: u64 = 1 << 63;

/// kpageflags bit numbers and names (include/uapi/linux/kernel-page-flags.h and the
/// kernel-internal bits above 31), in bit order.
pub const KPF_NAMES: &[(u32, &str)] = &[
    (0, "LOCKED"),
    (1, "ERROR"),
    (2, "REFERENCED"),
    (3, "UPTODATE"),
    (4, "DIRTY"),
    (5, "LRU"),
    (6, "ACTIVE"),
    (7, "SLAB"),
    (8, "WRITEBACK"),
    (9, "RECLAIM"),
    (10, "BUDDY"),
    (11, "MMAP"),
    (12, "ANON"),
    (13, "SWAPCACHE"),
    (14, "SWAPBACKED"),
    (15, "COMPOUND_HEAD"),
    (16, "COMPOUND_TAIL"),
    (17, "HUGE"),
    (18, "UNEVICTABLE"),
    (19, "HWPOISON"),
    (20, "NOPAGE"),
    (21, "KSM"),
    (22, "THP"),
    (23, "OFFLINE"),
    (24, "ZERO_PAGE"),
    (25, "IDLE"),
    (26, "PGTABLE"),
    (32, "RESERVED"),
    (33, "MLOCKED"),
    (34, "MAPPEDTODISK"),
    (35, "PRIVATE"),
    (36, "PRIVATE_2"),
    (37, "OWNER_PRIVATE"),
    (38, "ARCH"),
    (39, "UNCACHED"),
    (40, "SOFTDIRTY"),
    (41, "ARCH_2"),
    (42, "ARCH_3"),
];
const KPF_LRU: u64 = 1 << 5;
const KPF_HEAD: u64 = 1 << 15;
const KPF_TAIL: u64 = 1 << 16;
const KPF_THP: u64 = 1 << 22;
const KPF_ZERO: u64 = 1 << 24;
const KPF_IDLE: u64 = 1 << 25;

/// kpageflags names of `flags`, with IDLE masked, and LRU masked on order-0 folios (spec 4.1).
pub fn flag_names(flags: u64, order: u8) -> Vec<String> {
    let mut f = flags & !KPF_IDLE;
    if order == 0 {
        f &= !KPF_LRU;
    }
    KPF_NAMES
        .iter()
        .filter(|(b, _)| f & (1u64 << b) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

// PAGEMAP_SCAN (uapi/linux/fs.h, 6.7+).
#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}
const PAGEMAP_SCAN: u64 =
    0xC000_0000 | ((std::mem::size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_HUGE: u64 = 1 << 6;

/// Opens the physical-page files once per reader.
pub struct PhysReader {
    kpagecount: File,
    kpageflags: File,
}

fn open(path: &str) -> Result<File> {
    File::open(path).map_err(|e| ProbeError::io(format!("open {path}"), e))
}

fn pread_u64s(f: &File, index: u64, n: usize, what: &str) -> Result<Vec<u64>> {
    let v = pread_u64s_upto(f, index, n, what)?;
    if v.len() < n {
        return Err(ProbeError::Host(format!(
            "short read of {what} at {index:#x}"
        )));
    }
    Ok(v)
}

/// Up to `n` entries from `index` on: fewer when the file ends first (/proc/kpageflags ends
/// at the highest PFN).
fn pread_u64s_upto(f: &File, index: u64, n: usize, what: &str) -> Result<Vec<u64>> {
    let mut buf = vec![0u8; n * 8];
    let mut done = 0;
    while done < buf.len() {
        let r = f
            .read_at(&mut buf[done..], index * 8 + done as u64)
            .map_err(|e| ProbeError::io(format!("read {what} at {index:#x}"), e))?;
        if r == 0 {
            break;
        }
        done += r;
    }
    Ok(buf[..done - done % 8]
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

impl PhysReader {
    pub fn open() -> Result<PhysReader> {
        Ok(PhysReader {
            kpagecount: open("/proc/kpagecount")?,
            kpageflags: open("/proc/kpageflags")?,
        })
    }

    pub fn flags(&self, pfn: u64) -> Result<u64> {
        Ok(pread_u64s(&self.kpageflags, pfn, 1, "kpageflags")?[0])
    }

    pub fn count(&self, pfn: u64) -> Result<u64> {
        Ok(pread_u64s(&self.kpagecount, pfn, 1, "kpagecount")?[0])
    }

    /// (head pfn, order) of the folio containing `pfn`, by walking COMPOUND_HEAD/TAIL.
    pub fn folio_of(
        &self,
        pfn: u64,
        flags: u64,
        cache: &mut HashMap<u64, u8>,
    ) -> Result<(u64, u8)> {
        let head = if flags & KPF_TAIL != 0 {
            let lo = pfn.saturating_sub(1023);
            let v = pread_u64s(&self.kpageflags, lo, (pfn - lo) as usize, "kpageflags")?;
            let mut head = pfn;
            for (i, f) in v.iter().enumerate().rev() {
                let p = lo + i as u64;
                if f & KPF_HEAD != 0 {
                    head = p;
                    break;
                }
                if f & KPF_TAIL == 0 {
                    break;
                }
            }
            head
        } else {
            pfn
        };
        if let Some(&o) = cache.get(&head) {
            return Ok((head, o));
        }
        let hf = if head == pfn {
            flags
        } else {
            self.flags(head)?
        };
        let mut nr: u64 = 1;
        if hf & KPF_HEAD != 0 {
            // A folio at the top of memory: kpageflags ends before 1023 more entries.
            let v = pread_u64s_upto(&self.kpageflags, head + 1, 1023, "kpageflags")?;
            for f in v {
                if f & KPF_TAIL == 0 || f & KPF_HEAD != 0 {
                    break;
                }
                nr += 1;
            }
        }
        let order = 63 - nr.leading_zeros() as u8;
        cache.insert(head, order);
        Ok((head, order))
    }
}

/// The pagemap of a process (also used for PAGEMAP_SCAN).
pub struct Pagemap {
    file: File,
}

impl Pagemap {
    pub fn open(pid: i32) -> Result<Pagemap> {
        Ok(Pagemap {
            file: open(&format!("/proc/{pid}/pagemap"))?,
        })
    }

    pub fn entries(&self, addr: u64, n: usize) -> Result<Vec<u64>> {
        pread_u64s(&self.file, addr / PAGE, n, "pagemap")
    }

    /// Per page of [addr, addr + n pages): PAGE_IS_HUGE (mapped by a PMD).
    pub fn huge(&self, addr: u64, n: usize) -> Result<Vec<bool>> {
        let mut out = vec![false; n];
        let end = addr + n as u64 * PAGE;
        let mut start = addr;
        let mut vec = vec![PageRegion::default(); 256];
        while start < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: 0,
                start,
                end,
                walk_end: 0,
                vec: vec.as_mut_ptr() as u64,
                vec_len: vec.len() as u64,
                max_pages: 0,
                category_inverted: 0,
                category_mask: 0,
                category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_HUGE,
            };
            // SAFETY: arg and vec are valid for the ioctl's duration; vec_len bounds writes.
            let r = unsafe { libc::ioctl(self.file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            if r < 0 {
                return Err(ProbeError::last_os("PAGEMAP_SCAN"));
            }
            for reg in &vec[..r as usize] {
                if reg.categories & PAGE_IS_HUGE != 0 {
                    let mut a = reg.start.max(addr);
                    while a < reg.end.min(end) {
                        out[((a - addr) / PAGE) as usize] = true;
                        a += PAGE;
                    }
                }
            }
            if arg.walk_end <= start {
                break;
            }
            start = arg.walk_end;
        }
        Ok(out)
    }
}

/// One observation per base page of [addr, addr + n pages).
pub fn read_pages(pid: i32, phys: &PhysReader, addr: u64, n: usize) -> Result<Vec<PageObs>> {
    let pm = Pagemap::open(pid)?;
    let entries = pm.entries(addr, n)?;
    let huge = crate::compat::pmd_bits(&pm, pid, phys, addr, n)?;
    let mut cache = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for (i, &e) in entries.iter().enumerate() {
        if e & PM_PRESENT != 0 {
            let pfn = e & PM_PFN_MASK;
            let flags = phys.flags(pfn)?;
            let (head, order) = phys.folio_of(pfn, flags, &mut cache)?;
            let zero = if flags & KPF_ZERO != 0 {
                Some(if flags & KPF_THP != 0 || order > 0 {
                    ZeroKind::Huge
                } else {
                    ZeroKind::Small
                })
            } else {
                None
            };
            out.push(PageObs {
                state: if zero.is_some() {
                    PageState::Zeropage
                } else {
                    PageState::Present
                },
                frame: Some(pfn),
                folio: Some(head),
                zero,
                order: Some(order),
                index: Some(pfn - head),
                mapcount: Some(phys.count(pfn)?),
                exclusive: Some(e & PM_EXCLUSIVE != 0),
                pmd: huge[i],
                flags: flag_names(flags, order),
                model: None,
            });
        } else if e & PM_SWAP != 0 {
            let mut p = PageObs::none();
            p.state = PageState::Swapped;
            out.push(p);
        } else {
            out.push(PageObs::none());
        }
    }
    Ok(out)
}

/// Where a longterm pin would migrate a page from: the PFN spans of ZONE_MOVABLE (from
/// /proc/zoneinfo) and whether the host has CMA memory (`CmaTotal` in /proc/meminfo), whose
/// areas are not listed per PFN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unpinnable {
    movable: Vec<(u64, u64)>,
    cma: bool,
}

impl Unpinnable {
    /// This host's.
    pub fn read() -> Unpinnable {
        Unpinnable::parse(
            &sys::read_string("/proc/zoneinfo").unwrap_or_default(),
            &sys::read_string("/proc/meminfo").unwrap_or_default(),
        )
    }

    pub fn parse(zoneinfo: &str, meminfo: &str) -> Unpinnable {
        let mut u = Unpinnable::default();
        let (mut in_movable, mut spanned) = (false, 0u64);
        for line in zoneinfo.lines() {
            let mut w = line.split_whitespace();
            match (w.next(), w.next(), w.next(), w.next()) {
                (Some("Node"), _, Some("zone"), Some(z)) => in_movable = z == "Movable",
                (Some("spanned"), Some(n), _, _) if in_movable => spanned = n.parse().unwrap_or(0),
                (Some("start_pfn:"), Some(n), _, _) if in_movable && spanned > 0 => {
                    let start: u64 = n.parse().unwrap_or(0);
                    u.movable.push((start, start + spanned));
                }
                _ => {}
            }
        }
        u.cma = meminfo.lines().any(|l| {
            l.starts_with("CmaTotal:") && l.split_whitespace().nth(1).is_some_and(|n| n != "0")
        });
        u
    }

    /// The first old frame a pin moved away from memory it may not stay pinned in, given
    /// the pagemap entries of the range before and after the pin. A frame that changed
    /// elsewhere was copied by the pin's write fault (a COW-shared page), not migrated. With
    /// CMA present, whose PFNs are not known, a change of a page that was mapped once
    /// (pagemap bit 56) counts as a possible migration.
    pub fn migrated(&self, before: &[u64], after: &[u64]) -> Option<u64> {
        before.iter().zip(after).find_map(|(&b, &a)| {
            let (old, new) = (b & PM_PFN_MASK, a & PM_PFN_MASK);
            let moved = b & a & PM_PRESENT != 0 && old != new;
            let movable = self.movable.iter().any(|&(s, e)| (s..e).contains(&old));
            (moved && (movable || (self.cma && b & PM_EXCLUSIVE != 0))).then_some(old)
        })
    }
}

/// One VMA of /proc/PID/smaps.
#[derive(Clone, Debug, Default)]
pub struct SmapsVma {
    pub start: u64,
    pub end: u64,
    pub path: String,
    /// Every `Key: N kB` line, in kB.
    pub fields: BTreeMap<String, u64>,
}

pub fn read_smaps(pid: i32) -> Result<Vec<SmapsVma>> {
    let text = sys::read_string(format!("/proc/{pid}/smaps"))?;
    let mut out: Vec<SmapsVma> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(s), Ok(e)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                if !first.ends_with(':') {
                    let path = line.split_whitespace().nth(5).unwrap_or("").to_string();
                    out.push(SmapsVma {
                        start: s,
                        end: e,
                        path,
                        fields: BTreeMap::new(),
                    });
                    continue;
                }
            }
        }
        if let (Some((k, v)), Some(cur)) = (line.split_once(':'), out.last_mut()) {
            let mut it = v.split_whitespace();
            if let (Some(n), Some("kB")) = (it.next(), it.next()) {
                if let Ok(n) = n.parse::<u64>() {
                    cur.fields.insert(k.trim().to_string(), n);
                }
            }
        }
    }
    Ok(out)
}

/// The smaps of a region's VMAs, offsets relative to `start`.
pub fn region_smaps(vmas: &[SmapsVma], start: u64, size: u64) -> Vec<SmapsObs> {
    vmas.iter()
        .filter(|v| v.end > start && v.start < start + size)
        .map(|v| SmapsObs {
            vma_start_bytes: v.start.max(start) - start,
            vma_end_bytes: v.end.min(start + size) - start,
            fields_kb: SmapsField::ALL
                .iter()
                .map(|f| (*f, v.fields.get(f.kernel_name()).copied().unwrap_or(0)))
                .collect(),
        })
        .collect()
}

/// `RssAnon`, `RssFile`, `RssShmem`, `VmSwap` of /proc/PID/status, in kB.
pub fn read_status_rss(pid: i32) -> Result<[u64; 4]> {
    let text = sys::read_string(format!("/proc/{pid}/status"))?;
    let mut out = [0u64; 4];
    for line in text.lines() {
        let idx = match line.split(':').next() {
            Some("RssAnon") => 0,
            Some("RssFile") => 1,
            Some("RssShmem") => 2,
            Some("VmSwap") => 3,
            _ => continue,
        };
        out[idx] = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
    }
    Ok(out)
}

/// Spec size name of a `hugepages-NkB` directory (16K .. 2M).
pub fn size_name(kb: u64) -> String {
    if kb >= 1024 && kb.is_multiple_of(1024) {
        format!("{}M", kb / 1024)
    } else {
        format!("{kb}K")
    }
}

/// Absolute values of every counter of spec 3.6 (sizes 16K to 2M).
pub fn read_counters() -> Result<BTreeMap<String, i64>> {
    crate::compat::refresh_counters();
    let mut out = BTreeMap::new();
    for kb in [16u64, 32, 64, 128, 256, 512, 1024, 2048] {
        let dir = format!("{THP_DIR}/hugepages-{kb}kB/stats");
        if !std::path::Path::new(&dir).exists() {
            continue;
        }
        for s in foliolab_scenario::counters::per_size_names() {
            if let Ok(t) = sys::read_string(format!("{dir}/{s}")) {
                if let Ok(v) = t.trim().parse::<i64>() {
                    out.insert(format!("{}.{s}", size_name(kb)), v);
                }
            }
        }
    }
    let vm = sys::read_string("/proc/vmstat")?;
    for line in vm.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v)) = (it.next(), it.next()) {
            if foliolab_scenario::counters::vmstat_names().any(|n| n == k) {
                if let Ok(v) = v.parse::<i64>() {
                    out.insert(k.to_string(), v);
                }
            }
        }
    }
    Ok(out)
}

/// A `Key: N kB` field of /proc/PID/smaps_rollup, in kB.
pub fn smaps_rollup_kb(pid: i32, key: &str) -> Option<u64> {
    let text = sys::read_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// One value of /proc/vmstat.
pub fn vmstat_value(name: &str) -> Option<u64> {
    let vm = sys::read_string("/proc/vmstat").ok()?;
    vm.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(name)).then(|| it.next()?.parse().ok())?
    })
}

/// Host-wide THP event counters and gauges other processes move (vmstat).
const HOST_THP_COUNTERS: [&str; 7] = [
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_collapse_alloc",
    "thp_split_pmd",
    "thp_split_page",
    "thp_deferred_split_page",
    "nr_anon_transparent_hugepages",
];

fn host_thp_counters() -> Vec<Option<u64>> {
    HOST_THP_COUNTERS.iter().map(|n| vmstat_value(n)).collect()
}

/// Waits until no other process moves the host's THP counters for `quiet` (polling every
/// 250 ms), at most `max`; true when the host went quiet.
pub fn wait_for_quiet_thp_counters(quiet: std::time::Duration, max: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    let mut last = host_thp_counters();
    let mut since = std::time::Instant::now();
    while start.elapsed() < max {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let now = host_thp_counters();
        if now != last {
            last = now;
            since = std::time::Instant::now();
        } else if since.elapsed() >= quiet {
            return true;
        }
    }
    false
}

/// DAMON monitoring of physical memory running on this host, one description per monitor
/// (`kdamond.0 (pid 107): paddr, a sample every 500000 us`); empty when none runs. Its
/// sampling (`damon_ptep_mkold`) clears the accessed bit of a sampled folio's PTEs in every
/// process and sets the folio's PG_young instead, which smaps counts as `Referenced` in every
/// process mapping it (docs/workloads.md). Kernel threads named `kdamond.N`, described from
/// the sysfs interface where it shows their operations; monitors of the DAMON modules
/// (`damon_reclaim`, `damon_lru_sort`, `damon_stat`) are physical-address ones.
pub fn damon_paddr_monitors() -> Vec<String> {
    let admin = "/sys/kernel/mm/damon/admin/kdamonds";
    let mut sysfs_pids = std::collections::BTreeMap::new();
    for k in 0..sys::read_string(format!("{admin}/nr_kdamonds"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0)
    {
        let d = format!("{admin}/{k}");
        let pid = sys::read_string(format!("{d}/pid")).unwrap_or_default();
        let ops = sys::read_string(format!("{d}/contexts/0/operations")).unwrap_or_default();
        let sample = sys::read_string(format!(
            "{d}/contexts/0/monitoring_attrs/intervals/sample_us"
        ))
        .unwrap_or_default();
        sysfs_pids.insert(
            pid.trim().to_string(),
            (ops.trim().to_string(), sample.trim().to_string()),
        );
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        let Ok(comm) = sys::read_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let comm = comm.trim();
        if !comm.starts_with("kdamond.") {
            continue;
        }
        match sysfs_pids.get(&pid) {
            Some((ops, _)) if ops != "paddr" => {}
            Some((_, us)) => out.push(format!("{comm} (pid {pid}): paddr, a sample every {us} us")),
            None => out.push(format!(
                "{comm} (pid {pid}): a DAMON module's monitor (paddr)"
            )),
        }
    }
    out.sort();
    out
}

/// Sum of the per-size `nr_anon_partially_mapped` gauges (the `shrink` loop's measure).
pub fn partially_mapped_total() -> Result<i64> {
    Ok(read_counters()?
        .iter()
        .filter(|(k, _)| k.ends_with(".nr_anon_partially_mapped"))
        .map(|(_, v)| v)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(size_name(2048), "2M");
        assert_eq!(size_name(64), "64K");
        assert_eq!(size_name(1024), "1M");
        let f = (1 << 5) | (1 << 25) | (1 << 12);
        assert_eq!(flag_names(f, 0), vec!["ANON".to_string()]);
        assert_eq!(
            flag_names(f, 4),
            vec!["LRU".to_string(), "ANON".to_string()]
        );
        assert_eq!(std::mem::size_of::<PmScanArg>(), 96);
    }

    #[test]
    fn reads_stop_at_the_end_of_the_file() {
        let p = std::env::temp_dir().join(format!("foliolab-pread-{}", std::process::id()));
        let words: Vec<u8> = [1u64, 2, 3].iter().flat_map(|w| w.to_ne_bytes()).collect();
        std::fs::write(&p, words).expect("write");
        let f = File::open(&p).expect("open");
        assert_eq!(pread_u64s_upto(&f, 1, 1023, "t").expect("read"), vec![2, 3]);
        assert!(pread_u64s(&f, 1, 3, "t").is_err());
        assert_eq!(pread_u64s(&f, 0, 3, "t").expect("read"), vec![1, 2, 3]);
        let _ = std::fs::remove_file(&p);
    }

    const ZONEINFO: &str = "Node 0, zone   Normal\n  pages free     1\n        spanned  5505024\n        present  5505024\n  start_pfn:           1048576\nNode 0, zone  Movable\n  pages free     0\n        spanned  4096\n        present  4096\n  start_pfn:           6553600\n";

    #[test]
    fn a_cow_copy_is_not_a_migration() {
        let u = Unpinnable::parse(ZONEINFO, "MemTotal: 1 kB\n");
        let present = |pfn: u64, excl: bool| PM_PRESENT | pfn | if excl { PM_EXCLUSIVE } else { 0 };
        // A shared page in ZONE_NORMAL copied by the pin's write fault.
        assert_eq!(
            u.migrated(&[present(0x100000, false)], &[present(0x100100, true)]),
            None
        );
        // An exclusive page of ZONE_NORMAL that changed: still not ZONE_MOVABLE.
        assert_eq!(
            u.migrated(&[present(0x100000, true)], &[present(0x100100, true)]),
            None
        );
        // A page of ZONE_MOVABLE moved away.
        assert_eq!(
            u.migrated(&[present(6553601, true)], &[present(0x100100, true)]),
            Some(6553601)
        );
        // Unchanged, or not present before: nothing.
        assert_eq!(
            u.migrated(&[present(6553601, true)], &[present(6553601, true)]),
            None
        );
        assert_eq!(u.migrated(&[0], &[present(0x100100, true)]), None);
    }

    #[test]
    fn cma_counts_a_changed_exclusive_page() {
        let u = Unpinnable::parse("", "CmaTotal:  16384 kB\n");
        let present = |pfn: u64, excl: bool| PM_PRESENT | pfn | if excl { PM_EXCLUSIVE } else { 0 };
        assert_eq!(
            u.migrated(&[present(0x5, true)], &[present(0x6, true)]),
            Some(5)
        );
        assert_eq!(
            u.migrated(&[present(0x5, false)], &[present(0x6, true)]),
            None
        );
        assert_eq!(
            Unpinnable::parse("", "CmaTotal: 0 kB\n"),
            Unpinnable::default()
        );
    }
}
