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
    let mut buf = vec![0u8; n * 8];
    let mut done = 0;
    while done < buf.len() {
        let r = f
            .read_at(&mut buf[done..], index * 8 + done as u64)
            .map_err(|e| ProbeError::io(format!("read {what} at {index:#x}"), e))?;
        if r == 0 {
            return Err(ProbeError::Host(format!(
                "short read of {what} at {index:#x}"
            )));
        }
        done += r;
    }
    Ok(buf
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Up to `n` entries from `index` on: fewer where the file ends (the last PFN of memory).
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
}
