//! Host safety: every THP knob and the swap state are written to a journal under /run before
//! anything changes, and restored on every exit path (drop, panic unwinding, SIGINT/SIGTERM,
//! and after SIGKILL at the next start or by [`restore_host`]). A lock keeps probes (and the
//! C measurement program, which takes the same lock) apart.

use crate::error::{ProbeError, Result};
use crate::sys;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The THP sysfs directory.
pub const THP_DIR: &str = "/sys/kernel/mm/transparent_hugepage";
/// The lock every program that changes THP knobs or runs scenarios holds (flock).
pub const LOCK_PATH: &str = "/run/foliolab-probe.lock";
/// Directory of the journal.
pub const JOURNAL_DIR: &str = "/run/foliolab-probe";
/// The zram device used for `swap`.
pub const ZRAM_DEV: &str = "/dev/zram0";
const ZRAM_SYS: &str = "/sys/block/zram0";
/// khugepaged's `scan_sleep_millisecs` while paused (one hour).
pub const KHUGEPAGED_PAUSE_MS: &str = "3600000";

/// Where the journal lives (`FOLIOLAB_PROBE_JOURNAL` overrides it, for tests only).
pub fn journal_path() -> PathBuf {
    match std::env::var_os("FOLIOLAB_PROBE_JOURNAL") {
        Some(p) => PathBuf::from(p),
        None => Path::new(JOURNAL_DIR).join("journal"),
    }
}

/// Every THP knob that exists on this machine, as paths relative to [`THP_DIR`].
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
    let mut sizes: Vec<(u64, String)> = Vec::new();
    if let Ok(rd) = fs::read_dir(THP_DIR) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(kb) = name
                .strip_prefix("hugepages-")
                .and_then(|s| s.strip_suffix("kB"))
            {
                if let Ok(kb) = kb.parse::<u64>() {
                    sizes.push((kb, name));
                }
            }
        }
    }
    sizes.sort();
    for (_, d) in sizes {
        v.push(format!("{d}/enabled"));
        v.push(format!("{d}/shmem_enabled"));
    }
    v.retain(|k| Path::new(THP_DIR).join(k).exists());
    v
}

/// What the journal records: the original value of every knob, and whether the probe may
/// have set up zram swap.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Journal {
    pub pid: u32,
    /// (path relative to THP_DIR, original value).
    pub knobs: Vec<(String, String)>,
    /// The probe may have configured zram0 as swap: swapoff and reset it on restore.
    pub zram: bool,
}

impl Journal {
    pub fn render(&self) -> String {
        let mut s = format!("foliolab-probe journal 1\npid {}\n", self.pid);
        for (k, v) in &self.knobs {
            s.push_str(&format!("knob {k} {v}\n"));
        }
        if self.zram {
            s.push_str("zram zram0\n");
        }
        s
    }

    pub fn parse(text: &str) -> Result<Journal> {
        let mut lines = text.lines();
        if lines.next() != Some("foliolab-probe journal 1") {
            return Err(ProbeError::Journal("missing header".into()));
        }
        let mut j = Journal::default();
        for l in lines {
            let mut it = l.splitn(3, ' ');
            match (it.next(), it.next(), it.next()) {
                (Some("pid"), Some(p), None) => {
                    j.pid = p
                        .parse()
                        .map_err(|_| ProbeError::Journal(format!("bad pid {p}")))?
                }
                (Some("knob"), Some(k), Some(v)) => {
                    if k.contains("..") || k.starts_with('/') {
                        return Err(ProbeError::Journal(format!("bad knob {k}")));
                    }
                    j.knobs.push((k.to_string(), v.to_string()))
                }
                (Some("zram"), Some("zram0"), None) => j.zram = true,
                (Some(""), None, None) | (None, _, _) => {}
                _ => return Err(ProbeError::Journal(format!("bad line {l:?}"))),
            }
        }
        Ok(j)
    }

    /// Writes the journal atomically (temporary file, fsync, rename).
    pub fn store(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| ProbeError::io(format!("mkdir {}", dir.display()), e))?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp)
            .map_err(|e| ProbeError::io(format!("create {}", tmp.display()), e))?;
        f.write_all(self.render().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| ProbeError::io(format!("write {}", tmp.display()), e))?;
        fs::rename(&tmp, path).map_err(|e| ProbeError::io(format!("rename {}", path.display()), e))
    }

    pub fn load(path: &Path) -> Result<Option<Journal>> {
        match fs::read_to_string(path) {
            Ok(t) => Journal::parse(&t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProbeError::io(format!("read {}", path.display()), e)),
        }
    }
}

/// What a restore changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// `knob: current -> original` for every knob written back.
    pub changed: Vec<String>,
    /// zram swap was switched off and reset.
    pub zram_reset: bool,
    /// There was no journal: nothing to do.
    pub nothing: bool,
}

/// A helper process that keeps khugepaged's list of mms from ever being empty: it holds a
/// 1 GiB MADV_HUGEPAGE region with no pages, which one khugepaged pass (4096 pages) cannot
/// finish. Khugepaged drops an mm it has scanned through and wakes at once when an mm joins
/// an empty list; with the keeper it only runs when its sleep ends (paused: one hour).
pub(crate) struct Keeper {
    pub(crate) child: std::process::Child,
    pub(crate) cmd: fs::File,
    pub(crate) resp: std::io::BufReader<fs::File>,
    pub(crate) addr: u64,
    pub(crate) len: u64,
}

impl Keeper {
    fn request(&mut self, line: &str) -> Result<String> {
        use std::io::BufRead;
        self.cmd
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| ProbeError::io("khugepaged keeper: write", e))?;
        let mut s = String::new();
        self.resp
            .read_line(&mut s)
            .map_err(|e| ProbeError::io("khugepaged keeper: read", e))?;
        if s.starts_with("ok") {
            Ok(s.trim_end().to_string())
        } else {
            Err(ProbeError::Helper(format!(
                "khugepaged keeper: {}",
                s.trim_end()
            )))
        }
    }

    /// (Re-)registers the keeper's mm with khugepaged.
    pub(crate) fn advise(&mut self) -> Result<()> {
        let (a, l) = (self.addr, self.len);
        self.request(&format!("advise {a:#x} {l:#x} hugepage"))
            .map(|_| ())
    }

    /// Starts the keeper: one order-0 page in each of 64 PMD ranges of a 128 MiB region,
    /// each held by a pipe (vmsplice) so that khugepaged scans it but never collapses it
    /// (the extra reference fails its refcount check before it allocates anything); then
    /// MADV_HUGEPAGE registers the mm. One paused pass covers 8 of the 64 ranges.
    pub(crate) fn start(mut child: std::process::Child, addr: u64, len: u64) -> Result<Keeper> {
        use std::os::fd::OwnedFd;
        let (Some(i), Some(o)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ProbeError::Helper("khugepaged keeper: no pipes".into()));
        };
        let mut k = Keeper {
            child,
            cmd: fs::File::from(OwnedFd::from(i)),
            resp: std::io::BufReader::new(fs::File::from(OwnedFd::from(o))),
            addr,
            len,
        };
        {
            use std::io::BufRead;
            let mut s = String::new();
            k.resp
                .read_line(&mut s)
                .map_err(|e| ProbeError::io("khugepaged keeper: start", e))?;
        }
        k.request(&format!("map {addr:#x} {len:#x} anon rw"))?;
        k.request(&format!("advise {addr:#x} {len:#x} nohugepage"))?;
        let pmd = 2u64 << 20;
        for i in 0..len / pmd {
            let a = addr + i * pmd;
            k.request(&format!("write {a:#x} 0x1000 0x1"))?;
            k.request(&format!("splice keep{i} {a:#x} 0x1000"))?;
        }
        k.advise()?;
        Ok(k)
    }
}

/// Serialises host changes with the signal thread: whoever restores takes it and keeps it.
static HOST_MUTEX: Mutex<()> = Mutex::new(());
/// Helper pids to kill on a signal before restoring.
static HELPER_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static SIGNAL_THREAD: OnceLock<()> = OnceLock::new();
static GUARD_ACTIVE: AtomicBool = AtomicBool::new(false);

pub(crate) fn register_helper(pid: i32) {
    if let Ok(mut v) = HELPER_PIDS.lock() {
        v.push(pid);
    }
}

pub(crate) fn unregister_helper(pid: i32) {
    if let Ok(mut v) = HELPER_PIDS.lock() {
        v.retain(|&p| p != pid);
    }
}

pub(crate) fn host_lock() -> std::sync::MutexGuard<'static, ()> {
    HOST_MUTEX.lock().unwrap_or_else(|e| e.into_inner())
}

fn zram_disksize() -> u64 {
    sys::read_string(format!("{ZRAM_SYS}/disksize"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Active swap devices (`/proc/swaps` without the header).
pub fn active_swaps() -> Vec<String> {
    sys::read_string("/proc/swaps")
        .map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn swapoff(dev: &str) -> Result<bool> {
    let c = sys::cstring(dev)?;
    // SAFETY: c is a valid NUL-terminated path.
    let r = unsafe { libc::swapoff(c.as_ptr()) };
    if r == 0 {
        Ok(true)
    } else if sys::errno() == libc::EINVAL {
        Ok(false)
    } else {
        Err(ProbeError::last_os(format!("swapoff {dev}")))
    }
}

/// Restores from a journal file without taking the lock (the caller holds it).
fn restore_from(path: &Path) -> Result<RestoreReport> {
    let Some(j) = Journal::load(path)? else {
        return Ok(RestoreReport {
            nothing: true,
            ..Default::default()
        });
    };
    let mut rep = RestoreReport::default();
    if j.zram {
        let was_on = active_swaps().iter().any(|d| d == ZRAM_DEV);
        if was_on {
            swapoff(ZRAM_DEV)?;
        }
        if zram_disksize() != 0 {
            sys::write_knob(format!("{ZRAM_SYS}/reset"), "1")?;
        }
        rep.zram_reset = true;
    }
    let mut errors = Vec::new();
    for (k, v) in &j.knobs {
        let p = Path::new(THP_DIR).join(k);
        match sys::read_knob(&p) {
            Ok(cur) if cur == *v => {}
            Ok(cur) => match sys::write_knob(&p, v) {
                Ok(()) => rep.changed.push(format!("{k}: {cur} -> {v}")),
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(ProbeError::Host(format!(
            "restore incomplete: {}",
            errors.join("; ")
        )));
    }
    fs::remove_file(path).map_err(|e| ProbeError::io(format!("remove {}", path.display()), e))?;
    Ok(rep)
}

/// The open lock file (flock released when closed).
pub struct HostLock {
    file: fs::File,
}

impl HostLock {
    /// Takes the lock, waiting up to `timeout` for another holder.
    pub fn acquire(timeout: Duration) -> Result<HostLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(LOCK_PATH)
            .map_err(|e| ProbeError::io(format!("open {LOCK_PATH}"), e))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            // SAFETY: a valid open fd.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(HostLock { file });
            }
            if sys::errno() != libc::EWOULDBLOCK {
                return Err(ProbeError::last_os(format!("flock {LOCK_PATH}")));
            }
            if start.elapsed() > timeout {
                return Err(ProbeError::Host(format!(
                    "{LOCK_PATH} held by another program for {timeout:?}"
                )));
            }
            if !told {
                eprintln!("foliolab probe: waiting for {LOCK_PATH}");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // SAFETY: a valid open fd.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// `foliolab probe --restore`: takes the lock and restores everything a journal records
/// (after a SIGKILLed probe). Without a journal it does nothing.
pub fn restore_host() -> Result<RestoreReport> {
    let _l = HostLock::acquire(Duration::from_secs(600))?;
    let _h = host_lock();
    restore_from(&journal_path())
}

/// Holds the lock and the journal for one probe invocation; restores the host when dropped
/// (also while unwinding from a panic) and on SIGINT/SIGTERM/SIGHUP.
pub struct HostGuard {
    journal: Journal,
    path: PathBuf,
    restored: bool,
    _lock: HostLock,
    /// A helper holding an empty MADV_HUGEPAGE region, so khugepaged always has an mm to
    /// scan: then it sleeps its full `scan_sleep_millisecs` instead of waking at once when
    /// a scenario process registers (which it does when its list is empty).
    pub(crate) keeper: Option<Keeper>,
    /// What a journal left by a killed probe needed (restored at start).
    pub recovered: Option<RestoreReport>,
}

impl HostGuard {
    /// Checks the machine, takes the lock, restores a journal a killed probe left, refuses
    /// a swap the host already has, saves every knob to the journal, and starts the signal
    /// thread.
    pub fn acquire() -> Result<HostGuard> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(ProbeError::Host("the probe needs root".into()));
        }
        if !Path::new(THP_DIR).join("enabled").exists() {
            return Err(ProbeError::Host(format!(
                "{THP_DIR} missing: no THP on this kernel"
            )));
        }
        if GUARD_ACTIVE.swap(true, Ordering::SeqCst) {
            return Err(ProbeError::Host(
                "a HostGuard is already active in this process".into(),
            ));
        }
        let r = Self::acquire_inner();
        if r.is_err() {
            GUARD_ACTIVE.store(false, Ordering::SeqCst);
        }
        r
    }

    fn acquire_inner() -> Result<HostGuard> {
        start_signal_thread();
        let lock = HostLock::acquire(Duration::from_secs(600))?;
        let _h = host_lock();
        let path = journal_path();
        let recovered = if path.exists() {
            let rep = restore_from(&path)?;
            eprintln!(
                "foliolab probe: restored the host from a journal a killed probe left: {rep:?}"
            );
            Some(rep)
        } else {
            None
        };
        let swaps = active_swaps();
        if !swaps.is_empty() {
            return Err(ProbeError::Host(format!(
                "the host already has swap ({}); the probe refuses to run with it (swapoff first)",
                swaps.join(", ")
            )));
        }
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
        let journal = Journal {
            pid: std::process::id(),
            knobs,
            zram: false,
        };
        journal.store(&path)?;
        Ok(HostGuard {
            journal,
            path,
            restored: false,
            _lock: lock,
            keeper: None,
            recovered,
        })
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
            if zram_disksize() != 0 || active_swaps().iter().any(|d| d == ZRAM_DEV) {
                return Err(ProbeError::Host("zram0 is already in use".into()));
            }
            if !Path::new(ZRAM_SYS).exists() {
                return Err(ProbeError::Host("no /sys/block/zram0".into()));
            }
            let _h = host_lock();
            self.journal.zram = true;
            self.journal.store(&self.path)?;
        }
        Ok(())
    }

    /// Sets up `size` bytes of zram swap (after [`claim_zram`](Self::claim_zram)).
    pub fn swap_on(&mut self, size: u64) -> Result<()> {
        self.claim_zram()?;
        let _h = host_lock();
        zram_swap_off()?;
        sys::write_knob(format!("{ZRAM_SYS}/disksize"), &size.to_string())?;
        write_swap_header(size)?;
        let c = sys::cstring(ZRAM_DEV)?;
        // SAFETY: valid path.
        if unsafe { libc::swapon(c.as_ptr(), 0) } != 0 {
            return Err(ProbeError::last_os("swapon /dev/zram0"));
        }
        Ok(())
    }

    /// Switches off and resets the zram swap (if it is on).
    pub fn swap_off(&mut self) -> Result<()> {
        if self.journal.zram {
            let _h = host_lock();
            zram_swap_off()?;
        }
        Ok(())
    }

    /// Restores everything now and removes the journal.
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
        kill_helpers();
        if let Some(mut k) = self.keeper.take() {
            let _ = k.child.kill();
            let _ = k.child.wait();
            unregister_helper(k.child.id() as i32);
        }
        let _h = host_lock();
        let r = restore_from(&self.path);
        GUARD_ACTIVE.store(false, Ordering::SeqCst);
        r
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        if let Err(e) = self.restore_inner() {
            eprintln!(
                "foliolab probe: restoring the host failed: {e} (run `foliolab probe --restore`)"
            );
        }
    }
}

fn zram_swap_off() -> Result<()> {
    if active_swaps().iter().any(|d| d == ZRAM_DEV) {
        swapoff(ZRAM_DEV)?;
    }
    if zram_disksize() != 0 {
        sys::write_knob(format!("{ZRAM_SYS}/reset"), "1")?;
    }
    Ok(())
}

/// A version-1 swap header (what mkswap writes) on /dev/zram0.
fn write_swap_header(size: u64) -> Result<()> {
    let mut page = vec![0u8; 4096];
    let last_page = (size / 4096).saturating_sub(1) as u32;
    page[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_ne_bytes());
    page[4086..4096].copy_from_slice(b"SWAPSPACE2");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(ZRAM_DEV)
        .map_err(|e| ProbeError::io(format!("open {ZRAM_DEV}"), e))?;
    f.write_all(&page)
        .and_then(|_| f.sync_all())
        .map_err(|e| ProbeError::io("write swap header", e))
}

fn kill_helpers() {
    let pids: Vec<i32> = HELPER_PIDS.lock().map(|v| v.clone()).unwrap_or_default();
    for p in pids {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (threads started later inherit it) and
/// starts a thread that waits for them: it kills the helpers, restores the host from the
/// journal and exits with 128 + the signal.
fn start_signal_thread() {
    SIGNAL_THREAD.get_or_init(|| {
        // SAFETY: plain sigset manipulation on a local set.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        let set_copy = set;
        std::thread::spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: waiting on a valid set.
            if unsafe { libc::sigwait(&set_copy, &mut sig) } != 0 {
                continue;
            }
            kill_helpers();
            // Keep the host mutex for good: nobody changes the host after this.
            let h = host_lock();
            if GUARD_ACTIVE.load(Ordering::SeqCst) {
                if let Err(e) = restore_from(&journal_path()) {
                    eprintln!("foliolab probe: restore on signal failed: {e}");
                }
            }
            eprintln!(
                "foliolab probe: stopped by {}; host restored",
                sys::signal_name(sig)
            );
            std::mem::forget(h);
            // SAFETY: exiting the process.
            unsafe { libc::_exit(128 + sig) };
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn journal_roundtrip() {
        let j = Journal {
            pid: 42,
            knobs: vec![
                ("enabled".into(), "madvise".into()),
                ("hugepages-64kB/enabled".into(), "never".into()),
            ],
            zram: true,
        };
        assert_eq!(Journal::parse(&j.render()).ok(), Some(j));
        assert!(Journal::parse("garbage").is_err());
        assert!(Journal::parse("foliolab-probe journal 1\nknob /etc/x 1\n").is_err());
    }
}
