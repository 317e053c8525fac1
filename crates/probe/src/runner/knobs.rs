//! THP knobs for a run, khugepaged's pause and its explicit passes, and the deferred-split
//! shrinker.

use super::{place, KernelRunner, REGION_BASE};
use crate::error::{ProbeError, Result};
use crate::host::{self, keeper::Keeper, KHUGEPAGED_PAUSE_MS, THP_DIR};
use crate::readers;
use crate::runner::proc::start_helper;
use crate::sys;
use foliolab_scenario::{ThpKey, ThpSetting};
use std::time::{Duration, Instant};

/// The knob (relative to the THP directory) of a `thp` key.
pub(super) fn thp_knob(key: ThpKey) -> String {
    match key {
        ThpKey::Enabled => "enabled".into(),
        ThpKey::Size(o) => format!("hugepages-{}kB/enabled", 4u64 << o),
        ThpKey::Defrag => "defrag".into(),
        ThpKey::ZeroPage => "use_zero_page".into(),
        ThpKey::ShrinkUnderused => "shrink_underused".into(),
        ThpKey::MaxPtesNone => "khugepaged/max_ptes_none".into(),
        ThpKey::MaxPtesSwap => "khugepaged/max_ptes_swap".into(),
        ThpKey::MaxPtesShared => "khugepaged/max_ptes_shared".into(),
        ThpKey::Shmem => "shmem_enabled".into(),
        ThpKey::ShmemSize(o) => format!("hugepages-{}kB/shmem_enabled", 4u64 << o),
    }
}

fn knob_text(key: ThpKey, value: &str) -> String {
    match (key, value) {
        (ThpKey::ZeroPage | ThpKey::ShrinkUnderused, "on") => "1".into(),
        (ThpKey::ZeroPage | ThpKey::ShrinkUnderused, "off") => "0".into(),
        _ => value.to_string(),
    }
}

/// Every knob's value for a run: the spec defaults (this machine's boot values) overridden
/// by the `thp` statement, plus khugepaged paused.
pub fn run_knobs(settings: &[ThpSetting]) -> Vec<(String, String)> {
    let mut v: Vec<(ThpKey, String)> = vec![
        (ThpKey::Enabled, "madvise".into()),
        (ThpKey::Defrag, "madvise".into()),
        (ThpKey::ZeroPage, "on".into()),
        (ThpKey::ShrinkUnderused, "on".into()),
        (ThpKey::MaxPtesNone, "511".into()),
        (ThpKey::MaxPtesSwap, "64".into()),
        (ThpKey::MaxPtesShared, "256".into()),
        (ThpKey::Shmem, "never".into()),
    ];
    for o in 2..=9u8 {
        let default = if o == 9 { "inherit" } else { "never" };
        v.push((ThpKey::Size(o), default.into()));
        v.push((ThpKey::ShmemSize(o), default.into()));
    }
    for s in settings {
        if let Some(e) = v.iter_mut().find(|(k, _)| *k == s.key) {
            e.1 = s.value.clone();
        }
    }
    let mut out: Vec<(String, String)> = v
        .into_iter()
        .map(|(k, val)| (thp_knob(k), knob_text(k, &val)))
        .collect();
    for (k, val) in [
        ("khugepaged/scan_sleep_millisecs", KHUGEPAGED_PAUSE_MS),
        ("khugepaged/pages_to_scan", "4096"),
        ("hugepages-8kB/shmem_enabled", "never"),
        ("anon_beside_full", "0"),
    ] {
        out.push((k.into(), val.into()));
    }
    out
}

fn full_scans() -> Result<u64> {
    khugepaged_stat("full_scans")
}

/// Pages khugepaged collapsed so far: the pause holds while this does not move.
pub(super) fn pages_collapsed() -> Result<u64> {
    khugepaged_stat("pages_collapsed")
}

fn khugepaged_stat(name: &str) -> Result<u64> {
    sys::read_string(format!("{THP_DIR}/khugepaged/{name}"))?
        .trim()
        .parse()
        .map_err(|_| ProbeError::Host(format!("bad khugepaged/{name}")))
}

pub(super) fn debug(what: &str) {
    if std::env::var_os("FOLIOLAB_PROBE_DEBUG").is_some() {
        eprintln!("probe debug: {what}: full_scans {:?}", full_scans().ok());
    }
}

fn sleep_knob() -> String {
    format!("{THP_DIR}/khugepaged/scan_sleep_millisecs")
}

impl KernelRunner<'_> {
    /// Starts the khugepaged keeper once per guard.
    fn ensure_keeper(&mut self) -> Result<()> {
        if self.guard.keeper.is_none() {
            let (child, pidfd) = start_helper(&self.opts)?;
            let addr = place(REGION_BASE, 1 << 30, 0);
            self.guard.keeper = Some(Keeper::start(child, pidfd, addr, 128 << 20)?);
        }
        Ok(())
    }

    pub(super) fn apply_thp(&mut self, settings: &[ThpSetting]) -> Result<()> {
        let exists = |k: &str| self.guard.original(k).is_some();
        let knobs: Vec<(String, String)> =
            crate::compat::fold_legacy_knobs(run_knobs(settings), &exists)
                .into_iter()
                .filter(|(k, _)| exists(k))
                .collect();
        let was_paused = self.guard.saved_knobs().is_empty()
            || sys::read_knob(sleep_knob())? == KHUGEPAGED_PAUSE_MS;
        self.guard.set_knobs(&knobs)?;
        debug("after knobs");
        // Register the keeper (again): khugepaged drops an mm it scanned through, and a
        // restarted khugepaged thread (2M enabled after `never`) starts with an empty list.
        self.ensure_keeper()?;
        if let Some(k) = &mut self.guard.keeper {
            k.advise()?;
        }
        debug("after keeper");
        // Writing the sleep wakes khugepaged for one pass (inside the keeper), and so does
        // any THP knob write while its list is not empty (start_stop_khugepaged): let the
        // pass end before a scenario process exists, however slow the machine.
        let min = if was_paused { 0 } else { 100 };
        crate::compat::settle_khugepaged(Duration::from_millis(min));
        self.thp_applied = true;
        Ok(())
    }

    /// `shrink`: drop_caches=2 runs the deferred-split shrinker; repeat until the
    /// partially-mapped count stops moving.
    pub(super) fn shrink(&mut self) -> Result<()> {
        let mut last = readers::partially_mapped_total()?;
        for _ in 0..5 {
            sys::write_knob("/proc/sys/vm/drop_caches", "2")?;
            let now = readers::partially_mapped_total()?;
            if now == last {
                break;
            }
            last = now;
        }
        Ok(())
    }

    /// `khugepaged`: lets it run two full scans, then pauses it again.
    pub(super) fn khugepaged(&mut self) -> Result<()> {
        let ours_before = self.our_pmd_mapped_kb();
        let global_before = readers::vmstat_value("thp_collapse_alloc").unwrap_or(0);
        let res = self.let_khugepaged_scan();
        let ours = self.our_pmd_mapped_kb().saturating_sub(ours_before) / 2048;
        let global = readers::vmstat_value("thp_collapse_alloc")
            .unwrap_or(0)
            .saturating_sub(global_before);
        self.discount_foreign_collapses(global.saturating_sub(ours));
        res
    }

    /// PMD-mapped anonymous memory of every scenario process, in kB (a khugepaged collapse
    /// in one of them adds 2048).
    fn our_pmd_mapped_kb(&self) -> u64 {
        self.procs
            .values()
            .filter_map(|p| readers::smaps_rollup_kb(p.pid(), "AnonHugePages"))
            .sum()
    }

    /// Khugepaged scans every mm on the host, so it may collapse other processes' memory
    /// (a VM's guest memory with MADV_HUGEPAGE, say) while the scenario's statement runs.
    /// The collapses that are not the scenario's are taken out of the counters they moved
    /// (`thp_collapse_alloc`, `nr_anon_transparent_hugepages`, `2M.nr_anon`), and said so.
    fn discount_foreign_collapses(&mut self, foreign: u64) {
        let Some(base) = self.baseline.as_mut() else {
            return;
        };
        if foreign == 0 {
            return;
        }
        for k in [
            "thp_collapse_alloc",
            "nr_anon_transparent_hugepages",
            "2M.nr_anon",
        ] {
            if let Some(v) = base.get_mut(k) {
                *v += foreign as i64;
            }
        }
        eprintln!(
            "foliolab probe: khugepaged also collapsed {foreign} ranges of other processes on this host; thp_collapse_alloc, nr_anon_transparent_hugepages and 2M.nr_anon do not count them"
        );
    }

    /// Lets khugepaged run two full scans, then pauses it again.
    fn let_khugepaged_scan(&mut self) -> Result<()> {
        let start = full_scans()?;
        {
            let _h = host::host_lock();
            sys::write_knob(sleep_knob(), "0")?;
        }
        let res = wait_full_scans(start + 2);
        {
            let _h = host::host_lock();
            sys::write_knob(sleep_knob(), KHUGEPAGED_PAUSE_MS)?;
        }
        // The write woke it for one more pass: wait for it; the full scans dropped the
        // keeper's mm from khugepaged's list: register it again.
        crate::compat::settle_khugepaged(Duration::from_millis(100));
        if let Some(k) = &mut self.guard.keeper {
            k.advise()?;
        }
        std::thread::sleep(Duration::from_millis(50));
        self.collapsed = Some(pages_collapsed()?);
        res
    }
}

fn wait_full_scans(target: u64) -> Result<()> {
    let t = Instant::now();
    while full_scans()? < target {
        if t.elapsed() > Duration::from_secs(60) {
            return Err(ProbeError::Host(
                "khugepaged did not finish two scans in 60 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
