//! `foliolab compare`: every mapcount design on the same workloads, side by side.
//!
//! - shadow (default): `linux-6.18` drives the model; every selected scheme receives the same
//!   rmap events through a fan-out and answers the same questions; wrong answers are counted
//!   by kind and call site against the truth, with their magnitudes in bytes
//!   (`foliolab_schemes::shadow`).
//! - drive: each scheme drives its own run (with itself as the only shadow, so its wrong
//!   answers are counted the same way); copies, reuses, splits, peak memory, deferred-queue
//!   length and leaks come from the model.
//!
//! `--kernel K` runs every design on era K's operations (default 6.18); the era's own design
//! drives in shadow mode.
//!
//! Results are kept per scenario ([`ScenarioOut`]) and summed per scheme; `compare_out`
//! renders them (table, markdown, JSON), `compare_explain` names each wrong answer's
//! statement and folio.

use crate::builtin;
use crate::compare_explain;
use crate::compare_out::{self, Format};
use clap::{Args, ValueEnum};
use foliolab_cli::load::load_all;
use foliolab_driver::{drive, ExpectResult, ProblemKind, Record};
use foliolab_model::stats::MthpStat;
use foliolab_model::Era;
use foliolab_scenario::{parse, validate, Item, Scenario, StmtKind};
use foliolab_schemes::shadow::{FanOut, Tally};
use foliolab_schemes::{registry, Scheme};
use foliolab_sim::ModelRunner;
use foliolab_types::{Order, PMD_ORDER};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Shadow,
    Drive,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Drive => "drive",
        }
    }
}

#[derive(Args)]
pub struct CompareArgs {
    /// Scenario files (default: the built-in suite, tests/compare); `.scn.gz` read as is.
    pub files: Vec<PathBuf>,
    /// Schemes to compare (repeatable; default: all).
    #[arg(long = "scheme", value_parser = foliolab_cli::scheme_arg::SchemeParser)]
    pub schemes: Vec<String>,
    /// shadow: linux-6.18 drives and the others answer alongside; drive: each runs alone.
    #[arg(long, value_enum, default_value = "shadow")]
    pub mode: Mode,
    /// Output: a table (default), markdown tables (one per scenario and the totals), or one
    /// JSON object (the same as --json).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// One JSON object with every figure per scenario and in total (= --format json).
    #[arg(long)]
    pub json: bool,
    /// Name each wrong answer: the statement (file:line), the folio (pfn, order), the call
    /// site and what was wrong.
    #[arg(long)]
    pub explain: bool,
    /// Replay every scenario under these THP knobs (`thp` statement settings such as
    /// `64K=always` or `2M=always`, repeatable), set before its first process: a recorded
    /// workload ran under the host's knobs, this asks what large folios would change.
    #[arg(long = "thp", value_name = "SIZE=POLICY")]
    pub thp: Vec<String>,
    /// Print the cost model instead: the operations each design's fork and munmap perform
    /// per folio, weights fitted to published runtimes, and predicted against published
    /// runtime changes at 4K..2M (docs/cost-model.md).
    #[arg(long)]
    pub costs: bool,
    /// The kernel generation whose operations every design runs on (its era: `5.10`, `6.1`,
    /// `6.12`, `6.18` (default), `7.2`, `host` or a kernel image path); in shadow mode the
    /// era's own design drives.
    #[arg(long, value_name = "K")]
    pub kernel: Option<String>,
    /// Skip the model's per-statement invariant checks and page-table recount (the designs
    /// are still judged after every statement, against the truth kept from the events).
    #[arg(long)]
    pub no_check: bool,
    /// Check every statement with a full recount of every page table and the invariants
    /// over every folio and process, instead of on what the statement touched (the same
    /// verdicts, slower: the reference the incremental checks are tested against).
    #[arg(long)]
    pub full_check: bool,
}

/// One scheme's figures over one scenario, or summed over several.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub tally: Tally,
    pub leaks: u64,
    pub cow_copies: u64,
    pub cow_reuses: u64,
    pub splits: u64,
    pub peak_pages: u64,
    pub max_deferred: u64,
    /// Runs that failed: `scenario (exit N): first reason`.
    pub failed_runs: Vec<String>,
}

/// What one scenario gave: a row per scheme, or why it gave none.
#[derive(Clone, Debug, Default)]
pub struct ScenarioOut {
    pub name: String,
    /// The model cannot run it (unsupported statements): no rows.
    pub unsupported: bool,
    /// Statement index → (line, statement text), for `--explain`.
    pub statements: Vec<(u32, String)>,
    /// Each failed run: which scheme drove, its exit status and the reasons.
    pub failures: Vec<Failure>,
    pub rows: Vec<Row>,
}

/// A run that did not pass.
#[derive(Clone, Debug)]
pub struct Failure {
    pub driver: String,
    pub exit: i32,
    pub reasons: Vec<String>,
}

/// What one model run produced.
struct RunOut {
    tallies: Vec<Tally>,
    leaks: u64,
    copies: u64,
    reuses: u64,
    splits: u64,
    peak_pages: u64,
    deferred: u64,
    exit: i32,
    reasons: Vec<String>,
}

/// How one run is set up.
#[derive(Clone, Copy)]
pub struct Setup {
    /// The kernel generation whose operations run; its design drives in shadow mode.
    pub era: Era,
    /// The era was chosen with `--kernel`: the scenario's expectations may describe another
    /// generation, so a failed one is not a failed run (run errors and problems still are).
    pub other_era: bool,
    pub mode: Mode,
    pub explain: bool,
    pub check: bool,
}

fn scheme(name: &str) -> Box<dyn Scheme> {
    registry::by_name(name).expect("scheme names are checked first")
}

/// Why a run of `driver` failed, from its records: run errors, dead processes, model
/// problems (a leak only when the design does not leak by design) and, when the scenario's
/// expectations are the driver's (`own_expectations`), failed expectations.
fn failure_reason(r: &Record, path: &str, driver: &str, own_expectations: bool) -> Option<String> {
    match r {
        Record::Problem(p) => {
            let by_design = registry::properties(driver).leaks_by_design;
            if p.kind == ProblemKind::Leak && by_design {
                return None;
            }
            Some(format!("{path}:{}: {:?}: {}", p.line, p.kind, p.message))
        }
        Record::Expect(e) if own_expectations && e.result == ExpectResult::Fail => Some(format!(
            "{path}:{}: {}: expected {}, observed {}",
            e.line, e.text, e.expected, e.observed
        )),
        _ => None,
    }
}

/// Runs `s` with `driver` driving and `shadows` alongside.
fn run_once(s: &Scenario, driver: &str, shadows: &[String], setup: Setup) -> Option<RunOut> {
    let sh = shadows.iter().map(|n| scheme(n)).collect();
    let (fan, tallies) = FanOut::new(scheme(driver), sh);
    let fan = if setup.explain { fan.explain() } else { fan };
    let mut runner = ModelRunner::with_era(setup.era, Box::new(fan));
    runner.check_every_statement = setup.check;
    if !foliolab_driver::check_supported(s, &runner).is_empty() {
        return None;
    }
    let (mut leaks, mut reasons) = (0, Vec::new());
    let own = driver == setup.era.design && !setup.other_era;
    let summary = drive(s, &mut runner, &mut |r: &Record| {
        if let Record::Problem(p) = r {
            leaks += (p.kind == ProblemKind::Leak) as u64;
        }
        reasons.extend(failure_reason(r, &s.path, driver, own));
    });
    let m = runner.model();
    let splits = (1..=PMD_ORDER.0)
        .map(|o| m.stats.mthp(Order(o), MthpStat::Split))
        .sum::<i64>();
    let exit = if reasons.is_empty() {
        0
    } else {
        summary.exit.max(1)
    };
    let out = RunOut {
        tallies: tallies.borrow().clone(),
        leaks,
        copies: m.stats.cow.copies,
        reuses: m.stats.cow.reuses,
        splits: splits.max(0) as u64,
        peak_pages: runner.peaks.used_pages,
        deferred: runner.peaks.deferred_queue_len,
        exit,
        reasons,
    };
    Some(out)
}

fn row_of(tally: &Tally, run: &RunOut, drive_mode: bool, scenario: &str) -> Row {
    let mut row = Row {
        tally: tally.clone(),
        splits: run.splits,
        peak_pages: run.peak_pages,
        max_deferred: run.deferred,
        ..Row::default()
    };
    if drive_mode {
        row.leaks = run.leaks;
        row.cow_copies = run.copies;
        row.cow_reuses = run.reuses;
    } else {
        row.leaks = tally.cow_fn;
        row.cow_copies = tally.cow_copies;
        row.cow_reuses = tally.cow_reuses;
    }
    if run.exit != 0 {
        let first = run.reasons.first().map_or("", String::as_str);
        row.failed_runs
            .push(format!("{scenario} (exit {}): {first}", run.exit));
    }
    row
}

/// Adds one scenario's row to the totals.
pub fn add_row(total: &mut Row, r: &Row) {
    total.tally.merge(&r.tally);
    total.leaks += r.leaks;
    total.cow_copies += r.cow_copies;
    total.cow_reuses += r.cow_reuses;
    total.splits += r.splits;
    total.peak_pages += r.peak_pages;
    total.max_deferred = total.max_deferred.max(r.max_deferred);
    total.failed_runs.extend(r.failed_runs.iter().cloned());
}

fn failure(driver: &str, run: &RunOut) -> Option<Failure> {
    (run.exit != 0).then(|| Failure {
        driver: driver.to_string(),
        exit: run.exit,
        reasons: run.reasons.clone(),
    })
}

/// One scenario under every selected scheme.
pub fn compare_one(name: &str, s: &Scenario, names: &[String], setup: Setup) -> ScenarioOut {
    let mut out = ScenarioOut {
        name: name.to_string(),
        statements: s
            .statements()
            .map(|st| (st.pos.line, foliolab_scenario::print_stmt(st)))
            .collect(),
        ..ScenarioOut::default()
    };
    let runs: Vec<(String, Option<RunOut>)> = match setup.mode {
        Mode::Shadow => {
            let d = setup.era.design;
            vec![(d.to_string(), run_once(s, d, names, setup))]
        }
        Mode::Drive => names
            .iter()
            .map(|n| (n.clone(), run_once(s, n, std::slice::from_ref(n), setup)))
            .collect(),
    };
    for (driver, run) in runs {
        let Some(run) = run else {
            out.unsupported = true;
            continue;
        };
        out.failures.extend(failure(&driver, &run));
        let drive_mode = setup.mode == Mode::Drive;
        for t in &run.tallies {
            out.rows.push(row_of(t, &run, drive_mode, name));
        }
    }
    if out.unsupported {
        out.rows.clear();
    }
    out
}

/// Every scheme's row per scenario of `suite`, with progress on standard error for long
/// suites.
pub fn compare(suite: &[(String, Scenario)], names: &[String], setup: Setup) -> Vec<ScenarioOut> {
    let progress = suite.len() > 1 && suite.iter().any(|(_, s)| s.statements().count() > 10_000);
    suite
        .iter()
        .map(|(n, s)| {
            let nr = s.statements().count();
            if setup.check && nr > 10_000 {
                eprintln!(
                    "compare: {n}: {nr} statements, each followed by the model's checks (a \
                     recount of every page table); --no-check judges the designs without them"
                );
            }
            let start = std::time::Instant::now();
            let out = compare_one(n, s, names, setup);
            if progress {
                eprintln!("compare: {n}: {:.1} s", start.elapsed().as_secs_f64());
            }
            out
        })
        .collect()
}

/// The totals per scheme over every scenario, in `names` order.
pub fn totals(outs: &[ScenarioOut], names: &[String]) -> Vec<Row> {
    let mut rows: Vec<Row> = names
        .iter()
        .map(|n| Row {
            tally: Tally {
                name: n.clone(),
                layout: scheme(n).layout(),
                ..Tally::default()
            },
            ..Row::default()
        })
        .collect();
    for o in outs {
        for r in &o.rows {
            if let Some(t) = rows.iter_mut().find(|t| t.tally.name == r.tally.name) {
                add_row(t, r);
            }
        }
    }
    rows
}

fn load_suite(files: &[PathBuf]) -> Result<Vec<(String, Scenario)>, String> {
    let loaded: Vec<(String, Result<Scenario, String>)> = if files.is_empty() {
        builtin::COMPARE_SUITE
            .iter()
            .map(|(n, t)| {
                let s = parse(n, t)
                    .map_err(|e| e.to_string())
                    .and_then(|s| validate(&s).map(|_| s).map_err(|e| e.to_string()));
                (n.to_string(), s)
            })
            .collect()
    } else {
        load_all(files)
    };
    loaded.into_iter().map(|(n, s)| s.map(|s| (n, s))).collect()
}

/// The `thp` statement of `--thp` settings, checked by the parser.
fn thp_statement(settings: &[String]) -> Result<Option<Item>, String> {
    if settings.is_empty() {
        return Ok(None);
    }
    let text = format!("scenario 1\nthp {}\n", settings.join(" "));
    let s = parse("--thp", &text).map_err(|e| e.to_string())?;
    let thp = |i: &Item| matches!(i, Item::Stmt(st) if matches!(st.kind, StmtKind::Thp { .. }));
    Ok(s.items.into_iter().find(thp))
}

/// `thp` goes before the first `spawn` (after any of the scenario's own, so it wins).
fn with_thp(mut s: Scenario, thp: &Option<Item>) -> Scenario {
    let Some(thp) = thp else { return s };
    let first_spawn = s.items.iter().position(|i| match i {
        Item::Stmt(st) => matches!(st.kind, StmtKind::Spawn { .. }),
        Item::Comment { .. } => false,
    });
    s.items
        .insert(first_spawn.unwrap_or(s.items.len()), thp.clone());
    s
}

fn selected(args: &CompareArgs) -> Result<Vec<String>, String> {
    if args.schemes.is_empty() {
        return Ok(registry::names().map(str::to_string).collect());
    }
    for s in &args.schemes {
        if registry::design(s).is_none() {
            return Err(format!("unknown scheme {s} (known: {})", registry::known()));
        }
    }
    Ok(args.schemes.clone())
}

/// The output format the arguments ask for.
fn format(args: &CompareArgs) -> Format {
    match (args.json, args.format) {
        (true, _) => Format::Json,
        (false, Some(f)) => f,
        (false, None) => Format::Table,
    }
}

/// Exit status: 0 when every run passed, 1 when a run failed, 2 for bad input.
pub fn run(args: CompareArgs) -> anyhow::Result<u8> {
    foliolab_sim::full_check_by_default(args.full_check);
    let names = selected(&args).map_err(anyhow::Error::msg)?;
    let fmt = format(&args);
    if args.costs {
        crate::compare_costs::print(&names, fmt);
        return Ok(0);
    }
    let suite = match thp_statement(&args.thp).and_then(|t| {
        let suite = load_suite(&args.files)?;
        Ok(suite
            .into_iter()
            .map(|(n, s)| (n, with_thp(s, &t)))
            .collect::<Vec<_>>())
    }) {
        Ok(s) => s,
        Err(e) if args.json => {
            let file = e.split(':').next().unwrap_or_default();
            println!("{}", foliolab_driver::output::error_json(file, &e));
            return Ok(2);
        }
        Err(e) => {
            compare_out::print_load_error(&e, fmt);
            return Ok(2);
        }
    };
    let era = match &args.kernel {
        None => Era::LINUX_6_18,
        Some(k) => {
            let choice = foliolab_cli::era::era_for_kernel(k)?;
            if let Some(n) = &choice.note {
                eprintln!("compare: {n}");
            }
            choice.era
        }
    };
    let setup = Setup {
        era,
        other_era: args.kernel.is_some(),
        mode: args.mode,
        explain: args.explain,
        check: !args.no_check,
    };
    let outs = compare(&suite, &names, setup);
    for o in outs.iter().filter(|o| o.unsupported) {
        eprintln!("not run on the model (unsupported statements): {}", o.name);
    }
    let rows = totals(&outs, &names);
    if args.explain && fmt != Format::Json {
        compare_explain::print(&outs);
    }
    compare_out::print(args.mode, fmt, &outs, &rows, args.explain);
    let failed = outs.iter().any(|o| !o.failures.is_empty());
    Ok(failed as u8)
}
