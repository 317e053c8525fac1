//! [`KernelRunner`]: runs a scenario with real processes on this machine's kernel.

use crate::error::{ProbeError, Result};
use crate::host::{self, HostGuard, KHUGEPAGED_PAUSE_MS, THP_DIR};
use crate::readers::{self, PhysReader, PAGE};
use crate::sys;
use foliolab_driver::{
    PageObs, Problem, ProblemKind, ReadValue, RunError, Runner, RunnerKind, SmapsObs,
};
use foliolab_scenario::{
    Item, MapKind, ProcOp, Prot, Range, RssKind, Scenario, Stmt, StmtKind, ThpKey, ThpSetting,
};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod placed;

/// The lowest address the probe places regions at (32 TiB), far from the helper's own
/// mappings, which the kernel places top-down from below the stack.
const REGION_BASE: u64 = 0x2000_0000_0000;

/// How the runner starts helpers.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// The executable that runs [`crate::helper_main`] when started with `helper_args`.
    pub helper: PathBuf,
    pub helper_args: Vec<String>,
    /// The CPU every scenario process is pinned to.
    pub cpu: usize,
}

impl ProbeOptions {
    /// `FOLIOLAB_PROBE_HELPER` (an executable that is the helper with no arguments) if set,
    /// else this executable with the argument `__probe-helper`; the highest CPU this
    /// process may run on.
    pub fn from_env() -> Result<ProbeOptions> {
        let (helper, helper_args) = match std::env::var_os("FOLIOLAB_PROBE_HELPER") {
            Some(p) => (PathBuf::from(p), Vec::new()),
            None => (
                std::env::current_exe().map_err(|e| ProbeError::io("current_exe", e))?,
                vec!["__probe-helper".to_string()],
            ),
        };
        Ok(ProbeOptions {
            helper,
            helper_args,
            cpu: highest_cpu(),
        })
    }
}

fn highest_cpu() -> usize {
    // SAFETY: sched_getaffinity writes into the zeroed set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            for c in (0..libc::CPU_SETSIZE as usize).rev() {
                if libc::CPU_ISSET(c, &set) {
                    return c;
                }
            }
        }
    }
    0
}

#[derive(Clone, Debug)]
struct Region {
    addr: u64,
    size: u64,
    kind: MapKind,
    prot: Prot,
}

struct Proc {
    pid: i32,
    pidfd: Option<OwnedFd>,
    cmd: File,
    resp: BufReader<File>,
    child: Option<Child>,
    regions: HashMap<String, Region>,
    cursor: u64,
    last_faults: u64,
}

/// Runs one scenario on the kernel. Create one per scenario, under one [`HostGuard`] for
/// the whole probe invocation; dropping it kills and reaps the scenario's processes and
/// switches its swap off.
pub struct KernelRunner<'g> {
    guard: &'g mut HostGuard,
    opts: ProbeOptions,
    phys: PhysReader,
    procs: HashMap<String, Proc>,
    files: HashMap<String, File>,
    thp_applied: bool,
    baseline: Option<BTreeMap<String, i64>>,
    /// khugepaged/pages_collapsed at the last point khugepaged was allowed to run.
    full_scans: Option<u64>,
    problems: Vec<Problem>,
    swap: bool,
}

fn thp_knob(key: ThpKey) -> String {
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
        v.push((
            ThpKey::Size(o),
            if o == 9 { "inherit" } else { "never" }.into(),
        ));
        v.push((
            ThpKey::ShmemSize(o),
            if o == 9 { "inherit" } else { "never" }.into(),
        ));
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
    out.push((
        "khugepaged/scan_sleep_millisecs".into(),
        KHUGEPAGED_PAUSE_MS.into(),
    ));
    out.push(("khugepaged/pages_to_scan".into(), "4096".into()));
    out.push(("hugepages-8kB/shmem_enabled".into(), "never".into()));
    out.push(("anon_beside_full".into(), "0".into()));
    out
}

fn full_scans() -> Result<u64> {
    khugepaged_stat("full_scans")
}

/// Pages khugepaged collapsed so far: the pause holds while this does not move.
fn pages_collapsed() -> Result<u64> {
    khugepaged_stat("pages_collapsed")
}

fn khugepaged_stat(name: &str) -> Result<u64> {
    sys::read_string(format!("{THP_DIR}/khugepaged/{name}"))?
        .trim()
        .parse()
        .map_err(|_| ProbeError::Host(format!("bad khugepaged/{name}")))
}

fn debug(what: &str) {
    if std::env::var_os("FOLIOLAB_PROBE_DEBUG").is_some() {
        eprintln!("probe debug: {what}: full_scans {:?}", full_scans().ok());
    }
}

fn rerr(e: ProbeError) -> RunError {
    RunError::new(e.to_string())
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes plain values; a non-negative result is a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        None
    } else {
        // SAFETY: fd is a fresh descriptor.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn pipe_cloexec() -> Result<(File, File)> {
    let mut fds = [0i32; 2];
    // SAFETY: valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ProbeError::last_os("pipe2"));
    }
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Start of a new region of the placement rule: a multiple of `align`, not of 2·align, plus
/// `shift`, at least one page past `cursor` (so regions never touch).
pub fn place(cursor: u64, align: u64, shift: u64) -> u64 {
    let two = align * 2;
    let base = (cursor + PAGE).div_ceil(two) * two;
    base + align + shift
}

impl Proc {
    fn send(&mut self, line: &str) -> std::result::Result<String, RunError> {
        let mut l = line.to_string();
        l.push('\n');
        if let Err(e) = self.cmd.write_all(l.as_bytes()) {
            return Err(RunError::new(format!(
                "helper of pid {} gone: {e}",
                self.pid
            )));
        }
        self.recv()
    }

    fn recv(&mut self) -> std::result::Result<String, RunError> {
        let mut s = String::new();
        match self.resp.read_line(&mut s) {
            Ok(0) | Err(_) => Err(RunError::new(format!("process (pid {}) died", self.pid))),
            Ok(_) => {
                let s = s.trim_end();
                if let Some(rest) = s.strip_prefix("ok") {
                    Ok(rest.trim_start().to_string())
                } else if let Some(rest) = s.strip_prefix("err ") {
                    Err(RunError::new(rest.to_string()))
                } else {
                    Err(RunError::new(format!("helper protocol: {s:?}")))
                }
            }
        }
    }

    fn region(&self, name: &str) -> std::result::Result<&Region, RunError> {
        self.regions
            .get(name)
            .ok_or_else(|| RunError::new(format!("no region {name}")))
    }

    /// (address, length) of a range.
    fn span(&self, r: &Range) -> std::result::Result<(u64, u64, u64), RunError> {
        let reg = self.region(&r.region)?;
        let (s, e) = r.form.resolve(reg.size);
        if e > reg.size || s >= e {
            return Err(RunError::new(format!("range outside region {}", r.region)));
        }
        Ok((reg.addr + s, e - s, s))
    }

    /// Waits until the process has exited (its address space torn down) and reaps it if it
    /// is our child.
    fn wait_gone(&mut self, timeout: Duration) {
        if let Some(fd) = &self.pidfd {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) };
        }
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        } else {
            // Reparented to us (subreaper) if its parent helper is gone; else its parent
            // reaps it (SIGCHLD ignored there).
            let mut st = 0;
            // SAFETY: waitpid on a specific pid.
            unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG | libc::__WALL) };
        }
        host::unregister_helper(self.pid);
    }

    fn kill(&mut self) {
        // SAFETY: signalling a process we started.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.wait_gone(Duration::from_secs(10));
    }
}

impl<'g> KernelRunner<'g> {
    /// A runner for one scenario. Sets PR_SET_THP_DISABLE and the child-subreaper flag on
    /// this process (helpers clear the former).
    pub fn new(guard: &'g mut HostGuard, opts: ProbeOptions) -> Result<KernelRunner<'g>> {
        // SAFETY: prctl with plain values.
        unsafe {
            if libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0 {
                return Err(ProbeError::last_os("PR_SET_THP_DISABLE"));
            }
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                return Err(ProbeError::last_os("PR_SET_CHILD_SUBREAPER"));
            }
        }
        Ok(KernelRunner {
            guard,
            opts,
            phys: PhysReader::open()?,
            procs: HashMap::new(),
            files: HashMap::new(),
            thp_applied: false,
            baseline: None,
            full_scans: None,
            problems: Vec::new(),
            swap: false,
        })
    }

    /// Starts the khugepaged keeper (see `host::Keeper`) once per guard.
    fn ensure_keeper(&mut self) -> Result<()> {
        if self.guard.keeper.is_some() {
            return Ok(());
        }
        let child = Command::new(&self.opts.helper)
            .args(&self.opts.helper_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                ProbeError::io(format!("start helper {}", self.opts.helper.display()), e)
            })?;
        host::register_helper(child.id() as i32);
        let addr = place(REGION_BASE, 1 << 30, 0);
        self.guard.keeper = Some(host::Keeper::start(child, addr, 128 << 20)?);
        Ok(())
    }

    fn apply_thp(&mut self, settings: &[ThpSetting]) -> Result<()> {
        let exists = |k: &str| self.guard.original(k).is_some();
        let knobs: Vec<(String, String)> =
            crate::compat::fold_legacy_knobs(run_knobs(settings), &exists)
                .into_iter()
                .filter(|(k, _)| exists(k))
                .collect();
        let was_paused = self.guard.saved_knobs().is_empty()
            || sys::read_knob(format!("{THP_DIR}/khugepaged/scan_sleep_millisecs"))?
                == KHUGEPAGED_PAUSE_MS;
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
        debug("after knobs");
        self.thp_applied = true;
        Ok(())
    }

    fn proc_mut(&mut self, name: &str) -> std::result::Result<&mut Proc, RunError> {
        self.procs
            .get_mut(name)
            .ok_or_else(|| RunError::new(format!("no live process {name}")))
    }

    fn spawn(&mut self, name: &str) -> Result<()> {
        if !self.thp_applied {
            self.apply_thp(&[])?;
        }
        if self.baseline.is_none() {
            self.full_scans = Some(pages_collapsed()?);
            self.baseline = Some(readers::read_counters()?);
        }
        let mut child = Command::new(&self.opts.helper)
            .args(&self.opts.helper_args)
            .env("FOLIOLAB_PROBE_CPU", self.opts.cpu.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                ProbeError::io(format!("start helper {}", self.opts.helper.display()), e)
            })?;
        let pid = child.id() as i32;
        host::register_helper(pid);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ProbeError::Helper("no pipes".into()));
        };
        let mut p = Proc {
            pid,
            pidfd: pidfd_open(pid),
            cmd: File::from(OwnedFd::from(stdin)),
            resp: BufReader::new(File::from(OwnedFd::from(stdout))),
            child: Some(child),
            regions: HashMap::new(),
            cursor: REGION_BASE,
            last_faults: 0,
        };
        p.recv()
            .map_err(|e| ProbeError::Helper(format!("helper did not start: {e}")))?;
        self.procs.insert(name.to_string(), p);
        Ok(())
    }

    fn fork(&mut self, parent: &str, child: &str) -> std::result::Result<(), RunError> {
        let (cmd_r, cmd_w) = pipe_cloexec().map_err(rerr)?;
        let (resp_r, resp_w) = pipe_cloexec().map_err(rerr)?;
        let me = std::process::id();
        let line = format!(
            "fork /proc/{me}/fd/{} /proc/{me}/fd/{}",
            cmd_r.as_raw_fd(),
            resp_w.as_raw_fd()
        );
        let p = self.proc_mut(parent)?;
        let pid: i32 = p
            .send(&line)?
            .parse()
            .map_err(|_| RunError::new("fork: bad pid"))?;
        host::register_helper(pid);
        let (regions, cursor) = (p.regions.clone(), p.cursor);
        drop(cmd_r);
        drop(resp_w);
        let mut c = Proc {
            pid,
            pidfd: pidfd_open(pid),
            cmd: cmd_w,
            resp: BufReader::new(resp_r),
            child: None,
            regions,
            cursor,
            last_faults: 0,
        };
        c.recv()?;
        self.procs.insert(child.to_string(), c);
        Ok(())
    }

    /// A request that may kill the process (an access): on a fault the process is reaped
    /// and the error says which signal.
    fn access(
        &mut self,
        proc: &str,
        line: String,
        what: &str,
    ) -> std::result::Result<String, RunError> {
        let p = self.proc_mut(proc)?;
        match p.send(&line) {
            Ok(s) => Ok(s),
            Err(e) => {
                if e.message.starts_with("SIG") || e.message.contains("died") {
                    let mut dead = self.procs.remove(proc);
                    if let Some(d) = &mut dead {
                        d.wait_gone(Duration::from_secs(10));
                    }
                }
                Err(RunError::new(format!("{what}: {}", e.message)))
            }
        }
    }

    fn proc_op(&mut self, proc: &str, op: &ProcOp) -> std::result::Result<(), RunError> {
        match op {
            ProcOp::Map {
                region,
                size_bytes,
                kind,
                prot,
                align_bytes,
            } => {
                let (kind_s, path) = match kind {
                    MapKind::Anon => ("anon", String::new()),
                    MapKind::Shmem => ("shmem", String::new()),
                    MapKind::File { file, shared } => {
                        let f = self
                            .files
                            .get(file)
                            .ok_or_else(|| RunError::new(format!("no file {file}")))?;
                        let path = format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd());
                        (if *shared { "fshared" } else { "fprivate" }, path)
                    }
                    MapKind::DriverMixedmap | MapKind::DriverPfnmap => {
                        return Err(RunError::new("unsupported: driver mappings are model-only"))
                    }
                };
                let p = self.proc_mut(proc)?;
                let addr = place(p.cursor, *align_bytes, 0);
                p.send(
                    format!(
                        "map {addr:#x} {size_bytes:#x} {kind_s} {} {path}",
                        prot.name()
                    )
                    .trim_end(),
                )?;
                p.cursor = addr + size_bytes;
                p.regions.insert(
                    region.clone(),
                    Region {
                        addr,
                        size: *size_bytes,
                        kind: kind.clone(),
                        prot: *prot,
                    },
                );
                Ok(())
            }
            ProcOp::Unmap { range } => {
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                p.send(&format!("unmap {a:#x} {l:#x}")).map(|_| ())
            }
            ProcOp::Protect { range, prot } => {
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                p.send(&format!("protect {a:#x} {l:#x} {}", prot.name()))
                    .map(|_| ())
            }
            ProcOp::Advise { range, advice } => {
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                let r = p.send(&format!("advise {a:#x} {l:#x} {}", advice.name()))?;
                if let Some(why) = r.strip_prefix("collapse-failed ") {
                    eprintln!("foliolab probe: {proc}: advise collapse failed: {why}");
                }
                Ok(())
            }
            ProcOp::Move {
                range,
                new_region,
                align_bytes,
                shift_bytes,
            } => {
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                let src = p.region(&range.region)?.clone();
                let to = place(p.cursor, *align_bytes, *shift_bytes);
                p.send(&format!("move {a:#x} {l:#x} {to:#x}"))?;
                p.cursor = to + l;
                p.regions.insert(
                    new_region.clone(),
                    Region {
                        addr: to,
                        size: l,
                        kind: src.kind,
                        prot: src.prot,
                    },
                );
                Ok(())
            }
            ProcOp::Write { range, value } => {
                let (a, l, _) = self.proc_mut(proc)?.span(range)?;
                let r = self.access(proc, format!("write {a:#x} {l:#x} {value:#x}"), "write")?;
                let f = r
                    .trim()
                    .parse()
                    .map_err(|_| RunError::new("bad fault count"))?;
                self.proc_mut(proc)?.last_faults = f;
                Ok(())
            }
            ProcOp::Read { range } => self.read(proc, range).map(|_| ()),
            ProcOp::Fork { child } => self.fork(proc, child),
            ProcOp::Exit => {
                let mut p = self
                    .procs
                    .remove(proc)
                    .ok_or_else(|| RunError::new(format!("no live process {proc}")))?;
                let r = p.send("exit");
                p.wait_gone(Duration::from_secs(30));
                r.map(|_| ())
            }
            ProcOp::Pin {
                name,
                range,
                write,
                longterm,
                fast,
            } => {
                if !*write || !*longterm || *fast {
                    return Err(RunError::new(
                        "unsupported: only `pin rw longterm` runs on the kernel",
                    ));
                }
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                let pid = p.pid;
                let before = crate::readers::Pagemap::open(pid)
                    .and_then(|m| m.entries(a, (l / PAGE) as usize));
                p.send(&format!("pin {name} {a:#x} {l:#x}"))?;
                let after = crate::readers::Pagemap::open(pid)
                    .and_then(|m| m.entries(a, (l / PAGE) as usize));
                if let (Ok(b), Ok(af)) = (before, after) {
                    let mask = (1u64 << 55) - 1;
                    let present = 1u64 << 63;
                    let moved = b
                        .iter()
                        .zip(&af)
                        .any(|(x, y)| x & present != 0 && y & present != 0 && x & mask != y & mask);
                    if moved {
                        self.problems.push(Problem {
                            kind: ProblemKind::Invariant,
                            message: format!("longterm pin {name} migrated pages (ZONE_MOVABLE?)"),
                        });
                    }
                }
                Ok(())
            }
            ProcOp::Splice { name, range } => {
                let p = self.proc_mut(proc)?;
                let (a, l, _) = p.span(range)?;
                p.send(&format!("splice {name} {a:#x} {l:#x}")).map(|_| ())
            }
            ProcOp::Release { name } => self
                .proc_mut(proc)?
                .send(&format!("release {name}"))
                .map(|_| ()),
            ProcOp::Migrate { .. } => Err(RunError::new("unsupported: migrate is model-only")),
            _ => Err(RunError::new("not an action statement")),
        }
    }

    fn shrink(&mut self) -> Result<()> {
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

    fn khugepaged(&mut self) -> Result<()> {
        let start = full_scans()?;
        let sleep = format!("{THP_DIR}/khugepaged/scan_sleep_millisecs");
        {
            let _h = host::host_lock();
            sys::write_knob(&sleep, "0")?;
        }
        let t = Instant::now();
        let mut res = Ok(());
        while full_scans()? < start + 2 {
            if t.elapsed() > Duration::from_secs(60) {
                res = Err(ProbeError::Host(
                    "khugepaged did not finish two scans in 60 s".into(),
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        {
            let _h = host::host_lock();
            sys::write_knob(&sleep, KHUGEPAGED_PAUSE_MS)?;
        }
        // The write woke it for one more pass: wait for it; the full scans dropped the
        // keeper's mm from khugepaged's list: register it again.
        crate::compat::settle_khugepaged(Duration::from_millis(100));
        if let Some(k) = &mut self.guard.keeper {
            k.advise()?;
        }
        std::thread::sleep(Duration::from_millis(50));
        self.full_scans = Some(pages_collapsed()?);
        res
    }

    /// Kills and reaps every scenario process, closes files, switches swap off.
    pub fn finish(&mut self) -> Result<()> {
        let names: Vec<String> = self.procs.keys().cloned().collect();
        for n in names {
            if let Some(mut p) = self.procs.remove(&n) {
                p.kill();
            }
        }
        self.files.clear();
        if self.swap {
            self.swap = false;
            self.guard.swap_off()?;
        }
        Ok(())
    }

    fn check_supported(stmt: &Stmt, out: &mut Vec<String>) {
        let line = stmt.pos.line;
        out.extend(crate::compat::statement_unsupported(stmt));
        match &stmt.kind {
            StmtKind::Thp { settings } => {
                for s in settings {
                    if let Some(why) = crate::compat::thp_setting_unsupported(s, &thp_knob(s.key)) {
                        out.push(format!("line {line}: {why}"));
                    }
                }
            }
            StmtKind::Swap { .. } if !std::path::Path::new(host::ZRAM_DEV).exists() => {
                out.push(format!("line {line}: swap needs /dev/zram0"));
            }
            StmtKind::Proc { op, .. } => match op {
                ProcOp::Migrate { .. } => out.push(format!("line {line}: migrate (model-only)")),
                ProcOp::Map { kind: MapKind::DriverMixedmap, .. } => {
                    out.push(format!("line {line}: driver mixedmap (model-only)"))
                }
                ProcOp::Map { kind: MapKind::DriverPfnmap, .. } => {
                    out.push(format!("line {line}: driver pfnmap (model-only)"))
                }
                ProcOp::Pin { write, longterm, fast, .. } if !*write || !*longterm || *fast => out.push(format!(
                    "line {line}: pin {}{}{} (model-only; the kernel runner pins rw longterm through io_uring)",
                    if *write { "rw" } else { "ro" },
                    if *longterm { " longterm" } else { " short" },
                    if *fast { " fast" } else { "" }
                )),
                _ => {}
            },
            _ => {}
        }
    }
}

impl Drop for KernelRunner<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("foliolab probe: teardown: {e}");
        }
    }
}

impl Runner for KernelRunner<'_> {
    fn kind(&self) -> RunnerKind {
        RunnerKind::Kernel {
            release: sys::kernel_release(),
        }
    }

    fn unsupported(&self, scenario: &Scenario) -> Vec<String> {
        let mut out = Vec::new();
        for it in &scenario.items {
            if let Item::Stmt(s) = it {
                Self::check_supported(s, &mut out);
            }
        }
        out
    }

    fn perform(&mut self, stmt: &Stmt) -> std::result::Result<(), RunError> {
        match &stmt.kind {
            StmtKind::Scenario { .. } | StmtKind::Schemes { .. } => Ok(()),
            StmtKind::Thp { settings } => self.apply_thp(settings).map_err(rerr),
            StmtKind::Swap { size_bytes } => {
                self.swap = true;
                self.guard.swap_on(*size_bytes).map_err(rerr)
            }
            StmtKind::File { file, size_bytes } => {
                let name = sys::cstring(file).map_err(rerr)?;
                // SAFETY: valid name; a non-negative result is a new fd we own.
                let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
                if fd < 0 {
                    return Err(rerr(ProbeError::last_os("memfd_create")));
                }
                // SAFETY: fresh fd.
                let f = unsafe { File::from_raw_fd(fd) };
                f.set_len(*size_bytes)
                    .map_err(|e| RunError::new(format!("ftruncate: {e}")))?;
                self.files.insert(file.clone(), f);
                Ok(())
            }
            StmtKind::Spawn { proc } => self.spawn(proc).map_err(rerr),
            StmtKind::Shrink => self.shrink().map_err(rerr),
            StmtKind::Khugepaged => self.khugepaged().map_err(rerr),
            StmtKind::ExpectStat { .. } | StmtKind::ObserveStats => Ok(()),
            StmtKind::Proc { proc, op } => self
                .proc_op_placed(proc, op)
                .unwrap_or_else(|| self.proc_op(proc, op)),
        }
    }

    fn read(&mut self, proc: &str, range: &Range) -> std::result::Result<Vec<ReadValue>, RunError> {
        let (a, l, start) = self.proc_mut(proc)?.span(range)?;
        let r = self.access(proc, format!("read {a:#x} {l:#x}"), "read")?;
        let mut it = r.split(' ');
        let faults = it
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| RunError::new("bad read reply"))?;
        self.proc_mut(proc)?.last_faults = faults;
        let mut out = Vec::new();
        for (i, v) in it.enumerate() {
            let value = u64::from_str_radix(v, 16).map_err(|_| RunError::new("bad value"))?;
            out.push(ReadValue {
                offset_bytes: start + i as u64 * PAGE,
                value,
            });
        }
        Ok(out)
    }

    fn pages(
        &mut self,
        proc: &str,
        range: &Range,
    ) -> std::result::Result<Vec<(u64, PageObs)>, RunError> {
        let p = self.proc_mut(proc)?;
        let (a, l, start) = p.span(range)?;
        let pid = p.pid;
        let obs = readers::read_pages(pid, &self.phys, a, (l / PAGE) as usize).map_err(rerr)?;
        Ok(obs
            .into_iter()
            .enumerate()
            .map(|(i, o)| (start + i as u64 * PAGE, o))
            .collect())
    }

    fn smaps(&mut self, proc: &str, region: &str) -> std::result::Result<Vec<SmapsObs>, RunError> {
        let p = self.proc_mut(proc)?;
        let r = p.region(region)?.clone();
        let vmas = readers::read_smaps(p.pid).map_err(rerr)?;
        Ok(readers::region_smaps(&vmas, r.addr, r.size))
    }

    fn rss_pages(&mut self, proc: &str, kind: RssKind) -> std::result::Result<u64, RunError> {
        let p = self.proc_mut(proc)?;
        if crate::compat::rss_lags() {
            return Ok(compat_rss_kb(p, kind)? / 4);
        }
        let status = readers::read_status_rss(p.pid).map_err(rerr)?;
        let vmas = readers::read_smaps(p.pid).map_err(rerr)?;
        // The counter minus what the helper's own (non-region) mappings contribute.
        let own: Vec<_> = vmas
            .iter()
            .filter(|v| {
                !p.regions
                    .values()
                    .any(|r| v.end > r.addr && v.start < r.addr + r.size)
            })
            .collect();
        let f = |v: &&readers::SmapsVma, k: &str| v.fields.get(k).copied().unwrap_or(0);
        let kb = match kind {
            RssKind::Anon => status[0].saturating_sub(own.iter().map(|v| f(v, "Anonymous")).sum()),
            RssKind::File => status[1].saturating_sub(
                own.iter()
                    .map(|v| f(v, "Rss").saturating_sub(f(v, "Anonymous")))
                    .sum(),
            ),
            RssKind::Shmem => status[2],
            RssKind::Swap => status[3].saturating_sub(own.iter().map(|v| f(v, "Swap")).sum()),
        };
        Ok(kb / 4)
    }

    fn faults(&mut self, proc: &str) -> std::result::Result<u64, RunError> {
        Ok(self.proc_mut(proc)?.last_faults)
    }

    fn stats(&mut self) -> std::result::Result<BTreeMap<String, i64>, RunError> {
        let base = self
            .baseline
            .as_ref()
            .ok_or_else(|| RunError::new("stats before the first spawn"))?;
        let now = readers::read_counters().map_err(rerr)?;
        Ok(now
            .iter()
            .map(|(k, v)| (k.clone(), v - base.get(k).copied().unwrap_or(0)))
            .collect())
    }

    fn held_values(&mut self, proc: &str, name: &str) -> std::result::Result<Vec<u64>, RunError> {
        let r = self.proc_mut(proc)?.send(&format!("held {name}"))?;
        r.split_whitespace()
            .map(|v| u64::from_str_radix(v, 16).map_err(|_| RunError::new("bad value")))
            .collect()
    }

    fn shows_counter(&self, name: &str) -> bool {
        crate::compat::shows_counter(name)
    }

    fn frame_epoch(&mut self, _frame: u64) -> Option<u64> {
        None
    }

    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem> {
        debug(&format!("after line {}", stmt.pos.line));
        let mut out = std::mem::take(&mut self.problems);
        if let (Some(before), Ok(now)) = (self.full_scans, pages_collapsed()) {
            if now != before && !matches!(stmt.kind, StmtKind::Khugepaged) {
                out.push(Problem {
                    kind: ProblemKind::Invariant,
                    message: format!("khugepaged collapsed pages while paused (pages_collapsed {before} -> {now})"),
                });
                self.full_scans = Some(now);
            }
        }
        out
    }
}

/// RSS from smaps where /proc/PID/status lags (before 6.2; see `compat`).
fn compat_rss_kb(p: &Proc, kind: RssKind) -> std::result::Result<u64, RunError> {
    use crate::compat::{RegionSpan, RssCounter};
    let vmas = readers::read_smaps(p.pid).map_err(rerr)?;
    let regions: Vec<RegionSpan> = p
        .regions
        .values()
        .map(|r| RegionSpan {
            addr: r.addr,
            size: r.size,
            shmem: !matches!(r.kind, MapKind::Anon),
            shared: matches!(r.kind, MapKind::Shmem | MapKind::File { shared: true, .. }),
        })
        .collect();
    let which = match kind {
        RssKind::Anon => RssCounter::Anon,
        RssKind::File => RssCounter::File,
        RssKind::Shmem => RssCounter::Shmem,
        RssKind::Swap => RssCounter::Swap,
    };
    Ok(crate::compat::rss_from_smaps_kb(&vmas, &regions, which))
}

/// Runs one parsed, validated scenario on the kernel through the shared driver, handing
/// every record to `sink`. `unsupported` texts (exit 3) come back in the summary's exit
/// status; print them with [`foliolab_driver::check_supported`] before calling this.
pub fn probe_scenario(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    scenario: &Scenario,
    sink: &mut dyn FnMut(&foliolab_driver::Record),
) -> Result<foliolab_driver::SummaryRecord> {
    let mut runner = KernelRunner::new(guard, opts.clone())?;
    let summary = foliolab_driver::drive(scenario, &mut runner, sink);
    runner.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn placement() {
        for align in [4096u64, 65536, 2 << 20, 512 << 20] {
            let a = place(REGION_BASE, align, 0);
            assert_eq!(a % align, 0);
            assert_ne!(a % (2 * align), 0);
            assert!(a > REGION_BASE);
            let b = place(a + 4096, align, 4096.min(align / 2));
            assert!(b > a + 4096 + 4096 - 1);
        }
    }
    #[test]
    fn knobs_default() {
        let k = run_knobs(&[ThpSetting {
            key: ThpKey::Size(4),
            value: "madvise".into(),
        }]);
        assert!(k.contains(&("hugepages-64kB/enabled".to_string(), "madvise".to_string())));
        assert!(k.contains(&(
            "hugepages-2048kB/enabled".to_string(),
            "inherit".to_string()
        )));
        assert!(k.contains(&("use_zero_page".to_string(), "1".to_string())));
    }
}
