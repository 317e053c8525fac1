//! `foliolab probe` (scenarios on this machine's kernel), `foliolab check` (model and kernel,
//! compared statement by statement) and `foliolab probe --restore`.
//!
//! Before the host is touched at all, every scenario is checked: what this runner cannot
//! perform (exit 3) and whether it fits the host's memory and cgroup limits (exit 2,
//! `refused: ...`). When nothing is left to run, the lock is never taken.

use crate::explain::{self, Artefact, KernelFacts};
use crate::load::{load_all, Loaded};
use crate::run::combine;
use crate::say;
use clap::Args;
use foliolab_cli::out::Format;
use foliolab_driver::diff::{diff_runs, Diff};
use foliolab_driver::{check_supported, drive, Record, SummaryRecord};
use foliolab_probe::budget::{self, Mode};
use foliolab_probe::recheck;
use foliolab_probe::runner::unsupported;
use foliolab_probe::{probe_scenario, restore_host, HostGuard, ProbeError, ProbeOptions};
use foliolab_scenario::Scenario;
use std::path::PathBuf;

#[derive(Args)]
pub struct ProbeArgs {
    /// Scenario files.
    pub files: Vec<PathBuf>,
    /// One JSON object per line (schema 1, docs/json-schema.md); `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Output format: human lines, JSON records, or TAP 13 (kselftest style).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Restore THP knobs and swap from the journal a killed probe left behind, and exit
    /// (status 2 when an item could not be restored; the journal keeps it).
    #[arg(long)]
    pub restore: bool,
    #[command(flatten)]
    pub target: crate::vm::KernelArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files.
    pub files: Vec<PathBuf>,
    /// One JSON object per difference, then a summary per file (schema 1,
    /// docs/json-schema.md); `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Output format: human lines, JSON records, or TAP 13 (kselftest style: one test point
    /// per scenario, its differences as diagnostics).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The scheme (design) that drives the model (default: the era's own design; the era is
    /// the kernel's: `--kernel 6.12` runs the 6.12 era, the host its running release's).
    #[arg(long, value_parser = foliolab_cli::scheme_arg::SchemeParser)]
    pub scheme: Option<String>,
    /// With `--kernel K` (a VM kernel): compare with the records a `--save DIR` run kept
    /// (docs/kernel-measurements/<K>/) instead of booting K.
    #[arg(long, value_name = "DIR")]
    pub records: Option<PathBuf>,
    /// Add observations before comparing (for recorded workloads): every Nth access is
    /// observed with `expect faults == 1`, every process's spaces' smaps before it exits and
    /// at the end, `observe stats` at the end (docs/record.md).
    #[arg(long, value_name = "N")]
    pub sample: Option<u64>,
    /// Skip the model's invariant and oracle checks after every statement (faster on
    /// large recorded workloads; `foliolab run` keeps them).
    #[arg(long)]
    pub no_check: bool,
    /// Check every statement with a full recount of every page table and the invariants
    /// over every folio and process, instead of on what the statement touched (the same
    /// verdicts, slower: the reference the incremental checks are tested against).
    #[arg(long)]
    pub full_check: bool,
    /// Count every difference as unexplained: no measurement artefact is classified
    /// (DAMON's young bits, the LRU batch, host-wide counters; docs/workloads.md).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub target: crate::vm::KernelArgs,
}

fn restore() -> u8 {
    match restore_host() {
        Ok(r) if r.nothing => println!("restore: no journal, nothing to do"),
        Ok(r) if r.restored.is_empty() => println!("restore: everything was already in place"),
        Ok(r) => r.restored.iter().for_each(|x| println!("restored {x}")),
        Err(e) => {
            eprintln!("foliolab: {e}");
            return 2;
        }
    }
    0
}

/// The scenarios that may run, after reporting the invalid (2), the unsupported (3) and
/// those that do not fit the host (2); and the exit status so far.
fn preflight(loaded: Vec<(String, Loaded)>, mode: Mode) -> (Vec<(String, Scenario)>, u8) {
    let mut ok = Vec::new();
    let mut code = 0;
    for (name, l) in loaded {
        let admitted = l
            .map_err(|e| {
                say::error(&name, &e);
                2
            })
            .and_then(|s| admit(&name, s, mode));
        match admitted {
            Ok(s) => ok.push((name, s)),
            Err(c) => {
                say::end(&name, c);
                code = combine(code, c);
            }
        }
    }
    (ok, code)
}

/// The scenario when this runner can perform it (else 3) and it fits the host (else 2),
/// after printing why not.
fn admit(name: &str, s: Scenario, mode: Mode) -> Result<Scenario, u8> {
    let missing = unsupported(&s);
    if !missing.is_empty() {
        let who = (mode == Mode::Check).then_some("kernel");
        missing.iter().for_each(|m| say::unsupported(name, who, m));
        return Err(3);
    }
    if let Err(e) = budget::check(&s, mode) {
        say::error(name, &format!("{name}: {e}"));
        return Err(2);
    }
    Ok(s)
}

/// Exit status of a probe error inside a run: a scenario refused for its size is a 2 for
/// that file; anything else ends the command (the guard restores on the way out).
fn scenario_error(name: &str, e: ProbeError) -> anyhow::Result<u8> {
    match e {
        ProbeError::Resources(_) => {
            say::error(name, &format!("{name}: {e}"));
            Ok(2)
        }
        e => Err(e.into()),
    }
}

/// Restores the host at the end; a failed item makes the exit status 2.
fn finish(guard: HostGuard, code: u8) -> u8 {
    match guard.restore() {
        Ok(_) => code,
        Err(e) => {
            eprintln!("foliolab: {e}");
            combine(code, 2)
        }
    }
}

pub fn probe(args: ProbeArgs) -> anyhow::Result<u8> {
    if args.restore {
        return Ok(restore());
    }
    let loaded = load_all(&args.files);
    say::begin(Format::resolve(args.format, args.json), loaded.len());
    let code = probe_all(&args, loaded)?;
    say::finish();
    Ok(code)
}

fn probe_all(args: &ProbeArgs, loaded: Vec<(String, Loaded)>) -> anyhow::Result<u8> {
    if let Some(spec) = args.target.vm_spec()? {
        return crate::vm::probe(&spec, &args.target, loaded);
    }
    let (scenarios, mut code) = preflight(loaded, Mode::Probe);
    if scenarios.is_empty() {
        return Ok(code);
    }
    let opts = ProbeOptions::this_executable()?;
    let mut guard = HostGuard::acquire()?;
    for (name, s) in &scenarios {
        let c = match probe_one(&mut guard, &opts, name, s) {
            Ok(summary) => summary.exit as u8,
            Err(e) => scenario_error(name, e)?,
        };
        say::end(name, c);
        code = combine(code, c);
    }
    Ok(finish(guard, code))
}

/// Runs one scenario, streaming its records; one with counter statements is buffered, so
/// that a run failed by host-wide counters only can run again (`recheck`).
fn probe_one(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    name: &str,
    s: &Scenario,
) -> Result<SummaryRecord, ProbeError> {
    say::heading(name);
    let lines = recheck::counter_lines(s);
    if lines.is_empty() {
        return probe_scenario(guard, opts, s, Mode::Probe, &mut |r: &Record| {
            say::record(name, r)
        });
    }
    let mut judge = |records: &[Record]| recheck::only_counters_failed(records, &lines);
    let (summary, records) = recheck::run_rechecked(guard, opts, s, Mode::Probe, name, &mut judge)?;
    records.iter().for_each(|r| say::record(name, r));
    Ok(summary)
}

pub fn check(args: CheckArgs) -> anyhow::Result<u8> {
    foliolab_sim::full_check_by_default(args.full_check);
    let loaded = load_all(&args.files);
    say::begin(Format::resolve(args.format, args.json), loaded.len());
    let code = check_all(&args, loaded)?;
    say::finish();
    Ok(code)
}

fn check_all(args: &CheckArgs, loaded: Vec<(String, Loaded)>) -> anyhow::Result<u8> {
    let spec = args.target.vm_spec()?;
    let version = match &spec {
        Some(s) => s.version(),
        None => foliolab_probe::compat::running(),
    };
    let model = crate::vm::ModelSide::for_kernel(version, args.scheme.as_deref(), args.no_check)?;
    if let Some(spec) = spec {
        let records = args.records.as_deref();
        return crate::vm::check(&spec, &args.target, loaded, &model, records);
    }
    if args.records.is_some() {
        anyhow::bail!("--records goes with a VM kernel (--kernel K)");
    }
    // With --sample, the observations are added before anything is estimated or run.
    let loaded = loaded
        .into_iter()
        .map(|(name, l)| {
            let l = l.map(|s| match args.sample {
                Some(n) => foliolab_record::plan::with_observations(&s, n),
                None => s,
            });
            (name, l)
        })
        .collect();
    let (scenarios, mut code) = preflight(loaded, Mode::Check);
    if scenarios.is_empty() {
        return Ok(code);
    }
    let opts = ProbeOptions::this_executable()?;
    let mut guard = HostGuard::acquire()?;
    for (name, s) in &scenarios {
        let c = check_one(&mut guard, &opts, name, s, args, &model)?;
        say::end(name, c);
        code = combine(code, c);
    }
    Ok(finish(guard, code))
}

fn check_one(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    name: &str,
    s: &Scenario,
    args: &CheckArgs,
    model_side: &crate::vm::ModelSide,
) -> anyhow::Result<u8> {
    let mut model = model_side.runner();
    let missing = check_supported(s, &model);
    if !missing.is_empty() {
        missing
            .iter()
            .for_each(|m| say::unsupported(name, Some("model"), m));
        return Ok(3);
    }
    let mut left = Vec::new();
    let ms = drive(s, &mut model, &mut |r: &Record| left.push(r.clone()));
    let (ks, right) = match kernel_side(guard, opts, name, s, &left) {
        Ok(r) => r,
        Err(e) => return scenario_error(name, e),
    };
    let facts = if args.strict {
        KernelFacts::strict()
    } else {
        KernelFacts::this_host()
    };
    let v = verdict(name, &left, &right, (ms.exit, ks.exit), &facts);
    if args.sample.is_none() {
        return Ok(v.code);
    }
    // With --sample, `expect faults == 1` states what the recording saw: a replay that
    // faults otherwise fails it on both runners alike, which is no difference.
    say::line(&format!("{name}: compared: {}", compared(&left, &right)));
    say::line(&format!(
        "{name}: sampled `expect faults == 1` (the recording's fault): model {} pass, {} fail; kernel {} pass, {} fail",
        ms.pass, ms.fail, ks.pass, ks.fail
    ));
    say::json_record(
        name,
        &serde_json::json!({"kind": "sampled", "line": 0, "model_pass": ms.pass,
            "model_fail": ms.fail, "kernel_pass": ks.pass, "kernel_fail": ks.fail}),
    );
    let failed = failed_samples(&left);
    if !failed.is_empty() {
        say::line(&format!(
            "{name}: sampled accesses that did not fault once on the model: {failed}"
        ));
    }
    Ok(if v.unexplained == 0 && ms.exit <= 1 && ks.exit <= 1 {
        0
    } else {
        v.code
    })
}

/// The scenario lines of the model's failed expectations with what was observed (at most
/// 20), for `--sample`: a replay that faults otherwise than the recording.
fn failed_samples(left: &[Record]) -> String {
    let failed: Vec<String> = left
        .iter()
        .filter_map(|r| match r {
            Record::Expect(e) if e.result == foliolab_driver::ExpectResult::Fail => {
                Some(format!("line {} ({})", e.line, e.observed))
            }
            _ => None,
        })
        .collect();
    let more = failed.len().saturating_sub(20);
    let mut text = failed.into_iter().take(20).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// What the two runs' records hold that `check` compared: observations of the model's run
/// that the kernel's run has at the same statement.
fn compared(left: &[Record], right: &[Record]) -> String {
    let count = |recs: &[Record]| {
        let mut n = [0usize; 4];
        for r in recs {
            match r {
                Record::Page(_) => n[0] += 1,
                Record::Smaps(_) => n[1] += 1,
                Record::Stats(s) => n[2] += s.counters.len(),
                Record::Expect(_) => n[3] += 1,
                _ => {}
            }
        }
        n
    };
    let (l, r) = (count(left), count(right));
    format!(
        "{} sampled pages (state, mapcount, order, PMD, exclusive, flags, frame and folio grouping), {} smaps VMA records ({} fields each), {} changed counters (model) / {} (kernel), {} expectations",
        l[0].min(r[0]),
        l[1].min(r[1]),
        foliolab_scenario::SmapsField::ALL.len(),
        l[2],
        r[2],
        l[3].min(r[3])
    )
}

/// The kernel run of `check` and its records, run again while they differ from the model's
/// (`left`) at counter statements only (`recheck`).
fn kernel_side(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    name: &str,
    s: &Scenario,
    left: &[Record],
) -> Result<(SummaryRecord, Vec<Record>), ProbeError> {
    let lines = recheck::counter_lines(s);
    let mut judge = |right: &[Record]| recheck::only_counter_diffs(&diff_runs(left, right), &lines);
    recheck::run_rechecked(guard, opts, s, Mode::Check, name, &mut judge)
}

/// Prints every difference between the model's records (`left`) and the kernel's
/// (`right`) and the closing line of one scenario; returns its exit status. Every
/// difference counts (a VM guest's run).
pub(crate) fn print_verdict(
    name: &str,
    left: &[Record],
    right: &[Record],
    model_exit: i32,
    kernel_exit: i32,
) -> u8 {
    let exits = (model_exit, kernel_exit);
    verdict(name, left, right, exits, &KernelFacts::strict()).code
}

/// The outcome of one scenario's comparison.
struct Verdict {
    code: u8,
    unexplained: usize,
}

/// Prints every difference, each measurement artefact classified as such (`facts`), the
/// closing line and one line per artefact class present saying why it is one.
fn verdict(
    name: &str,
    left: &[Record],
    right: &[Record],
    (model_exit, kernel_exit): (i32, i32),
    facts: &KernelFacts,
) -> Verdict {
    let diffs = diff_runs(left, right);
    let classes = explain::classify(&diffs, left, facts);
    let json = say::format() == Format::Json;
    for (d, c) in diffs.iter().zip(&classes) {
        if json {
            say::json_record(name, &diff_json(d, *c));
        } else {
            say::line(&diff_line(name, d, *c));
        }
    }
    let (unexplained, by) = explain::tally(&classes);
    let code = if unexplained == 0 && model_exit == 0 && kernel_exit == 0 {
        0
    } else if model_exit == 2 || kernel_exit == 2 {
        2
    } else {
        1
    };
    if json {
        let artefacts: serde_json::Map<String, serde_json::Value> = by
            .iter()
            .map(|(a, n)| (a.name().to_string(), (*n).into()))
            .collect();
        say::json_record(
            name,
            &serde_json::json!({"kind": "check", "line": 0, "diffs": diffs.len(), "unexplained": unexplained, "artefacts": artefacts, "model_exit": model_exit, "kernel_exit": kernel_exit, "exit": code}),
        );
        return Verdict { code, unexplained };
    }
    let detail = if by.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = by
            .iter()
            .map(|(a, n)| format!("{} {n}", a.name()))
            .collect();
        format!(
            " ({unexplained} unexplained; measurement artefacts: {})",
            list.join(", ")
        )
    };
    say::line(&format!(
        "{name}: {} differences{detail}; model exit {model_exit}, kernel exit {kernel_exit}",
        diffs.len()
    ));
    for a in by.keys() {
        say::line(&format!("{name}: artefact {}: {}", a.name(), a.why(facts)));
    }
    Verdict { code, unexplained }
}

/// A difference as a record (schema 1: `diff`, with its artefact class or null).
fn diff_json(d: &Diff, class: Option<Artefact>) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&d.json()).expect("diff JSON");
    v["artefact"] = class.map(|a| a.name()).into();
    v
}

fn diff_line(name: &str, d: &Diff, class: Option<Artefact>) -> String {
    match class {
        None => format!("{name}:{}", d.human()),
        Some(a) => format!("{name}:{} (artefact: {})", d.human(), a.name()),
    }
}
