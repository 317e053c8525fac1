//! `foliolab fuzz`: randomized simulation testing. Generated scenarios run under every
//! scheme with the invariants and the oracle after every statement; failures are shrunk and
//! saved as regression scenarios. The first line printed is the seed, the commit and the
//! command that replays the campaign; lines starting `progress:` and `timing:` are the only
//! ones that depend on the clock.

use anyhow::{bail, Context};
use clap::Args;
use foliolab_fuzz::campaign::{Campaign, CaseResult};
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::shrink::shrink;
use foliolab_fuzz::{parse_seed, ExecOptions, Failure, SchemeSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct FuzzArgs {
    /// Campaign seed: decimal, 0x-hex, or a 40-hex commit id (default: from the clock).
    #[arg(long)]
    pub seed: Option<String>,
    /// Statements per generated scenario.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Cases to run (default 100, or unlimited with --seconds).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Stop starting cases after this many seconds.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Run only these schemes (repeatable; default: every scheme).
    #[arg(long, value_parser = foliolab_cli::scheme_arg::SchemeParser)]
    pub scheme: Vec<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only the cases whose index is I modulo N.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Replay one case by index (prints its scenario).
    #[arg(long)]
    pub index: Option<u64>,
    /// Run each case twice and compare every output line.
    #[arg(long)]
    pub check_determinism: bool,
    /// Shrink failures and save them here as NNNN-short-name.scn.
    #[arg(long, default_value = "tests/regressions")]
    pub save: PathBuf,
    /// Report failures without shrinking or saving them.
    #[arg(long)]
    pub no_shrink: bool,
    /// Runs the shrinker may spend per failure.
    #[arg(long, default_value_t = 4000)]
    pub shrink_budget: u64,
    /// Check every statement in full instead of on what it touched (by default a case is
    /// also checked in full every 100 statements and after its last one).
    #[arg(long)]
    pub full_check: bool,
    /// Print a line for every case.
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn fuzz(args: FuzzArgs) -> anyhow::Result<u8> {
    foliolab_fuzz::panics::install_quiet_hook();
    let seed = match &args.seed {
        Some(s) => parse_seed(s).with_context(|| format!("bad seed {s:?}"))?,
        None => clock_seed(),
    };
    let shard = parse_shard(args.shard.as_deref())?;
    let schemes = schemes(&args.scheme)?;
    println!("{}", first_line(seed, &args, &schemes));
    let campaign = Campaign {
        seed,
        steps: args.steps,
        schemes,
        support: model_support_table(),
        opts: ExecOptions {
            full_check: args.full_check,
            ..ExecOptions::default()
        },
        check_determinism: args.check_determinism,
        shard,
    };
    println!("{}", statements_line(&campaign));
    if let Some(i) = args.index {
        return Ok(replay(&campaign, i, &args));
    }
    Ok(sweep(&campaign, &args))
}

fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut s = nanos ^ ((std::process::id() as u64) << 32);
    foliolab_fuzz::prng::splitmix64(&mut s)
}

fn parse_shard(text: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let Some(t) = text else { return Ok((0, 1)) };
    let (i, n) = t.split_once('/').context("--shard takes I/N")?;
    let (i, n): (u64, u64) = (i.parse()?, n.parse()?);
    if n == 0 || i >= n {
        bail!("--shard {t}: need 0 <= I < N");
    }
    Ok((i, n))
}

fn schemes(names: &[String]) -> anyhow::Result<Vec<SchemeSpec>> {
    if names.is_empty() {
        return Ok(SchemeSpec::all());
    }
    names
        .iter()
        .map(|n| SchemeSpec::builtin(n).with_context(|| format!("unknown scheme {n}")))
        .collect()
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn first_line(seed: u64, a: &FuzzArgs, schemes: &[SchemeSpec]) -> String {
    let mut replay = format!("foliolab fuzz --seed {seed:#x} --steps {}", a.steps);
    if let Some(n) = a.seeds {
        replay += &format!(" --seeds {n}");
    }
    if let Some(s) = a.seconds {
        replay += &format!(" --seconds {s}");
    }
    if let Some(s) = &a.shard {
        replay += &format!(" --shard {s}");
    }
    for s in &a.scheme {
        replay += &format!(" --scheme {s}");
    }
    let names: Vec<&str> = schemes.iter().map(|s| s.name.as_str()).collect();
    format!(
        "fuzz: seed={seed:#018x} commit={} schemes={} replay: {replay}",
        commit(),
        names.join(",")
    )
}

/// Which rows of the statement table the generator uses, and which wait for the model.
fn statements_line(c: &Campaign) -> String {
    let rows = foliolab_fuzz::ops::OPS.iter().zip(&c.support);
    let (on, off): (Vec<_>, Vec<_>) = rows.partition(|(_, ok)| **ok);
    let names = |v: Vec<(&foliolab_fuzz::ops::OpSpec, &bool)>| {
        v.iter().map(|(o, _)| o.name).collect::<Vec<_>>().join(",")
    };
    if off.is_empty() {
        return format!("statements: {}", names(on));
    }
    format!(
        "statements: {} (not performed by the model yet: {})",
        names(on),
        names(off)
    )
}

fn replay(c: &Campaign, index: u64, args: &FuzzArgs) -> u8 {
    let r = c.case(index);
    print!("{}", foliolab_scenario::print(&r.scenario));
    let mut t = Tally::default();
    t.case(c, r, args);
    t.finish(c, Duration::ZERO, args)
}

fn sweep(c: &Campaign, args: &FuzzArgs) -> u8 {
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs(s));
    let count = match (args.seeds, args.seconds) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(100),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stop = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut t = Tally {
        jobs,
        ..Tally::default()
    };
    let mut last_progress = Instant::now();
    c.sweep(jobs, count, &stop, &mut |r| {
        t.case(c, r, args);
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "progress: {:.0}s {} cases {} statements {:.0} statements/s {} failing",
                secs,
                t.cases,
                t.statements,
                t.statements as f64 / secs,
                t.failing
            );
        }
    });
    t.finish(c, started.elapsed(), args)
}

/// Counts over a campaign; failures shrunk once per signature.
#[derive(Default)]
struct Tally {
    cases: u64,
    statements: u64,
    failing: u64,
    seen: BTreeMap<(String, foliolab_fuzz::FailKind, String), u64>,
    disagreements: BTreeMap<String, foliolab_fuzz::exec::Disagreements>,
    /// Generated statements by kind (each counted once per case, whatever the schemes).
    mix: BTreeMap<String, u64>,
    /// Worker threads of the sweep.
    jobs: usize,
}

impl Tally {
    fn case(&mut self, c: &Campaign, r: CaseResult, args: &FuzzArgs) {
        self.cases += 1;
        self.statements += r.statements();
        for kind in foliolab_scenario::print(&r.scenario)
            .lines()
            .filter_map(statement_kind)
        {
            *self.mix.entry(kind).or_default() += 1;
        }
        for (name, run) in &r.runs {
            self.disagreements
                .entry(name.clone())
                .or_default()
                .add(run.disagreements);
        }
        if args.verbose {
            println!(
                "case {} seed {:#x}: {} statements",
                r.index,
                r.seed,
                r.statements()
            );
        }
        if let Some(d) = &r.nondeterminism {
            self.failing += 1;
            println!(
                "FAIL case {} (seed {:#x}): nondeterministic: {d}",
                r.index, r.seed
            );
        }
        if r.failed() {
            self.failing += u64::from(r.nondeterminism.is_none());
        }
        for (_, run) in &r.runs {
            if let Some(f) = &run.failure {
                self.failure(c, &r, f, args);
            }
        }
    }

    fn failure(&mut self, c: &Campaign, r: &CaseResult, f: &Failure, args: &FuzzArgs) {
        println!(
            "FAIL case {} (seed {:#x}) scheme {}: {} at line {}: {}",
            r.index,
            r.seed,
            f.scheme,
            f.kind.name(),
            f.line,
            f.message
        );
        println!(
            "  replay: foliolab fuzz --seed {:#x} --steps {} --index {} --scheme {}",
            c.seed, c.steps, r.index, f.scheme
        );
        let n = self.seen.entry(f.signature()).or_default();
        *n += 1;
        if *n > 1 || args.no_shrink {
            return;
        }
        let spec = c
            .schemes
            .iter()
            .find(|s| s.name == f.scheme)
            .expect("scheme ran");
        let s = shrink(&r.scenario, f, spec, args.shrink_budget);
        let origin = format!(
            "seed {:#x} case {} ({} steps), {} shrinking runs",
            c.seed, r.index, c.steps, s.tries
        );
        let text = foliolab_fuzz::regress::text(&s.scenario, &s.failure, &origin);
        println!(
            "  shrunk to {} statements:",
            s.scenario.statements().count()
        );
        for l in text.lines() {
            println!("  | {l}");
        }
        match save(&args.save, &s.failure, &text) {
            Ok(p) => println!("  saved {}", p.display()),
            Err(e) => println!("  not saved: {e:#}"),
        }
    }

    fn finish(&self, c: &Campaign, elapsed: Duration, _args: &FuzzArgs) -> u8 {
        println!(
            "summary: {} cases, {} statements ({} steps x {} schemes), {} failing cases, {} distinct failures",
            self.cases,
            self.statements,
            c.steps,
            c.schemes.len(),
            self.failing,
            self.seen.len()
        );
        for (name, d) in &self.disagreements {
            println!(
                "disagreements (counted, not failures) {name}: mapcount {} page_mapcount {} maybe_shared {}",
                d.mapcount, d.page_mapcount, d.maybe_shared
            );
        }
        if !self.mix.is_empty() {
            println!("{}", mix_line(&self.mix));
        }
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            println!(
                "timing: {secs:.1}s, {:.0} statements/s, {:.0} statements/s per core ({} jobs){}",
                self.statements as f64 / secs,
                self.statements as f64 / secs / self.jobs.max(1) as f64,
                self.jobs.max(1),
                cpu_seconds().map_or(String::new(), |cpu| format!(
                    ", {:.0} statements per CPU-second ({cpu:.1} CPU-s)",
                    self.statements as f64 / cpu.max(1e-3)
                ))
            );
        }
        u8::from(self.failing > 0)
    }
}

/// The kind of a printed statement: its verb (`fork`, `write`, `expect`, ...), with the
/// advice of `advise`; `None` for the header, comments and blank lines.
fn statement_kind(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("scenario ") {
        return None;
    }
    let op = line.split_once(": ").map_or(line, |(_, op)| op);
    let mut words = op.split_whitespace();
    let verb = words.next()?;
    if verb == "advise" {
        return Some(format!("advise-{}", words.nth(1).unwrap_or("?")));
    }
    Some(verb.to_string())
}

/// `mix: KIND COUNT (PERCENT), ...`, the most frequent first.
fn mix_line(mix: &BTreeMap<String, u64>) -> String {
    let total: u64 = mix.values().sum();
    let mut rows: Vec<(&String, &u64)> = mix.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = rows
        .iter()
        .map(|(k, n)| format!("{k} {n} ({:.1}%)", **n as f64 * 100.0 / total as f64))
        .collect();
    format!("mix: {total} generated statements: {}", parts.join(", "))
}

/// User and system CPU time of this process so far (all threads), from /proc/self/stat
/// (fields 14 and 15, in USER_HZ ticks, 100 per second on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn save(dir: &std::path::Path, f: &Failure, text: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut existing = Vec::new();
    for e in std::fs::read_dir(dir)? {
        existing.push(e?.file_name().to_string_lossy().into_owned());
    }
    let path = dir.join(foliolab_fuzz::regress::file_name(&existing, f));
    std::fs::write(&path, text)?;
    Ok(path)
}
