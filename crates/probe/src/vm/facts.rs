//! What a kernel exposes, as the guest reports it once per boot (`@fl fact KEY VALUE`):
//! the THP knobs and their boot values, the per-size stat files, the `thp_*` counters of
//! /proc/vmstat, whether PAGEMAP_SCAN exists, the smaps fields, the zram compressor.
//! `foliolab probe --kernel K --facts` prints them; the per-era notes are built from them.

use crate::host::THP_DIR;
use std::path::Path;

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn knob_values() -> String {
    let mut v = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut walk = |dir: &str, prefix: &str| {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut e: Vec<_> = rd.flatten().collect();
            e.sort_by_key(|x| x.file_name());
            for x in e {
                let n = x.file_name().to_string_lossy().to_string();
                if x.path().is_file() {
                    names.push(format!("{prefix}{n}"));
                }
            }
        }
    };
    walk(THP_DIR, "");
    walk(&format!("{THP_DIR}/khugepaged"), "khugepaged/");
    walk(&format!("{THP_DIR}/hugepages-2048kB"), "hugepages-2048kB/");
    for n in names {
        if let Some(t) = read(&format!("{THP_DIR}/{n}")) {
            let val = crate::sys::knob_value(&t);
            v.push(format!("{n}={}", val.replace(' ', "_")));
        }
    }
    v.join(" ")
}

fn per_size_dirs() -> String {
    let mut v: Vec<u64> = std::fs::read_dir(THP_DIR)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    n.strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.iter()
        .map(|kb| format!("{kb}kB"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn dir_names(dir: &str) -> String {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(" ")
}

fn vmstat_thp() -> String {
    read("/proc/vmstat")
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|n| {
                    n.starts_with("thp_")
                        || n.contains("anon_transparent")
                        || n.contains("_pmdmapped")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn smaps_fields() -> String {
    read("/proc/self/smaps")
        .map(|t| {
            let mut seen = Vec::new();
            for l in t.lines().skip(1) {
                let Some((k, _)) = l.split_once(':') else {
                    continue;
                };
                if k.contains(' ') || k.contains('-') {
                    break; // the next VMA's header
                }
                seen.push(k.to_string());
            }
            seen.join(" ")
        })
        .unwrap_or_default()
}

fn pagemap_scan() -> String {
    let Ok(pm) = crate::readers::Pagemap::open(std::process::id() as i32) else {
        return "unknown".into();
    };
    let probe = vec![0u8; 4096];
    match pm.huge(probe.as_ptr() as u64 & !4095, 1) {
        Ok(_) => "yes".into(),
        Err(e) => format!("no ({e})"),
    }
}

/// The spec 3.6 counters this kernel shows (`check --kernel` compares only these).
fn shown_counters() -> String {
    foliolab_scenario::counters::all_counters()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| crate::compat::shows_counter(n))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every fact, in a fixed order.
pub fn collect() -> Vec<(String, String)> {
    let mut v = vec![
        ("release".to_string(), crate::sys::kernel_release()),
        ("version".into(), read("/proc/version").unwrap_or_default()),
        (
            "cpus".into(),
            std::thread::available_parallelism()
                .map_or(0, |n| n.get())
                .to_string(),
        ),
        (
            "mem_total".into(),
            read("/proc/meminfo")
                .and_then(|t| {
                    t.lines()
                        .next()
                        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
                })
                .unwrap_or_default(),
        ),
        ("thp_knobs".into(), knob_values()),
        ("thp_sizes".into(), per_size_dirs()),
        (
            "per_size_stats".into(),
            dir_names(&format!("{THP_DIR}/hugepages-2048kB/stats")),
        ),
        ("vmstat_thp".into(), vmstat_thp()),
        ("counters".into(), shown_counters()),
        ("smaps_fields".into(), smaps_fields()),
        ("pagemap_scan".into(), pagemap_scan()),
        (
            "kpageflags".into(),
            Path::new("/proc/kpageflags").exists().to_string(),
        ),
        (
            "lru_gen".into(),
            read("/sys/kernel/mm/lru_gen/enabled").unwrap_or_else(|| "absent".into()),
        ),
        (
            "zram".into(),
            read("/sys/block/zram0/comp_algorithm").unwrap_or_else(|| "absent".into()),
        ),
        (
            "rootfs".into(),
            read("/proc/mounts")
                .and_then(|m| m.lines().next().map(String::from))
                .unwrap_or_default(),
        ),
    ];
    v.retain(|(_, val)| !val.is_empty());
    v
}
