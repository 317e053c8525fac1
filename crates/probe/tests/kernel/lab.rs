//! What the host-safety tests need: a full snapshot of what a probe may change, the host
//! lock taken by the test itself (so snapshots are never taken while another helper's probe
//! has the host), and probe processes driven through `--hold`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RUN: &str = env!("CARGO_BIN_EXE_foliolab-probe-run");
pub const HELPER: &str = env!("CARGO_BIN_EXE_foliolab-probe-helper");
pub const THP: &str = "/sys/kernel/mm/transparent_hugepage";
const LOCK: &str = "/run/foliolab-probe.lock";
const JOURNAL: &str = "/run/foliolab-probe/journal";
/// How long the tests wait for another helper's probe to let go of the host.
pub const LOCK_PATIENCE: Duration = Duration::from_secs(1800);

pub type TestResult = Result<String, String>;

pub fn conformance(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/conformance")
        .join(name)
}

/// A scenario written to a temporary file.
pub fn scenario_file(tag: &str, body: &str) -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!("foliolab-kt-{tag}-{}.scn", std::process::id()));
    std::fs::write(&p, format!("scenario 1\n{body}")).map_err(|e| e.to_string())?;
    Ok(p)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "stats") {
                files_under(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Every file under the THP directory (every global, per-size anon and shmem knob, and
/// khugepaged's), but statistics and khugepaged's counters.
fn thp_state(out: &mut Vec<String>) {
    let mut files = Vec::new();
    files_under(Path::new(THP), &mut files);
    for f in files {
        let rel = f.strip_prefix(THP).unwrap_or(&f).display().to_string();
        if rel.ends_with("full_scans") || rel.ends_with("pages_collapsed") {
            continue;
        }
        let v = std::fs::read_to_string(&f).unwrap_or_else(|e| format!("<{e}>"));
        out.push(format!("thp {rel}={}", v.trim()));
    }
}

/// Whether a khugepaged thread runs (it stops when THP is `never` everywhere).
fn khugepaged_thread() -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "khugepaged")
        })
}

/// A full snapshot: THP knobs, khugepaged, swap, zram, the probe journal.
pub fn snapshot() -> Vec<String> {
    let mut v = Vec::new();
    thp_state(&mut v);
    v.push(format!("khugepaged thread: {}", khugepaged_thread()));
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for l in swaps.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        v.push(format!(
            "swap {} {} {}",
            f.first().unwrap_or(&""),
            f.get(2).unwrap_or(&""),
            f.get(4).unwrap_or(&"")
        ));
    }
    for z in ["disksize", "initstate"] {
        let val = std::fs::read_to_string(format!("/sys/block/zram0/{z}")).unwrap_or_default();
        v.push(format!("zram0 {z}={}", val.trim()));
    }
    let journal = std::fs::read_to_string(JOURNAL).unwrap_or_else(|_| "none".into());
    v.push(format!("journal {}", journal.replace('\n', "|")));
    v
}

/// The lines that differ, `a -> b`.
pub fn diff(a: &[String], b: &[String]) -> String {
    let only_a: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
    let only_b: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
    format!("{only_a:?} -> {only_b:?}")
}

/// Compares a snapshot with the one before.
pub fn same(what: &str, before: &[String], after: &[String]) -> Result<(), String> {
    if before == after {
        Ok(())
    } else {
        Err(format!("{what}: {}", diff(before, after)))
    }
}

/// The host lock, held by this test (released when dropped).
pub struct Lock {
    _held: File,
}

/// Starts waiting for the lock in a thread (a blocked flock, woken first when the holder
/// lets go); [`Waiter::get`] returns it.
pub struct Waiter(mpsc::Receiver<Result<File, String>>);

pub fn wait_lock() -> Waiter {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(LOCK);
        let r = r.map_err(|e| e.to_string()).and_then(|f| {
            // SAFETY: a valid fd; a blocking exclusive flock.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                Ok(f)
            } else {
                Err(std::io::Error::last_os_error().to_string())
            }
        });
        let _ = tx.send(r);
    });
    // Let the thread block in flock before the caller releases the holder.
    std::thread::sleep(Duration::from_millis(50));
    Waiter(rx)
}

impl Waiter {
    pub fn get(self) -> Result<Lock, String> {
        match self.0.recv_timeout(LOCK_PATIENCE) {
            Ok(r) => r.map(|f| Lock { _held: f }),
            Err(_) => Err(format!(
                "{LOCK} held by another program for {LOCK_PATIENCE:?}"
            )),
        }
    }
}

/// A snapshot taken while this test holds the lock: no probe runs meanwhile.
pub fn quiet_snapshot() -> Result<Vec<String>, String> {
    let _l = wait_lock().get()?;
    Ok(snapshot())
}

/// A probe process with its output collected.
pub struct Probe {
    pub child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

fn collect(r: impl std::io::Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(mut s) = into.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
}

/// How a probe ended: its exit code (128 + N when a signal handler exited) or the signal
/// that killed it, and its peak RSS.
#[derive(Debug)]
pub struct Ended {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub maxrss_kb: i64,
    pub out: String,
    pub err: String,
}

impl Probe {
    pub fn start(args: &[&str]) -> Result<Probe, String> {
        Probe::start_with(Command::new(RUN).args(args))
    }

    pub fn start_with(cmd: &mut Command) -> Result<Probe, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {RUN}: {e}"))?;
        let (out, err) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        collect(child.stdout.take().ok_or("no stdout")?, out.clone());
        collect(child.stderr.take().ok_or("no stderr")?, err.clone());
        let stdin = child.stdin.take();
        Ok(Probe {
            child,
            stdin,
            out,
            err,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether the probe has ended, leaving it to be reaped by [`Probe::wait`].
    pub fn ended(&self) -> bool {
        // SAFETY: siginfo_t is plain data; WNOWAIT leaves the child waitable.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; our child's pid.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid after waitid.
        r == 0 && unsafe { info.si_pid() } != 0
    }

    fn text(&self, err: bool) -> String {
        let s = if err { &self.err } else { &self.out };
        s.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until stdout (or stderr) has a line containing `needle`.
    pub fn wait_for(
        &mut self,
        needle: &str,
        on_stderr: bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let t = Instant::now();
        while !self.text(on_stderr).contains(needle) {
            if self.ended() {
                return Err(format!(
                    "probe ended before {needle:?}: {}{}",
                    self.text(false),
                    self.text(true)
                ));
            }
            if t.elapsed() > timeout {
                return Err(format!(
                    "no {needle:?} after {timeout:?}: {}",
                    self.text(true)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Waits until the probe holds its scenario's state (it may first wait for the lock).
    pub fn wait_holding(&mut self) -> Result<(), String> {
        self.wait_for("holding", false, LOCK_PATIENCE)
    }

    /// Ends `--hold`: the probe finishes normally.
    pub fn release(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"\n");
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Closes its standard input (ending `--hold`) and reaps the probe with its resource
    /// usage.
    pub fn wait(mut self) -> Ended {
        drop(self.stdin.take());
        self.reap_ref()
    }

    /// Reaps the probe while its standard input stays open (a signalled `--hold` must end
    /// by the signal, not by the end of its input).
    pub fn wait_signalled(mut self) -> Ended {
        let e = self.reap_ref();
        drop(self.stdin.take());
        e
    }

    fn reap_ref(&mut self) -> Ended {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 reaps our child.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers; our child's pid.
        unsafe { libc::wait4(self.pid(), &mut status, 0, &mut ru) };
        std::thread::sleep(Duration::from_millis(50));
        let (code, signal) = if libc::WIFEXITED(status) {
            (Some(libc::WEXITSTATUS(status)), None)
        } else {
            (None, Some(libc::WTERMSIG(status)))
        };
        Ended {
            code,
            signal,
            maxrss_kb: ru.ru_maxrss,
            out: self.text(false),
            err: self.text(true),
        }
    }
}

/// A finished run of the probe tool.
pub fn run(args: &[&str]) -> Result<Ended, String> {
    Ok(Probe::start(args)?.wait())
}

/// Helper processes of this test's probes still alive (there must be none at the end).
pub fn helpers_left() -> Vec<i32> {
    let exe = std::fs::canonicalize(HELPER).unwrap_or_else(|_| PathBuf::from(HELPER));
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path().join("exe")).ok()?;
            let state = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'));
            (target == exe && !zombie).then_some(pid)
        })
        .collect()
}

/// Waits up to 5 s for every helper to be gone.
pub fn no_helpers_left() -> Result<(), String> {
    let t = Instant::now();
    loop {
        let left = helpers_left();
        if left.is_empty() {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(5) {
            return Err(format!("helpers left behind: {left:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Another process on the host with memory khugepaged may collapse: `ranges` PMD ranges of
/// PTE-mapped anonymous pages under MADV_HUGEPAGE (the probe's helper binary, driven by the
/// protocol). Killed when dropped.
pub struct Foreign {
    child: Child,
}

impl Foreign {
    pub fn start(ranges: u64) -> Result<Foreign, String> {
        use foliolab_probe::protocol::{Command as C, MapTarget, Reply};
        use foliolab_scenario::{Advice, Prot};
        let mut child = Command::new(HELPER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {HELPER}: {e}"))?;
        let mut input = child.stdin.take().ok_or("no stdin")?;
        let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut f = Foreign { child };
        let (addr, len) = (0x3000_0000_0000u64, ranges << 21);
        let cmds = [
            C::Map {
                addr,
                len,
                target: MapTarget::Anon,
                prot: Prot::Rw,
            },
            C::Advise {
                addr,
                len,
                advice: Advice::Nohugepage,
            },
            C::Write {
                addr,
                len,
                value: 7,
            },
            C::Advise {
                addr,
                len,
                advice: Advice::Hugepage,
            },
        ];
        let mut line = String::new();
        output.read_line(&mut line).map_err(|e| e.to_string())?;
        for c in cmds {
            writeln!(input, "{}", c.encode()).map_err(|e| e.to_string())?;
            line.clear();
            output.read_line(&mut line).map_err(|e| e.to_string())?;
            if matches!(Reply::decode(line.trim_end()), Ok(Reply::Err(_)) | Err(_)) {
                return Err(format!("foreign process: {c:?}: {line}"));
            }
        }
        std::mem::forget(input);
        f.child.stdout = Some(output.into_inner());
        Ok(f)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = foliolab_probe::pidfd::PidFd::open(self.child.id() as i32)
            .map(|p| p.signal(libc::SIGKILL));
        let _ = self.child.wait();
    }
}
