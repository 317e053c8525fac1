//! One VM run: boots the kernel with the job's scenarios, streams the guest's messages as
//! events, and enforces the timeouts. A scenario that times out (or takes the guest down)
//! ends with exit status 2 and a reason; the scenarios after it run in a new boot.

use super::cache::Cache;
use super::initramfs::{build, JobScenario};
use super::kernel::PreparedKernel;
use super::protocol::GuestMsg;
pub use super::qemu::Accel;
use super::qemu::{find_qemu, qemu_version, Boot};
use super::records::parse_record;
use super::VmError;
use foliolab_driver::Record;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Which accelerator to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM if a trial boot on this host (remembered in the cache) showed it works, else TCG.
    Auto,
    Tcg,
    Kvm,
}

/// How a VM run is shaped.
#[derive(Clone, Debug)]
pub struct VmOptions {
    pub cpus: u32,
    pub memory_mib: u64,
    /// From QEMU's start to the guest's first message.
    pub boot_timeout: Duration,
    /// From a scenario's start to its end.
    pub scenario_timeout: Duration,
    /// The whole run, every boot included.
    pub total_timeout: Duration,
    pub accel: AccelChoice,
}

impl Default for VmOptions {
    fn default() -> VmOptions {
        VmOptions {
            cpus: 2,
            memory_mib: 1024,
            boot_timeout: Duration::from_secs(180),
            scenario_timeout: Duration::from_secs(300),
            total_timeout: Duration::from_secs(2 * 3600),
            accel: AccelChoice::Auto,
        }
    }
}

/// What the run reports as it goes.
#[derive(Debug)]
pub enum VmEvent<'a> {
    /// A step that takes time (building, booting).
    Progress(&'a str),
    /// The guest's runner started.
    Booted {
        release: &'a str,
        accel: Accel,
        boot: Duration,
    },
    Fact {
        key: &'a str,
        value: &'a str,
    },
    Note(&'a str),
    Begin(usize),
    Unsupported(usize, &'a str),
    Record(usize, Record),
    /// A scenario could not run or broke off (exit 2 follows).
    Error(usize, &'a str),
    End {
        index: usize,
        exit: i32,
        millis: u64,
    },
}

/// One boot's figures.
#[derive(Clone, Debug)]
pub struct BootReport {
    pub release: String,
    pub accel: Accel,
    /// QEMU start to the guest's first message.
    pub boot: Duration,
    /// QEMU start to its exit.
    pub total: Duration,
    /// Scenarios that ended in this boot.
    pub ended: usize,
}

/// The run's figures.
#[derive(Clone, Debug, Default)]
pub struct VmReport {
    pub boots: Vec<BootReport>,
    pub total: Duration,
}

/// How one boot ended.
enum BootEnd {
    /// The guest said `done` (every scenario it was given ended).
    Done,
    /// The guest stopped talking in scenario `Some(i)` (or between scenarios): timeout or
    /// death; the text says which.
    Broke(Option<usize>, String),
    /// The guest never started its runner.
    NoBoot(String),
}

struct BootOutcome {
    end: BootEnd,
    ended: Vec<usize>,
    report: Option<BootReport>,
}

fn console_tail(path: &Path, n: usize) -> String {
    let t = std::fs::read(path).unwrap_or_default();
    let t = String::from_utf8_lossy(&t);
    let lines: Vec<&str> = t.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n  ");
    if tail.is_empty() {
        "(the console is empty)".into()
    } else {
        format!("last console lines:\n  {tail}")
    }
}

/// The remembered KVM verdict for this host and QEMU: `Some(true)` usable, `Some(false)`
/// not, `None` never tried.
fn kvm_verdict(cache: &Cache, key: &str) -> Option<bool> {
    let t = std::fs::read_to_string(cache.root().join("kvm-verdict")).ok()?;
    let mut it = t.lines();
    (it.next()? == key).then(|| it.next() == Some("usable"))
}

fn store_kvm_verdict(cache: &Cache, key: &str, usable: bool, why: &str) {
    let text = format!(
        "{key}\n{}\n{why}\n",
        if usable { "usable" } else { "unusable" }
    );
    let _ = std::fs::write(cache.root().join("kvm-verdict"), text);
}

fn initial_accel(opts: &VmOptions, cache: &Cache, key: &str) -> Accel {
    match opts.accel {
        AccelChoice::Tcg => Accel::Tcg,
        AccelChoice::Kvm => Accel::Kvm,
        AccelChoice::Auto if !Path::new("/dev/kvm").exists() => Accel::Tcg,
        AccelChoice::Auto => match kvm_verdict(cache, key) {
            Some(true) | None => Accel::Kvm,
            Some(false) => Accel::Tcg,
        },
    }
}

/// Runs the job on the prepared kernel: `exe` is the foliolab executable the guest runs.
pub fn run_job(
    kernel: &PreparedKernel,
    exe: &Path,
    cache: &Cache,
    job: &[JobScenario],
    opts: &VmOptions,
    on: &mut dyn FnMut(VmEvent),
) -> Result<VmReport, VmError> {
    let qemu = find_qemu()?;
    super::memory::check_host(opts.memory_mib)?;
    let run_dir = cache
        .root()
        .join("runs")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| VmError::io(format!("mkdir {}", run_dir.display()), e))?;
    let key = format!("{} | {}", crate::sys::kernel_release(), qemu_version(&qemu));
    let start = Instant::now();
    let mut ctx = BootCtx {
        qemu: &qemu,
        kernel,
        exe,
        cache,
        run_dir: &run_dir,
        opts,
        accel: initial_accel(opts, cache, &key),
        trial: false,
        deadline: start + opts.total_timeout,
    };
    let mut report = VmReport::default();
    let result = boots(&mut ctx, &key, job, &mut report, on);
    report.total = start.elapsed();
    if std::env::var_os("FOLIOLAB_VM_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&run_dir);
    }
    result.map(|_| report)
}

/// Boots until every scenario of the job has ended.
fn boots(
    ctx: &mut BootCtx,
    key: &str,
    job: &[JobScenario],
    report: &mut VmReport,
    on: &mut dyn FnMut(VmEvent),
) -> Result<(), VmError> {
    let mut pending: Vec<JobScenario> = job.to_vec();
    while !pending.is_empty() {
        if report.boots.len() > job.len() + 1 {
            return Err(VmError::Boot("too many boots".into()));
        }
        ctx.trial = ctx.accel == Accel::Kvm && ctx.opts.accel == AccelChoice::Auto;
        let out = boot_once(ctx, &pending, on)?;
        if ctx.trial {
            let why = match &out.end {
                BootEnd::NoBoot(w) | BootEnd::Broke(_, w) => w.clone(),
                BootEnd::Done => "a trial boot worked".into(),
            };
            store_kvm_verdict(ctx.cache, key, matches!(out.end, BootEnd::Done), &why);
            if out.report.is_none() {
                on(VmEvent::Progress(
                    "KVM does not work here (trial boot failed): using TCG",
                ));
                ctx.accel = Accel::Tcg;
                continue;
            }
        }
        report.boots.extend(out.report.clone());
        pending.retain(|s| !out.ended.contains(&s.index));
        settle(out, &mut pending, on)?;
        if !pending.is_empty() && Instant::now() >= ctx.deadline {
            return Err(VmError::Boot(format!(
                "the total timeout ({:?}) was reached with {} scenarios left",
                ctx.opts.total_timeout,
                pending.len()
            )));
        }
    }
    Ok(())
}

/// What a boot's end means for the scenarios it left: a scenario it broke off in ends with
/// exit 2; a boot that ran nothing is an error.
fn settle(
    out: BootOutcome,
    pending: &mut Vec<JobScenario>,
    on: &mut dyn FnMut(VmEvent),
) -> Result<(), VmError> {
    match out.end {
        BootEnd::Done => {
            for s in pending.drain(..) {
                on(VmEvent::Error(
                    s.index,
                    "the guest finished without running it",
                ));
                on(VmEvent::End {
                    index: s.index,
                    exit: 2,
                    millis: 0,
                });
            }
            Ok(())
        }
        BootEnd::Broke(Some(i), why) => {
            on(VmEvent::Error(i, &why));
            on(VmEvent::End {
                index: i,
                exit: 2,
                millis: 0,
            });
            pending.retain(|s| s.index != i);
            Ok(())
        }
        BootEnd::Broke(None, why) if out.ended.is_empty() => Err(VmError::Boot(why)),
        BootEnd::Broke(None, _) => Ok(()),
        BootEnd::NoBoot(why) => Err(VmError::Boot(why)),
    }
}

struct BootCtx<'a> {
    qemu: &'a Path,
    kernel: &'a PreparedKernel,
    exe: &'a Path,
    cache: &'a Cache,
    run_dir: &'a Path,
    opts: &'a VmOptions,
    accel: Accel,
    /// A KVM trial: a short boot timeout.
    trial: bool,
    deadline: Instant,
}

/// Kills and reaps QEMU (started by us) when dropped.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn spawn_reader<R: Read + Send + 'static>(r: R, tx: mpsc::Sender<Option<String>>) {
    std::thread::spawn(move || {
        let mut br = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match br.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(_) => {
                    if tx
                        .send(Some(String::from_utf8_lossy(&buf).into_owned()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
}

/// A running QEMU: its message lines, and its standard error once it ends.
struct Running {
    qemu: Qemu,
    lines: mpsc::Receiver<Option<String>>,
    stderr: std::thread::JoinHandle<String>,
    t0: Instant,
}

fn start(
    ctx: &BootCtx,
    pending: &[JobScenario],
    on: &mut dyn FnMut(VmEvent),
) -> Result<Running, VmError> {
    let initramfs = ctx.run_dir.join("initramfs.cpio");
    let image = build(
        ctx.exe,
        &ctx.cache.root().join("guest"),
        &ctx.kernel.modules,
        pending,
    )?;
    std::fs::write(&initramfs, image)
        .map_err(|e| VmError::io(format!("write {}", initramfs.display()), e))?;
    let boot = Boot {
        qemu: ctx.qemu,
        kernel: ctx.kernel,
        initramfs: &initramfs,
        console_log: &ctx.run_dir.join("console.log"),
        cpus: ctx.opts.cpus,
        memory_mib: ctx.opts.memory_mib,
        accel: ctx.accel,
    };
    on(VmEvent::Progress(&format!(
        "booting {} ({}{}, {} vCPU, {} MiB) with {} scenarios",
        ctx.kernel.label,
        ctx.accel.name(),
        if ctx.kernel.pvh { ", PVH vmlinux" } else { "" },
        ctx.opts.cpus,
        ctx.opts.memory_mib,
        pending.len()
    )));
    let t0 = Instant::now();
    let mut child = boot
        .command()
        .spawn()
        .map_err(|e| VmError::io(format!("start {}", ctx.qemu.display()), e))?;
    let (tx, lines) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, tx);
    }
    let err = child.stderr.take();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    Ok(Running {
        qemu: Qemu(child),
        lines,
        stderr,
        t0,
    })
}

/// Waits up to 30 s for QEMU to exit after the guest powered off, then makes sure it is gone.
fn wait_exit(mut q: Qemu) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = q.0.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(q);
}

fn boot_once(
    ctx: &BootCtx,
    pending: &[JobScenario],
    on: &mut dyn FnMut(VmEvent),
) -> Result<BootOutcome, VmError> {
    let run = start(ctx, pending, on)?;
    let mut st = Stream::new(ctx, run.t0);
    let end = st.pump(&run.lines, on);
    match end {
        Some(_) => drop(run.qemu),
        None => wait_exit(run.qemu),
    }
    let qemu_err = run.stderr.join().unwrap_or_default();
    let console = ctx.run_dir.join("console.log");
    let explain = |w: String| {
        let (q, tail) = (qemu_err.trim(), console_tail(&console, 25));
        if q.is_empty() {
            format!("{w}; {tail}")
        } else {
            format!("{w}; QEMU said: {q}; {tail}")
        }
    };
    let end = match end {
        None => BootEnd::Done,
        Some(BootEnd::Broke(i, w)) => BootEnd::Broke(i, explain(w)),
        Some(BootEnd::NoBoot(w)) => BootEnd::NoBoot(explain(w)),
        Some(BootEnd::Done) => BootEnd::Done,
    };
    let _ = std::fs::copy(&console, ctx.cache.root().join("last-console.log"));
    let report = st.booted.map(|(release, boot)| BootReport {
        release,
        accel: ctx.accel,
        boot,
        total: run.t0.elapsed(),
        ended: st.ended.len(),
    });
    Ok(BootOutcome {
        end,
        ended: st.ended,
        report,
    })
}

/// The guest's message stream of one boot.
struct Stream<'a> {
    ctx: &'a BootCtx<'a>,
    t0: Instant,
    booted: Option<(String, Duration)>,
    current: Option<usize>,
    /// When the current wait started (a scenario's begin, or the last end).
    since: Instant,
    ended: Vec<usize>,
}

impl<'a> Stream<'a> {
    fn new(ctx: &'a BootCtx<'a>, t0: Instant) -> Stream<'a> {
        Stream {
            ctx,
            t0,
            booted: None,
            current: None,
            since: t0,
            ended: Vec::new(),
        }
    }

    fn deadline(&self) -> (Instant, String) {
        let (d, what) = match self.booted {
            None => {
                let limit = if self.ctx.trial {
                    self.ctx.opts.boot_timeout.min(Duration::from_secs(20))
                } else {
                    self.ctx.opts.boot_timeout
                };
                (
                    self.t0 + limit,
                    format!("the guest did not start within {limit:?}"),
                )
            }
            Some(_) => {
                let limit = self.ctx.opts.scenario_timeout;
                (self.since + limit, format!("timed out after {limit:?}"))
            }
        };
        if self.ctx.deadline < d {
            (
                self.ctx.deadline,
                "the run's total timeout was reached".into(),
            )
        } else {
            (d, what)
        }
    }

    /// Handles messages until `done` (`None`) or a break.
    fn pump(
        &mut self,
        rx: &mpsc::Receiver<Option<String>>,
        on: &mut dyn FnMut(VmEvent),
    ) -> Option<BootEnd> {
        loop {
            let (deadline, why) = self.deadline();
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(wait) {
                Ok(Some(l)) => l,
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Some(self.broke("the guest stopped (QEMU exited)".into()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return Some(self.broke(why)),
            };
            let Some(msg) = GuestMsg::parse(&line) else {
                continue;
            };
            if self.handle(msg, on) {
                return None;
            }
        }
    }

    fn broke(&self, why: String) -> BootEnd {
        match self.booted {
            None => BootEnd::NoBoot(why),
            Some(_) => BootEnd::Broke(self.current, why),
        }
    }

    /// One message; true on `done`.
    fn handle(&mut self, msg: GuestMsg, on: &mut dyn FnMut(VmEvent)) -> bool {
        match msg {
            GuestMsg::Hello { release } => {
                let boot = self.t0.elapsed();
                self.since = Instant::now();
                on(VmEvent::Booted {
                    release: &release,
                    accel: self.ctx.accel,
                    boot,
                });
                self.booted = Some((release, boot));
            }
            GuestMsg::Fact { key, value } => on(VmEvent::Fact {
                key: &key,
                value: &value,
            }),
            GuestMsg::Note(t) => on(VmEvent::Note(&t)),
            GuestMsg::Begin(i) => {
                self.current = Some(i);
                self.since = Instant::now();
                on(VmEvent::Begin(i));
            }
            GuestMsg::Unsupported(i, t) => on(VmEvent::Unsupported(i, &t)),
            GuestMsg::Rec(i, json) => match parse_record(&json) {
                Ok(r) => on(VmEvent::Record(i, r)),
                Err(e) => on(VmEvent::Error(i, &e.to_string())),
            },
            GuestMsg::Error(i, t) => on(VmEvent::Error(i, &t)),
            GuestMsg::End {
                index,
                exit,
                millis,
            } => {
                self.current = None;
                self.since = Instant::now();
                self.ended.push(index);
                on(VmEvent::End {
                    index,
                    exit,
                    millis,
                });
            }
            GuestMsg::Done => return true,
        }
        false
    }
}

/// The run directory's console log (kept with `FOLIOLAB_VM_KEEP=1`).
pub fn console_log_path(cache: &Cache) -> PathBuf {
    cache.root().join("last-console.log")
}
