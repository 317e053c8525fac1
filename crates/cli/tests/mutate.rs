//! Mutation fuzzing of the repository's scenarios through `foliolab run`'s own code path,
//! in-process, under a memory cap: no mutant may panic (exit 101) or exhaust memory (the
//! abort, 134, of the binary), every invalid one (exit 2) says where, as
//! `file:line:column: reason`, and every one that parses prints (`fmt`) to the same program.
//!
//! `cargo test -p foliolab --test mutate` runs a bounded campaign in-process. Long campaigns
//! run workers (this test binary again, each mutant in-process) that a parent watches, so an
//! abort or a hang is counted and the campaign goes on with the next mutant:
//! `FOLIOLAB_MUTATIONS=500000 FOLIOLAB_MUTATE_JOBS=2 cargo test --release -p foliolab --test
//! mutate -- --nocapture`. Also `FOLIOLAB_MUTATE_SEED` (decimal, hex or a commit id),
//! `FOLIOLAB_MUTATE_CASE=I` (replay one mutant and print it), `FOLIOLAB_MUTATE_CAP_MIB`
//! (default 4096), `FOLIOLAB_MUTATE_TIMEOUT` (seconds a mutant may run, default 120).

use foliolab_cli::mutate::{case, run_case};
use foliolab_cli::run::RunOptions;
use foliolab_testkit::{relative, scenarios_below};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The allocator of this test binary: counts live bytes and refuses to go over the cap,
/// naming the mutant that tried (the binary then aborts, which is a finding).
struct Capped;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(4 << 30);
static CASE: AtomicU64 = AtomicU64::new(u64::MAX);
static SEED: AtomicU64 = AtomicU64::new(0);
/// Cases started so far (the watchdog sees progress through it).
static STARTED: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static ALLOC: Capped = Capped;

impl Capped {
    fn admit(&self, size: usize) -> bool {
        let now = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        if now > CAP.load(Ordering::Relaxed) {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            over_cap(size);
            return false;
        }
        PEAK.fetch_max(now, Ordering::Relaxed);
        true
    }
}

/// Says which mutant went over the cap, without allocating.
fn over_cap(size: usize) {
    let mut buf = [0u8; 256];
    let mut w: &mut [u8] = &mut buf;
    let _ = write!(
        w,
        "\nmemory cap exceeded by mutant {} of seed {:#x} (an allocation of {} bytes); replay: \
         FOLIOLAB_MUTATE_SEED={:#x} FOLIOLAB_MUTATE_CASE={}\n",
        CASE.load(Ordering::Relaxed),
        SEED.load(Ordering::Relaxed),
        size,
        SEED.load(Ordering::Relaxed),
        CASE.load(Ordering::Relaxed),
    );
    let left = w.len();
    let _ = std::io::stderr().write_all(&buf[..buf.len() - left]);
}

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.admit(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !self.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                LIVE.fetch_sub(new_size - old, Ordering::Relaxed);
            }
        } else if new_size < old {
            LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
        }
        p
    }
}

/// A mutant that runs longer than `limit` is a finding too (a hang can only be reported
/// from another thread): the watchdog names it and ends the process.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        let mut seen = u64::MAX;
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = STARTED.load(Ordering::Relaxed);
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() > limit {
                eprintln!(
                    "\nmutant {} of seed {:#x} has run for over {}s; replay: \
                     FOLIOLAB_MUTATE_SEED={:#x} FOLIOLAB_MUTATE_CASE={}",
                    CASE.load(Ordering::Relaxed),
                    SEED.load(Ordering::Relaxed),
                    limit.as_secs(),
                    SEED.load(Ordering::Relaxed),
                    CASE.load(Ordering::Relaxed),
                );
                std::process::exit(124);
            }
        }
    });
}

/// The seeds of the mutants: every scenario of `examples/` and `tests/`, but only every
/// tenth of the 744 generated `tests/cow/` files (they differ little from each other).
fn corpus() -> Vec<(String, String)> {
    let mut files = scenarios_below(&["examples", "tests"], 850);
    let mut cow = 0;
    files.retain(|p| {
        if !p.to_string_lossy().contains("/tests/cow/") {
            return true;
        }
        cow += 1;
        cow % 10 == 1
    });
    files
        .iter()
        .map(|p| {
            let name = relative(p);
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        foliolab_fuzz::parse_seed(&v)
            .unwrap_or_else(|| panic!("{name}={v}: not a number or commit id")),
    )
}

/// True when the output of an invalid run says where: `mutant.scn:LINE:COLUMN: `.
fn positioned(text: &str) -> bool {
    let num =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    text.match_indices("mutant.scn:").any(|(i, m)| {
        let mut parts = text[i + m.len()..].splitn(3, ':');
        num(parts.next()) && num(parts.next()) && parts.next().is_some_and(|r| r.starts_with(' '))
    })
}

/// The reason of an invalid run without its position and token (for the tally).
fn reason(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains("mutant.scn:"))
        .unwrap_or("(no position)");
    let after = line.split("mutant.scn:").nth(1).unwrap_or(line);
    let text = after.splitn(3, ':').nth(2).unwrap_or(after);
    let text = text.split(" (found").next().unwrap_or(text);
    text.split('`')
        .step_by(2)
        .collect::<Vec<_>>()
        .join("_")
        .trim()
        .to_string()
}

/// What one mutant did.
enum Outcome {
    /// An exit status 0 to 3; for 2, the reason.
    Exit(u8, Option<String>),
    /// A bug: a panic, another exit status, an invalid run that does not say where, a
    /// death (an abort under the memory cap).
    Finding(String),
    /// Still running at the time limit (campaign mode): reported, not a failure.
    Slow,
}

/// Runs mutant `index` in this process.
fn run_mutant(seed: u64, index: u64, corpus: &[(String, String)], verbose: bool) -> Outcome {
    CASE.store(index, Ordering::Relaxed);
    STARTED.fetch_add(1, Ordering::Relaxed);
    let (_, mutant) = case(seed, index, corpus);
    if verbose {
        println!("{}", String::from_utf8_lossy(&mutant));
    }
    if let Some(why) = round_trip_breaks(&mutant) {
        return Outcome::Finding(why);
    }
    let opts = RunOptions::default();
    let r = match std::panic::catch_unwind(|| run_case("mutant.scn", &mutant, &opts)) {
        Err(payload) => return Outcome::Finding(foliolab_fuzz::panics::message(&*payload)),
        Ok(r) => r,
    };
    let out = String::from_utf8_lossy(&r.stdout).to_string() + &String::from_utf8_lossy(&r.stderr);
    if verbose {
        println!("exit {}\n{out}", r.exit);
    }
    match r.exit {
        2 if !positioned(&out) => Outcome::Finding(format!("invalid without a position:\n{out}")),
        2 => Outcome::Exit(2, Some(reason(&out))),
        e @ 0..=3 => Outcome::Exit(e, None),
        e => Outcome::Finding(format!("exit status {e}")),
    }
}

/// What is wrong when a mutant that parses does not print canonically: the printed form
/// must parse to the same program, print the same again, and keep its validity (`fmt`).
fn round_trip_breaks(mutant: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(mutant).ok()?;
    let checked = std::panic::catch_unwind(|| {
        let s = foliolab_scenario::parse("mutant.scn", text).ok()?;
        let printed = foliolab_scenario::print(&s);
        let again = match foliolab_scenario::parse("mutant.scn", &printed) {
            Ok(a) => a,
            Err(e) => return Some(format!("the canonical form does not parse: {e}\n{printed}")),
        };
        if !again.same_program(&s) {
            return Some(format!("the canonical form is another program:\n{printed}"));
        }
        if foliolab_scenario::print(&again) != printed {
            return Some(format!("printing is not idempotent:\n{printed}"));
        }
        let valid = |s| foliolab_scenario::validate(s).is_ok();
        (valid(&s) != valid(&again)).then(|| format!("validity changed by printing:\n{printed}"))
    });
    checked.unwrap_or_else(|p| Some(foliolab_fuzz::panics::message(&*p)))
}

/// The campaign's figures.
#[derive(Default)]
struct Tally {
    exits: [u64; 4],
    findings: Vec<(u64, String)>,
    slow: Vec<u64>,
    reasons: BTreeMap<String, u64>,
    slowest: Vec<(Duration, u64)>,
}

impl Tally {
    fn add(&mut self, index: u64, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Exit(e, reason) => {
                self.exits[e as usize] += 1;
                if let Some(r) = reason {
                    *self.reasons.entry(r).or_default() += 1;
                }
            }
            Outcome::Finding(what) => self.findings.push((index, what)),
            Outcome::Slow => self.slow.push(index),
        }
        self.slowest.push((took, index));
        self.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        self.slowest.truncate(5);
    }

    fn total(&self) -> u64 {
        self.exits.iter().sum::<u64>() + self.findings.len() as u64 + self.slow.len() as u64
    }

    fn report(&self, seed: u64, corpus: &[(String, String)], elapsed: Duration) -> String {
        let e = self.exits;
        let mut out = format!(
            "mutation fuzzing: {} mutants in {:.1}s: exit 0: {}, 1: {}, 2: {}, 3: {}; {} \
             findings (panics, aborts, unpositioned errors); {} over the time limit; peak \
             memory {} MiB (in this process)\n",
            self.total(),
            elapsed.as_secs_f64(),
            e[0],
            e[1],
            e[2],
            e[3],
            self.findings.len(),
            self.slow.len(),
            PEAK.load(Ordering::Relaxed) >> 20
        );
        if std::env::var_os("FOLIOLAB_MUTATE_REASONS").is_some() {
            let mut by_count: Vec<(&u64, &String)> =
                self.reasons.iter().map(|(r, n)| (n, r)).collect();
            by_count.sort_by(|a, b| b.cmp(a));
            for (n, r) in by_count.iter().take(40) {
                out += &format!("  invalid: {n:7} {r}\n");
            }
        }
        for index in self.slow.iter().take(20) {
            out += &format!(
                "  over the time limit: mutant {index} (replay: FOLIOLAB_MUTATE_SEED={seed:#x} \
                 FOLIOLAB_MUTATE_CASE={index})\n"
            );
        }
        for (took, index) in &self.slowest {
            out += &format!("  slowest: mutant {index}: {:.2}s\n", took.as_secs_f64());
        }
        for (index, what) in self.findings.iter().take(20) {
            let (which, mutant) = case(seed, *index, corpus);
            let text: String = String::from_utf8_lossy(&mutant)
                .chars()
                .take(3000)
                .collect();
            out += &format!(
                "finding: mutant {index} of {} (replay: FOLIOLAB_MUTATE_SEED={seed:#x} \
                 FOLIOLAB_MUTATE_CASE={index}): {what}\n--- mutant ---\n{text}\n--------------\n",
                corpus[which].0
            );
        }
        out
    }
}

struct Config {
    seed: u64,
    count: u64,
    only: Option<u64>,
    timeout: Duration,
    jobs: Option<u64>,
}

impl Config {
    fn from_env() -> Config {
        if let Some(mib) = env_u64("FOLIOLAB_MUTATE_CAP_MIB") {
            CAP.store((mib as usize) << 20, Ordering::Relaxed);
        }
        let seed = env_u64("FOLIOLAB_MUTATE_SEED").unwrap_or(0x6d75_7461_7465_0001);
        SEED.store(seed, Ordering::Relaxed);
        Config {
            seed,
            count: env_u64("FOLIOLAB_MUTATIONS").unwrap_or(1500),
            only: env_u64("FOLIOLAB_MUTATE_CASE"),
            timeout: Duration::from_secs(env_u64("FOLIOLAB_MUTATE_TIMEOUT").unwrap_or(120)),
            jobs: env_u64("FOLIOLAB_MUTATE_JOBS"),
        }
    }
}

/// Worker mode (`FOLIOLAB_MUTATE_WORKER=START:END`): one line per mutant for the parent,
/// `S index` when it starts, `D index exit millis [reason]` or `F index what` when done.
fn worker(range: &str, cfg: &Config, corpus: &[(String, String)]) {
    let (start, end) = range.split_once(':').expect("START:END");
    let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
    let stdout = std::io::stdout();
    for index in start..end {
        writeln!(stdout.lock(), "S {index}").unwrap();
        let t = Instant::now();
        let line = match run_mutant(cfg.seed, index, corpus, false) {
            Outcome::Exit(e, r) => {
                let r = r.unwrap_or_default().replace('\n', " ");
                format!("D {index} {e} {} {r}", t.elapsed().as_millis())
            }
            Outcome::Finding(what) => format!("F {index} {}", what.replace('\n', "\\n")),
            Outcome::Slow => unreachable!("only the parent judges time"),
        };
        writeln!(stdout.lock(), "{line}").unwrap();
    }
}

/// Workers started so far: each one's lines carry its number, so that the last words of a
/// killed worker are not taken for its successor's.
static SPAWNED: AtomicU64 = AtomicU64::new(0);

/// A worker over `start..end` and the thread that forwards its lines as `(job, worker, line)`.
fn spawn_worker(
    job: usize,
    start: u64,
    end: u64,
    tx: &mpsc::Sender<(usize, u64, Option<String>)>,
) -> (Child, u64) {
    let id = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mutants_never_panic_or_abort_and_errors_say_where",
            "--nocapture",
            "-q",
        ])
        .env("FOLIOLAB_MUTATE_WORKER", format!("{start}:{end}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let tx = tx.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if line.starts_with(['S', 'D', 'F']) && tx.send((job, id, Some(line))).is_err() {
                return;
            }
        }
        let _ = tx.send((job, id, None));
    });
    (child, id)
}

/// One running worker: what it has left and the mutant it is on.
struct Job {
    child: Child,
    id: u64,
    next: u64,
    end: u64,
    current: Option<(u64, Instant)>,
}

/// Campaign mode: `jobs` workers over `0..count`; a worker that dies or hangs has its
/// mutant counted as a finding and is restarted after it.
fn campaign(cfg: &Config, jobs: u64, tally: &mut Tally) {
    let (tx, rx) = mpsc::channel();
    let per = cfg.count.div_ceil(jobs.max(1));
    let mut running: Vec<Option<Job>> = (0..jobs)
        .map(|j| {
            let (start, end) = (j * per, ((j + 1) * per).min(cfg.count));
            (start < end).then(|| {
                let (child, id) = spawn_worker(j as usize, start, end, &tx);
                Job {
                    child,
                    id,
                    next: start,
                    end,
                    current: None,
                }
            })
        })
        .collect();
    let last_report = &mut Instant::now();
    while running.iter().any(Option::is_some) {
        let msg = rx.recv_timeout(Duration::from_secs(1));
        if let Ok((j, id, line)) = msg {
            if running[j].as_ref().is_some_and(|job| job.id == id) {
                handle_line(&tx, &mut running, j, line, tally);
            }
        }
        for (j, slot) in running.iter_mut().enumerate() {
            let hung = slot
                .as_ref()
                .and_then(|job| job.current)
                .is_some_and(|(_, t)| t.elapsed() > cfg.timeout);
            if hung {
                let job = slot.as_mut().unwrap();
                let _ = job.child.kill();
                let _ = job.child.wait();
                let (index, t) = job.current.take().unwrap();
                tally.add(index, Outcome::Slow, t.elapsed());
                *slot = restart(j, index + 1, job.end, &tx);
            }
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            *last_report = Instant::now();
            eprintln!(
                "progress: {} of {} mutants, {} findings",
                tally.total(),
                cfg.count,
                tally.findings.len()
            );
        }
    }
}

fn restart(
    j: usize,
    from: u64,
    end: u64,
    tx: &mpsc::Sender<(usize, u64, Option<String>)>,
) -> Option<Job> {
    (from < end).then(|| {
        let (child, id) = spawn_worker(j, from, end, tx);
        Job {
            child,
            id,
            next: from,
            end,
            current: None,
        }
    })
}

fn handle_line(
    tx: &mpsc::Sender<(usize, u64, Option<String>)>,
    running: &mut [Option<Job>],
    j: usize,
    line: Option<String>,
    tally: &mut Tally,
) {
    let Some(job) = running[j].as_mut() else {
        return;
    };
    let Some(line) = line else {
        // The worker is gone: finished, or died on the mutant it was running.
        let status = job.child.wait().map(|s| format!("{s}")).unwrap_or_default();
        if let Some((index, t)) = job.current.take() {
            tally.add(
                index,
                Outcome::Finding(format!("the process died: {status}")),
                t.elapsed(),
            );
            running[j] = restart(j, index + 1, job.end, tx);
        } else if job.next < job.end {
            running[j] = restart(j, job.next, job.end, tx);
        } else {
            running[j] = None;
        }
        return;
    };
    let mut parts = line.splitn(3, ' ');
    let (kind, index) = (
        parts.next().unwrap_or(""),
        parts.next().and_then(|i| i.parse::<u64>().ok()),
    );
    let Some(index) = index else { return };
    let rest = parts.next().unwrap_or("");
    match kind {
        "S" => job.current = Some((index, Instant::now())),
        "D" => {
            let mut f = rest.splitn(3, ' ');
            let exit: u8 = f.next().and_then(|e| e.parse().ok()).unwrap_or(255);
            let millis: u64 = f.next().and_then(|m| m.parse().ok()).unwrap_or(0);
            let reason = f.next().filter(|r| !r.is_empty()).map(str::to_string);
            let outcome = if exit <= 3 {
                Outcome::Exit(exit, reason)
            } else {
                Outcome::Finding(format!("exit {exit}"))
            };
            tally.add(index, outcome, Duration::from_millis(millis));
            job.current = None;
            job.next = index + 1;
        }
        _ => {
            let took = job
                .current
                .take()
                .map(|(_, t)| t.elapsed())
                .unwrap_or_default();
            tally.add(index, Outcome::Finding(rest.replace("\\n", "\n")), took);
            job.next = index + 1;
        }
    }
}

#[test]
fn mutants_never_panic_or_abort_and_errors_say_where() {
    let cfg = Config::from_env();
    let corpus = corpus();
    foliolab_fuzz::panics::install_quiet_hook();
    if let Ok(range) = std::env::var("FOLIOLAB_MUTATE_WORKER") {
        worker(&range, &cfg, &corpus);
        return;
    }
    println!(
        "mutation fuzzing: seed {:#x}, {} mutants of {} scenarios, memory cap {} MiB, {}s per \
         mutant; replay one: FOLIOLAB_MUTATE_SEED={:#x} FOLIOLAB_MUTATE_CASE=I cargo test -p \
         foliolab --test mutate -- --nocapture",
        cfg.seed,
        cfg.count,
        corpus.len(),
        CAP.load(Ordering::Relaxed) >> 20,
        cfg.timeout.as_secs(),
        cfg.seed
    );
    let started = Instant::now();
    let mut tally = Tally::default();
    match (cfg.only, cfg.jobs) {
        (Some(index), _) => {
            let outcome = run_mutant(cfg.seed, index, &corpus, true);
            tally.add(index, outcome, started.elapsed());
        }
        (None, Some(jobs)) => campaign(&cfg, jobs, &mut tally),
        (None, None) => {
            watchdog(cfg.timeout);
            for index in 0..cfg.count {
                let t = Instant::now();
                let outcome = run_mutant(cfg.seed, index, &corpus, false);
                tally.add(index, outcome, t.elapsed());
            }
        }
    }
    let report = tally.report(cfg.seed, &corpus, started.elapsed());
    println!("{report}");
    assert!(tally.findings.is_empty(), "{report}");
}
