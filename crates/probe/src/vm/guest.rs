//! The guest side: foliolab as the VM's init.
//!
//! The kernel starts `/foliolab __vm-guest` as process 1 ([`guest_init`]). It mounts
//! /proc, /sys and /dev, loads the modules of the initramfs (zram), switches off what
//! changes results and the host does not have (MGLRU, DAMON's kdamonds), reports what the
//! kernel exposes, and starts the runner ([`guest_run`], `/foliolab __vm-guest-run`) as
//! its child with the message port (`/dev/ttyS1`) as standard output. The runner runs every
//! scenario of the job with the same [`KernelRunner`](crate::KernelRunner) as on the host
//! (knobs set to the spec defaults before each scenario, khugepaged paused, swap on zram),
//! sending each record as it comes. Process 1 reaps whatever is left, then powers off.
//! Every diagnostic goes to the console (`ttyS0`), which the host keeps in a log.

use super::initramfs::{parse_index, GUEST_EXE, JOB_DIR, MODULES_DIR};
use super::protocol::GuestMsg;
use crate::{probe_scenario, HostGuard, KernelRunner, ProbeOptions};
use foliolab_driver::Record;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::time::Instant;

/// The guest's message port.
pub const PORT: &str = "/dev/ttyS1";

fn send(out: &mut dyn Write, m: &GuestMsg) {
    // A lost port means the host is gone: nothing better to do than go on.
    let _ = out.write_all(m.line().as_bytes());
    let _ = out.flush();
}

fn mount(src: &str, dst: &str, fstype: &str) {
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let _ = std::fs::create_dir_all(dst);
    // SAFETY: valid C strings; no data argument.
    let r = unsafe {
        libc::mount(
            c(src).as_ptr(),
            c(dst).as_ptr(),
            c(fstype).as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        eprintln!(
            "foliolab guest: mount {fstype} on {dst}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Opens the port in raw mode (no newline translation, no echo).
fn open_port() -> Option<File> {
    let f = File::options().read(true).write(true).open(PORT).ok()?;
    // SAFETY: termios calls on a valid fd with a zeroed struct they fill.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(f.as_raw_fd(), &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    Some(f)
}

fn write_file(path: &str, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{path}: {e}"))
}

fn load_modules(out: &mut dyn Write) {
    let mut mods: Vec<_> = std::fs::read_dir(format!("/{MODULES_DIR}"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    mods.sort();
    for m in mods {
        let Ok(f) = File::open(&m) else { continue };
        let params = std::ffi::CString::default();
        // SAFETY: finit_module on an open fd with an empty parameter string.
        let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
        let err = std::io::Error::last_os_error();
        let what = if r == 0 || err.raw_os_error() == Some(libc::EEXIST) {
            "loaded".to_string()
        } else {
            format!("failed: {err}")
        };
        send(
            out,
            &GuestMsg::Note(format!("module {}: {what}", m.display())),
        );
    }
}

/// Switches off what the host does not have: MGLRU (on by default in Debian's 6.12 and
/// 7.2; it changes reclaim and `Referenced`) and DAMON's kdamonds (7.2 starts DAMON_STAT at
/// boot; DAMON clears accessed bits).
fn quiet_kernel(out: &mut dyn Write) {
    let mut notes = Vec::new();
    if Path::new("/sys/kernel/mm/lru_gen/enabled").exists() {
        notes.push(match write_file("/sys/kernel/mm/lru_gen/enabled", "n") {
            Ok(()) => "MGLRU off".to_string(),
            Err(e) => format!("MGLRU could not be switched off: {e}"),
        });
    }
    for m in ["damon_stat", "damon_reclaim", "damon_lru_sort"] {
        let p = format!("/sys/module/{m}/parameters/enabled");
        if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == "Y") {
            notes.push(match write_file(&p, "N") {
                Ok(()) => format!("{m} off"),
                Err(e) => format!("{m} could not be switched off: {e}"),
            });
        }
    }
    for n in notes {
        send(out, &GuestMsg::Note(n));
    }
}

/// Process 1 of the guest. Never returns: it powers the machine off.
pub fn guest_init() -> ! {
    mount("proc", "/proc", "proc");
    mount("sysfs", "/sys", "sysfs");
    mount("devtmpfs", "/dev", "devtmpfs");
    let mut port: Box<dyn Write> = match open_port() {
        Some(f) => Box::new(f),
        None => {
            eprintln!("foliolab guest: cannot open {PORT}");
            Box::new(std::io::sink())
        }
    };
    send(
        &mut port,
        &GuestMsg::Hello {
            release: crate::sys::kernel_release(),
        },
    );
    load_modules(&mut port);
    quiet_kernel(&mut port);
    for (k, v) in super::facts::collect() {
        send(&mut port, &GuestMsg::Fact { key: k, value: v });
    }
    // A runner that died leaves its scenario unfinished: no `done`, so the host ends that
    // scenario with the console's reason and runs the rest in a new boot.
    if run_child(&mut port) {
        send(&mut port, &GuestMsg::Done);
    }
    // SAFETY: sync and reboot take no pointers; process 1 may power off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Starts the runner with the port as its standard output and reaps every process until the
/// runner is gone; whether it ended normally.
fn run_child(port: &mut dyn Write) -> bool {
    let stdout = match open_port() {
        Some(f) => std::process::Stdio::from(f),
        None => std::process::Stdio::null(),
    };
    let child = std::process::Command::new(GUEST_EXE)
        .arg("__vm-guest-run")
        .stdout(stdout)
        .spawn();
    let pid = match child {
        Ok(c) => c.id() as i32,
        Err(e) => {
            let m = format!("the runner did not start: {e}");
            send(port, &GuestMsg::Note(m));
            return false;
        }
    };
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child into a local.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r < 0 {
            return false;
        }
        if r == pid {
            let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            if !ok {
                eprintln!("foliolab guest: the runner ended abnormally (wait status {status:#x})");
            }
            return ok;
        }
    }
}

/// The runner (`__vm-guest-run`): every scenario of the job, in index order.
pub fn guest_run() -> ! {
    // SAFETY: fd 1 is the port, owned by this process from here on.
    let mut out = std::io::LineWriter::new(unsafe { File::from_raw_fd(1) });
    let index = std::fs::read_to_string(format!("/{JOB_DIR}/index")).unwrap_or_default();
    let mut guard = match HostGuard::acquire() {
        Ok(g) => g,
        Err(e) => {
            for (i, _) in parse_index(&index) {
                send(&mut out, &GuestMsg::Error(i, format!("probe setup: {e}")));
                let end = GuestMsg::End {
                    index: i,
                    exit: 2,
                    millis: 0,
                };
                send(&mut out, &end);
            }
            std::process::exit(0);
        }
    };
    let opts = ProbeOptions::from_env();
    for (i, name) in parse_index(&index) {
        send(&mut out, &GuestMsg::Begin(i));
        let t = Instant::now();
        let exit = match &opts {
            Ok(o) => run_one(&mut guard, o, i, &name, &mut out),
            Err(e) => {
                send(&mut out, &GuestMsg::Error(i, e.to_string()));
                2
            }
        };
        send(
            &mut out,
            &GuestMsg::End {
                index: i,
                exit,
                millis: t.elapsed().as_millis() as u64,
            },
        );
    }
    let _ = guard.restore();
    std::process::exit(0)
}

fn run_one(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    i: usize,
    name: &str,
    out: &mut dyn Write,
) -> i32 {
    let text = match std::fs::read_to_string(format!("/{JOB_DIR}/{i}.scn")) {
        Ok(t) => t,
        Err(e) => {
            send(out, &GuestMsg::Error(i, format!("{name}: {e}")));
            return 2;
        }
    };
    let sc = match foliolab_scenario::parse(name, &text)
        .and_then(|s| foliolab_scenario::validate(&s).map(|_| s))
    {
        Ok(s) => s,
        Err(e) => {
            send(out, &GuestMsg::Error(i, e.to_string()));
            return 2;
        }
    };
    let missing = match KernelRunner::new(guard, opts.clone()) {
        Ok(r) => foliolab_driver::check_supported(&sc, &r),
        Err(e) => {
            send(out, &GuestMsg::Error(i, e.to_string()));
            return 2;
        }
    };
    if !missing.is_empty() {
        for m in missing {
            send(out, &GuestMsg::Unsupported(i, m));
        }
        return 3;
    }
    for attempt in 1..=KHUGEPAGED_ATTEMPTS {
        let mut records = Vec::new();
        let res = probe_scenario(guard, opts, &sc, &mut |r: &Record| records.push(r.clone()));
        let disturbed = records.iter().any(khugepaged_ran);
        if disturbed && attempt < KHUGEPAGED_ATTEMPTS {
            send(
                out,
                &GuestMsg::Note(format!(
                "{name}: khugepaged collapsed pages while paused (attempt {attempt}): run again"
            )),
            );
            continue;
        }
        for r in &records {
            send(out, &GuestMsg::Rec(i, foliolab_driver::render_json(r)));
        }
        return match res {
            Ok(s) => s.exit,
            Err(e) => {
                send(out, &GuestMsg::Error(i, e.to_string()));
                2
            }
        };
    }
    2
}

/// How often a scenario runs when khugepaged disturbs it.
const KHUGEPAGED_ATTEMPTS: u32 = 3;

/// The runner's report that khugepaged collapsed pages while it was paused: a guest under
/// TCG is slow enough for a khugepaged pass (woken by a knob write or a new mm) to reach a
/// scenario's memory, which the host never sees. The scenario runs again (and the host is
/// told); the third time its records stand as they are.
fn khugepaged_ran(r: &Record) -> bool {
    matches!(r, Record::Problem(p) if p.message.starts_with("khugepaged collapsed pages while paused"))
}
