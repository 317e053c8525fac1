//! `foliolab record`: traces a command's process tree with the kernel's tracepoints in a
//! private tracefs instance and returns the events and snapshots for
//! [`foliolab_record::convert`]. Host safety as in the probe: the probe's lock is held,
//! every change (a tracefs mount, the instance) is journaled before it is made and undone
//! on every exit path (errors, panics, SIGINT/SIGTERM/SIGHUP, and after a SIGKILL at the
//! next start or by [`restore_record_host`]).

mod command;
pub mod journal;
mod reader;
mod thp;
pub mod tracefs;
pub use thp::host_thp_settings;

use crate::error::{ProbeError, Result};
use crate::host::HostLock;
use command::Command;
use foliolab_record::event::{enabled_events, needed_formats, Decoder};
use foliolab_record::ring::parse_page;
use foliolab_record::{Recording, Stamped};
use journal::{journal_path, RecordJournal};
use reader::Reader;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};
use tracefs::{Instance, TRACEFS};

/// How to record.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    pub argv: Vec<String>,
    /// Ring buffer per CPU, in KiB.
    pub buffer_kb: u64,
    /// Progress lines on stderr every this often (`None`: quiet).
    pub progress: Option<Duration>,
}

/// A finished recording.
pub struct Outcome {
    pub recording: Recording,
    /// The command's exit status (128 + signal when a signal ended it).
    pub exit: i32,
    pub seconds: f64,
    pub trace_bytes: usize,
    pub snapshots: usize,
}

static STOP: AtomicBool = AtomicBool::new(false);
static READER_CLOSED: AtomicBool = AtomicBool::new(false);
static PGID: AtomicI32 = AtomicI32::new(0);
static SIGNALS: Once = Once::new();
static JOURNAL_LOCK: Mutex<()> = Mutex::new(());

/// `foliolab record --restore`: undoes what a killed recording left.
pub fn restore_record_host() -> Result<Option<RecordJournal>> {
    let _l = HostLock::acquire(Duration::from_secs(600))?;
    let _j = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    journal::restore_from(&journal_path())
}

/// Host state of one recording; undone when dropped.
struct Session {
    journal: RecordJournal,
    instance: Option<Instance>,
    reader: Option<Reader>,
    command: Option<Command>,
    _lock: HostLock,
}

impl Session {
    fn start() -> Result<Session> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(ProbeError::Host("recording needs root (tracefs)".into()));
        }
        start_signal_thread();
        let lock = HostLock::acquire(Duration::from_secs(600))?;
        let _j = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = journal::restore_from(&journal_path())? {
            eprintln!("foliolab record: undid what a killed recording left: {j:?}");
        }
        let mut s = Session {
            journal: RecordJournal {
                pid: std::process::id(),
                ..RecordJournal::default()
            },
            instance: None,
            reader: None,
            command: None,
            _lock: lock,
        };
        if !tracefs::is_tracefs_mount(TRACEFS) {
            s.journal.mounted = Some(TRACEFS.to_string());
            s.journal.store(&journal_path())?;
            tracefs::mount()?;
        }
        let dir = format!("{TRACEFS}/instances/foliolab-{}", std::process::id());
        s.journal.instance = Some(dir.clone());
        s.journal.store(&journal_path())?;
        std::fs::create_dir(&dir).map_err(|e| ProbeError::io(format!("mkdir {dir}"), e))?;
        s.instance = Some(Instance { dir: dir.into() });
        Ok(s)
    }

    fn restore(&mut self) -> Result<()> {
        if let Some(c) = &mut self.command {
            c.kill();
        }
        if let Some(r) = &mut self.reader {
            r.close();
        }
        let _j = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if self.instance.take().is_some() || self.journal.mounted.is_some() {
            journal::restore_from(&journal_path())?;
            self.journal.mounted = None;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            eprintln!(
                "foliolab record: restoring the host failed: {e} (run `foliolab record --restore`)"
            );
        }
    }
}

/// Records `opts.argv`.
pub fn record(opts: &RecordOptions) -> Result<Outcome> {
    let mut s = Session::start()?;
    let inst = s
        .instance
        .as_ref()
        .ok_or_else(|| ProbeError::Host("no instance".into()))?;
    inst.configure(opts.buffer_kb)?;
    let formats = inst.formats(&needed_formats())?;
    let decoder = Decoder::new(&formats).map_err(|e| ProbeError::Host(e.to_string()))?;
    let cpus = tracefs::cpus(inst);
    let mut cmd = Command::fork(&opts.argv)?;
    PGID.store(cmd.pid, Ordering::SeqCst);
    let root = cmd.pid;
    inst.write("set_event_pid", &root.to_string())?;
    inst.enable(&enabled_events())?;
    let reader = Reader::open(inst, &cpus, decoder.clone())?;
    // The reader must take its snapshots while short-lived processes still run: it gets
    // ahead of the command (whose processes keep their own priority, forked before this).
    // SAFETY: setpriority on the calling thread only.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
    inst.write("tracing_on", "1")?;
    cmd.release()?;
    s.command = Some(cmd);
    s.reader = Some(reader);
    let t0 = Instant::now();
    run_loop(&mut s, opts, t0)?;
    let seconds = t0.elapsed().as_secs_f64();
    finish(s, opts, root, &cpus, &decoder, seconds)
}

fn run_loop(s: &mut Session, opts: &RecordOptions, t0: Instant) -> Result<()> {
    let mut last = Instant::now();
    let (Some(reader), Some(cmd)) = (s.reader.as_mut(), s.command.as_mut()) else {
        return Err(ProbeError::Host("recording not started".into()));
    };
    loop {
        if STOP.load(Ordering::SeqCst) {
            reader.close();
            READER_CLOSED.store(true, Ordering::SeqCst);
            loop {
                std::thread::park();
            }
        }
        let got = reader.drain_once()?;
        reader.take_snapshots()?;
        if cmd.poll().is_some() && !got {
            return Ok(());
        }
        if !got {
            reader.wait(5);
        }
        if let Some(every) = opts.progress {
            if last.elapsed() >= every {
                last = Instant::now();
                eprintln!(
                    "foliolab record: {:.0} s, {} events ({} faults, {:.1} MiB), {} tasks, {} snapshots",
                    t0.elapsed().as_secs_f64(),
                    reader.events,
                    reader.faults,
                    reader.bytes() as f64 / (1 << 20) as f64,
                    reader.tasks,
                    reader.snapshots.len()
                );
            }
        }
    }
}

fn finish(
    mut s: Session,
    opts: &RecordOptions,
    root: i32,
    cpus: &[usize],
    decoder: &Decoder,
    seconds: f64,
) -> Result<Outcome> {
    let inst = s
        .instance
        .as_ref()
        .ok_or_else(|| ProbeError::Host("no instance".into()))?;
    inst.write("tracing_on", "0")?;
    let reader = s
        .reader
        .as_mut()
        .ok_or_else(|| ProbeError::Host("no reader".into()))?;
    while reader.drain_once()? {}
    let lost = inst.lost_events(cpus)? + reader.lost_events;
    if lost > 0 || reader.lost_pages > 0 {
        return Err(ProbeError::Host(format!(
            "the trace lost {lost} events ({} buffer pages marked a loss): the recording is \
             incomplete; record again with a larger --buffer-mb (now {} MiB per CPU) or less load",
            reader.lost_pages,
            opts.buffer_kb / 1024
        )));
    }
    let events = merge(&reader.pages, reader.page_size, decoder)?;
    let exit = s.command.as_mut().and_then(|c| c.poll()).unwrap_or(0);
    let recording = Recording {
        events,
        snapshots: std::mem::take(&mut reader.snapshots),
        root_pid: root,
        command: opts.argv.join(" "),
        kernel: crate::sys::kernel_release(),
        thp: host_thp_settings(),
    };
    let (trace_bytes, snapshots) = (reader.bytes(), recording.snapshots.len());
    s.restore()?;
    Ok(Outcome {
        recording,
        exit,
        seconds,
        trace_bytes,
        snapshots,
    })
}

/// Every event of every CPU, in timestamp order (CPU, then position break ties).
fn merge(pages: &[Vec<u8>], page_size: usize, decoder: &Decoder) -> Result<Vec<Stamped>> {
    let mut out = Vec::new();
    for (cpu, bytes) in pages.iter().enumerate() {
        for page in bytes.chunks(page_size) {
            let parsed = parse_page(page).map_err(|e| ProbeError::Host(e.to_string()))?;
            for (ts, rec) in parsed.events {
                if let Some(event) = decoder.decode(rec) {
                    out.push(Stamped {
                        ts,
                        cpu: cpu as u32,
                        event,
                    });
                }
            }
        }
    }
    out.sort_by_key(|e| (e.ts, e.cpu));
    Ok(out)
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the threads it starts later) and
/// starts a thread that, on one of them, kills the command's process group, waits for the
/// reader to close the buffers, undoes the journal and exits with 128 + the signal.
fn start_signal_thread() {
    SIGNALS.call_once(|| {
        // SAFETY: plain sigset manipulation on a local set.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: waiting on a valid set.
            while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
            STOP.store(true, Ordering::SeqCst);
            let pgid = PGID.load(Ordering::SeqCst);
            if pgid > 0 {
                // SAFETY: signalling the command's group.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let t = Instant::now();
            while !READER_CLOSED.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _j = JOURNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = journal::restore_from(&journal_path()) {
                eprintln!("foliolab record: restore on signal failed: {e}");
            }
            eprintln!(
                "foliolab record: stopped by {}; host restored",
                crate::sys::signal_name(sig)
            );
            std::mem::forget(_j);
            // SAFETY: leaving the process.
            unsafe { libc::_exit(128 + sig) };
        });
    });
}
