//! Host safety. A probe changes global THP knobs, khugepaged's pace, and zram swap only for
//! a run, and puts everything back on every exit path:
//!
//! 1. It installs its signal handlers ([`signals`]): until it holds the lock, a signal only
//!    ends it; it touches nothing.
//! 2. It takes the lock ([`lock`]), and only then may it touch the journal or the host.
//! 3. It restores a journal a killed probe left ([`restore`]) and refuses to run when that
//!    fails, or when the host already has swap.
//! 4. It writes every knob's original value to the journal ([`journal`]) before changing
//!    any, and records zram before setting it up.
//! 5. It restores when dropped (also while unwinding from a panic), on every terminating
//!    signal it can catch, and after a SIGKILL at the next start or by
//!    [`restore_host`] (`foliolab probe --restore`). A restore tries every item, reports
//!    each failure, and keeps the journal for exactly what failed.

pub mod journal;
pub(crate) mod keeper;
pub mod lock;
pub mod restore;
pub mod signals;
pub mod zram;

use crate::error::{ProbeError, Result};
use crate::sys;
pub use journal::{journal_path, Journal, JOURNAL_DIR};
pub use lock::{HostLock, LOCK_PATH, LOCK_WAIT};
pub use restore::RestoreReport;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
pub use zram::{active_swaps, ZRAM_DEV};

/// The THP sysfs directory.
pub const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";
/// khugepaged's `scan_sleep_millisecs` while paused (one hour).
pub const KHUGEPAGED_PAUSE_MS: &str = "3600000";
/// The knob journal of the C measurement program foliolab had before its probe
/// (tools/kmeasure, retired): a probe refuses to run while one is left on the host.
pub const KMEASURE_JOURNAL: &str = "/run/foliolab-kmeasure.knobs";

static GUARD_ACTIVE: AtomicBool = AtomicBool::new(false);

pub(crate) use signals::{host_lock, register_helper, unregister_helper};

/// Every THP knob that exists on this machine, as paths relative to [`THP_DIR`]: the
/// global ones, khugepaged's, and each size's `enabled` and `shmem_enabled`.
pub fn knob_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "enabled",
        "defrag",
        "shmem_enabled",
        "use_zero_page",
        "shrink_underused",
        "anon_beside_full",
        "khugepaged/defrag",
        "khugepaged/max_ptes_none",
        "khugepaged/max_ptes_shared",
        "khugepaged/max_ptes_swap",
        "khugepaged/pages_to_scan",
        "khugepaged/scan_sleep_millisecs",
        "khugepaged/alloc_sleep_millisecs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for d in size_dirs() {
        v.push(format!("{d}/enabled"));
        v.push(format!("{d}/shmem_enabled"));
    }
    v.retain(|k| Path::new(THP_DIR).join(k).exists());
    v
}

/// `hugepages-NkB` directories, smallest first.
fn size_dirs() -> Vec<String> {
    let mut sizes: Vec<(u64, String)> = Vec::new();
    for e in fs::read_dir(THP_DIR).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let kb = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|kb| kb.parse::<u64>().ok());
        if let Some(kb) = kb {
            sizes.push((kb, name));
        }
    }
    sizes.sort();
    sizes.into_iter().map(|(_, d)| d).collect()
}

/// `foliolab probe --restore`: takes the lock and restores everything a journal records
/// (after a SIGKILLed probe). Without a journal it does nothing. `Err` when an item could
/// not be restored (the journal keeps it).
pub fn restore_host() -> Result<RestoreReport> {
    signals::install();
    let _l = HostLock::acquire(LOCK_WAIT)?;
    signals::set_holding(true);
    let r = {
        let _h = host_lock();
        restore::restore_journal()
    };
    signals::set_holding(false);
    r?.into_result()
}

/// Holds the lock and the journal for one probe invocation; restores the host when dropped
/// (also while unwinding from a panic) and on every terminating signal it can catch.
pub struct HostGuard {
    journal: Journal,
    restored: bool,
    _lock: HostLock,
    /// A helper holding an empty MADV_HUGEPAGE region, so khugepaged always has an mm to
    /// scan: then it sleeps its full `scan_sleep_millisecs` instead of waking at once when
    /// a scenario process registers (which it does when its list is empty).
    pub(crate) keeper: Option<keeper::Keeper>,
    /// What a journal left by a killed probe needed (restored at start).
    pub recovered: Option<RestoreReport>,
}

fn check_machine() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ProbeError::Host("the probe needs root".into()));
    }
    if !Path::new(THP_DIR).join("enabled").exists() {
        return Err(ProbeError::Host(format!(
            "{THP_DIR} missing: no THP on this kernel"
        )));
    }
    Ok(())
}

/// Checks what must hold before the probe saves and changes anything (the lock is held and
/// any old journal restored).
fn check_host_free() -> Result<()> {
    if fs::symlink_metadata(KMEASURE_JOURNAL).is_ok() {
        return Err(ProbeError::Host(format!(
            "{KMEASURE_JOURNAL} exists: the retired tools/kmeasure left THP knobs it may not have restored; check them against it and delete it"
        )));
    }
    let swaps = active_swaps();
    if !swaps.is_empty() {
        return Err(ProbeError::Host(format!(
            "the host already has swap ({}); the probe refuses to run with it (swapoff first)",
            swaps.join(", ")
        )));
    }
    Ok(())
}

/// Every knob's current value; refuses a host where `anon_beside_full` is not 0.
fn read_knobs() -> Result<Vec<(String, String)>> {
    let mut knobs = Vec::new();
    for k in knob_names() {
        knobs.push((k.clone(), sys::read_knob(Path::new(THP_DIR).join(&k))?));
    }
    if let Some((_, v)) = knobs.iter().find(|(k, _)| k == "anon_beside_full") {
        if v != "0" {
            return Err(ProbeError::Host(format!(
                "anon_beside_full reads {v}, must read 0"
            )));
        }
    }
    Ok(knobs)
}

/// Restores a journal a killed probe left; refuses to go on if anything failed.
fn recover() -> Result<Option<RestoreReport>> {
    if Journal::load_from(Path::new(JOURNAL_DIR))?.is_none() {
        return Ok(None);
    }
    let rep = restore::restore_journal()?.into_result()?;
    eprintln!(
        "foliolab probe: restored the host from a journal a killed probe left ({} items)",
        rep.restored.len()
    );
    Ok(Some(rep))
}

impl HostGuard {
    /// Checks the machine, installs the signal handling, takes the lock (waiting for
    /// another probe), restores a journal a killed probe left, refuses a swap the host
    /// already has, and saves every knob to the journal.
    pub fn acquire() -> Result<HostGuard> {
        check_machine()?;
        if GUARD_ACTIVE.swap(true, Ordering::SeqCst) {
            return Err(ProbeError::Host(
                "a HostGuard is already active in this process".into(),
            ));
        }
        signals::install();
        let r = Self::acquire_locked();
        if r.is_err() {
            GUARD_ACTIVE.store(false, Ordering::SeqCst);
        }
        r
    }

    fn acquire_locked() -> Result<HostGuard> {
        let lock = HostLock::acquire(LOCK_WAIT)?;
        signals::set_holding(true);
        match Self::prepare() {
            Ok((journal, recovered)) => Ok(HostGuard {
                journal,
                restored: false,
                _lock: lock,
                keeper: None,
                recovered,
            }),
            Err(e) => {
                // Not holding before the lock goes: a signal now must not restore.
                signals::set_holding(false);
                drop(lock);
                Err(e)
            }
        }
    }

    /// With the lock held: recovers an old journal, checks the host, writes the journal.
    fn prepare() -> Result<(Journal, Option<RestoreReport>)> {
        let _h = host_lock();
        let recovered = recover()?;
        check_host_free()?;
        let journal = Journal {
            pid: std::process::id(),
            knobs: read_knobs()?,
            zram: false,
        };
        journal.store_in(Path::new(JOURNAL_DIR))?;
        Ok((journal, recovered))
    }

    /// Original value of a knob, as saved.
    pub fn original(&self, knob: &str) -> Option<&str> {
        self.journal
            .knobs
            .iter()
            .find(|(k, _)| k == knob)
            .map(|(_, v)| v.as_str())
    }

    /// Every saved knob.
    pub fn saved_knobs(&self) -> &[(String, String)] {
        &self.journal.knobs
    }

    /// Sets knobs (paths relative to THP_DIR); only knobs saved in the journal.
    pub fn set_knobs(&self, knobs: &[(String, String)]) -> Result<()> {
        let _h = host_lock();
        for (k, v) in knobs {
            if self.original(k).is_none() {
                return Err(ProbeError::Host(format!("knob {k} does not exist here")));
            }
            let p = Path::new(THP_DIR).join(k);
            if sys::read_knob(&p)? != *v {
                sys::write_knob(&p, v)?;
            }
        }
        Ok(())
    }

    /// Records in the journal that zram0 may be set up, before touching it; refuses a zram0
    /// that is already in use.
    pub fn claim_zram(&mut self) -> Result<()> {
        if !self.journal.zram {
            zram::check_free()?;
            let _h = host_lock();
            self.journal.zram = true;
            self.journal.store_in(Path::new(JOURNAL_DIR))?;
        }
        Ok(())
    }

    /// Sets up `size_bytes` of zram swap (journalled first).
    pub fn swap_on(&mut self, size_bytes: u64) -> Result<()> {
        self.claim_zram()?;
        let _h = host_lock();
        zram::on(size_bytes)
    }

    /// Switches off and resets the zram swap (if it is on).
    pub fn swap_off(&mut self) -> Result<()> {
        if self.journal.zram {
            let _h = host_lock();
            zram::off()?;
        }
        Ok(())
    }

    /// Restores everything now and removes the journal; `Err` names every item that could
    /// not be restored (the journal keeps them).
    pub fn restore(mut self) -> Result<RestoreReport> {
        self.restore_inner()
    }

    fn restore_inner(&mut self) -> Result<RestoreReport> {
        if self.restored {
            return Ok(RestoreReport {
                nothing: true,
                ..Default::default()
            });
        }
        self.restored = true;
        signals::kill_helpers();
        if let Some(k) = self.keeper.take() {
            k.stop();
        }
        let r = {
            let _h = host_lock();
            restore::restore_journal()
        };
        signals::set_holding(false);
        GUARD_ACTIVE.store(false, Ordering::SeqCst);
        r?.into_result()
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        if let Err(e) = self.restore_inner() {
            eprintln!("foliolab probe: {e}");
        }
    }
}
