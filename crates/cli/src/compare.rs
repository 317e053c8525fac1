//! `foliolab compare`: every mapcount design on the same workloads, side by side.
//!
//! `--kernel K` runs every design on era K's operations (default 6.18); the era's own design
//! drives in shadow mode.
//!
//! - shadow (default): the era's design (`linux-6.18`) drives the model; every selected
//!   scheme receives the same rmap events through a fan-out and answers the same questions;
//!   wrong answers are counted by kind against the truth (`foliolab_schemes::shadow`).
//! - drive: each scheme drives its own run (with itself as the only shadow, so its wrong
//!   answers are counted the same way); copies, reuses, splits, peak memory, deferred-queue
//!   length and leaks come from the model.

use crate::builtin;
use crate::load::load_all;
use clap::{Args, ValueEnum};
use foliolab_driver::{drive, ProblemKind, Record};
use foliolab_model::stats::MthpStat;
use foliolab_model::Era;
use foliolab_scenario::{parse, validate, Scenario};
use foliolab_schemes::cost::{cause_name, CAUSES};
use foliolab_schemes::shadow::{FanOut, Tally};
use foliolab_schemes::{registry, Scheme};
use foliolab_sim::ModelRunner;
use foliolab_types::{Order, PAGE_SIZE, PMD_ORDER};
use serde_json::json;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Shadow,
    Drive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Drive => "drive",
        }
    }
}

#[derive(Args)]
pub struct CompareArgs {
    /// Scenario files (default: the built-in suite, tests/compare).
    pub files: Vec<PathBuf>,
    /// Schemes to compare (repeatable; default: all).
    #[arg(long = "scheme", value_parser = foliolab_cli::scheme_arg::SchemeParser)]
    pub schemes: Vec<String>,
    /// shadow: linux-6.18 drives and the others answer alongside; drive: each runs alone.
    #[arg(long, value_enum, default_value = "shadow")]
    pub mode: Mode,
    /// Print one JSON object (last line).
    #[arg(long)]
    pub json: bool,
    /// The kernel generation whose operations every design runs on (its era: `5.10`, `6.1`,
    /// `6.12`, `6.18` (default), `7.2`, `host` or a kernel image path); in shadow mode the
    /// era's own design drives.
    #[arg(long, value_name = "K")]
    pub kernel: Option<String>,
}

/// One scheme's figures over the whole suite.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub tally: Tally,
    pub leaks: u64,
    pub cow_copies: u64,
    pub cow_reuses: u64,
    pub splits: u64,
    pub peak_pages: u64,
    pub max_deferred: u64,
    /// Runs that did not end with exit 0.
    pub failed_runs: Vec<String>,
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
}

fn scheme(name: &str) -> Box<dyn Scheme> {
    registry::by_name(name).expect("scheme names are checked first")
}

/// Runs `s` with `driver` driving and `shadows` alongside.
fn run_once(era: &Era, s: &Scenario, driver: &str, shadows: &[String]) -> Option<RunOut> {
    let sh = shadows.iter().map(|n| scheme(n)).collect();
    let (fan, tallies) = FanOut::new(scheme(driver), sh);
    let mut runner = ModelRunner::with_era(*era, Box::new(fan));
    if !foliolab_driver::check_supported(s, &runner).is_empty() {
        return None;
    }
    let mut leaks = 0;
    let summary = drive(s, &mut runner, &mut |r: &Record| {
        if let Record::Problem(p) = r {
            leaks += (p.kind == ProblemKind::Leak) as u64;
        }
    });
    let m = runner.model();
    let splits = (1..=PMD_ORDER.0)
        .map(|o| m.stats.mthp(Order(o), MthpStat::Split))
        .sum::<i64>();
    let out = RunOut {
        tallies: tallies.borrow().clone(),
        leaks,
        copies: m.stats.cow.copies,
        reuses: m.stats.cow.reuses,
        splits: splits.max(0) as u64,
        peak_pages: runner.peaks.used_pages,
        deferred: runner.peaks.deferred_queue_len,
        exit: summary.exit,
    };
    Some(out)
}

fn add_run(row: &mut Row, tally: &Tally, run: &RunOut, drive_mode: bool, scenario: &str) {
    row.tally.merge(tally);
    row.splits += run.splits;
    row.peak_pages += run.peak_pages;
    row.max_deferred = row.max_deferred.max(run.deferred);
    if drive_mode {
        row.leaks += run.leaks;
        row.cow_copies += run.copies;
        row.cow_reuses += run.reuses;
    } else {
        row.leaks += tally.cow_fn;
        row.cow_copies += tally.cow_copies;
        row.cow_reuses += tally.cow_reuses;
    }
    if run.exit != 0 {
        row.failed_runs
            .push(format!("{scenario} (exit {})", run.exit));
    }
}

/// Every scheme's row over `suite` on `era`'s operations; the names of scenarios the model
/// could not run.
pub fn compare(
    era: &Era,
    suite: &[(String, Scenario)],
    names: &[String],
    mode: Mode,
) -> (Vec<Row>, Vec<String>) {
    let mut rows = vec![Row::default(); names.len()];
    let mut skipped = Vec::new();
    for (sname, s) in suite {
        match mode {
            Mode::Shadow => match run_once(era, s, era.design, names) {
                None => skipped.push(sname.clone()),
                Some(run) => {
                    for (row, t) in rows.iter_mut().zip(&run.tallies) {
                        add_run(row, t, &run, false, sname);
                    }
                }
            },
            Mode::Drive => {
                for (row, n) in rows.iter_mut().zip(names) {
                    match run_once(era, s, n, std::slice::from_ref(n)) {
                        None => skipped.push(format!("{sname} under {n}")),
                        Some(run) => add_run(row, &run.tallies[0], &run, true, sname),
                    }
                }
            }
        }
    }
    (rows, skipped)
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

pub fn run(args: CompareArgs) -> anyhow::Result<u8> {
    let names = selected(&args).map_err(anyhow::Error::msg)?;
    let suite = match load_suite(&args.files) {
        Ok(s) => s,
        Err(e) if args.json => {
            let file = e.split(':').next().unwrap_or_default();
            println!("{}", foliolab_driver::output::error_json(file, &e));
            return Ok(2);
        }
        Err(e) => {
            println!("{e}");
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
    let (rows, skipped) = compare(&era, &suite, &names, args.mode);
    for s in &skipped {
        eprintln!("not run on the model (unsupported statements): {s}");
    }
    if args.json {
        println!("{}", output_record(&to_json(args.mode, &rows)));
    } else {
        print_human(args.mode, suite.len(), &rows);
    }
    Ok(0)
}

/// The output record (schema 1, docs/json-schema.md) of a `to_json` object: `kind`
/// `compare`, `line` 0 and `file` null (it sums a whole suite).
pub fn output_record(object: &str) -> String {
    let body = object.strip_prefix('{').unwrap_or(object);
    let record = format!("{{\"kind\":\"compare\",\"line\":0,{body}");
    foliolab_driver::output::stamp(None, &record)
}

/// The JSON object, keys in the order: `{"mode":..., "schemes":[...]}`.
pub fn to_json(mode: Mode, rows: &[Row]) -> String {
    let schemes: Vec<String> = rows.iter().map(row_json).collect();
    format!(
        "{{\"mode\":{},\"schemes\":[{}]}}",
        json!(mode.name()),
        schemes.join(",")
    )
}

fn row_json(r: &Row) -> String {
    let t = &r.tally;
    let c = t.costs.total();
    let fields: [(&str, u64); 12] = [
        ("false_shared", t.false_shared()),
        ("false_exclusive", t.false_exclusive()),
        ("mapcount_errors", t.mapcount_errors + t.kpagecount_errors),
        ("partial_map_errors", t.partial_map_errors()),
        ("stats_errors", t.stats_errors),
        ("leaks", r.leaks),
        ("cow_copies", r.cow_copies),
        ("cow_reuses", r.cow_reuses),
        ("splits", r.splits),
        ("atomic_rmw", c.atomic_rmw),
        ("cachelines", c.cachelines),
        (
            "metadata_bytes_per_2m_folio",
            t.layout.metadata_bytes(PMD_ORDER),
        ),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{\"name\":{},{}}}", json!(t.name), body.join(","))
}

fn print_human(mode: Mode, nr: usize, rows: &[Row]) {
    let driver = match mode {
        Mode::Shadow => "linux-6.18 drives, the others shadow it",
        Mode::Drive => "each scheme drives its own run",
    };
    println!(
        "foliolab compare: {} mode ({driver}), {nr} scenarios\n",
        mode.name()
    );
    println!(
        "{:<15} {:>7} {:>6} {:>8} {:>7} {:>6} {:>5} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6}",
        "scheme",
        "f.shrd",
        "f.excl",
        "mapcount",
        "partial",
        "stats",
        "leaks",
        "copies",
        "reuses",
        "splits",
        "rmw",
        "lines",
        "B/2M"
    );
    for r in rows {
        let t = &r.tally;
        let c = t.costs.total();
        println!(
            "{:<15} {:>7} {:>6} {:>8} {:>7} {:>6} {:>5} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6}",
            t.name,
            t.false_shared(),
            t.false_exclusive(),
            t.mapcount_errors + t.kpagecount_errors,
            t.partial_map_errors(),
            t.stats_errors,
            r.leaks,
            r.cow_copies,
            r.cow_reuses,
            r.splits,
            c.atomic_rmw,
            c.cachelines,
            t.layout.metadata_bytes(PMD_ORDER)
        );
    }
    for r in rows {
        print_scheme(r);
    }
}

fn print_scheme(r: &Row) {
    let t = &r.tally;
    println!("\n== {}", t.name);
    println!(
        "  maybe-shared +{}/-{}  bit56 +{}/-{}  cow +{}/-{}  (false shared / false exclusive)",
        t.maybe_shared_fp, t.maybe_shared_fn, t.bit56_fp, t.bit56_fn, t.cow_fp, t.cow_fn
    );
    println!(
        "  mapcount {}  kpagecount {}  partial missed {} spurious {}  stats {} (pss {})",
        t.mapcount_errors,
        t.kpagecount_errors,
        t.partial_missed,
        t.partial_spurious,
        t.stats_errors,
        t.pss_errors
    );
    println!(
        "  peak memory {} KiB (sum of per-scenario peaks)  deferred queue max {}",
        r.peak_pages * PAGE_SIZE / 1024,
        r.max_deferred
    );
    println!(
        "  {:<12} {:>7} {:>8} {:>8}",
        "operation", "calls", "rmw", "lines"
    );
    for c in CAUSES {
        let o = t.costs.by_cause[foliolab_schemes::cost::cause_index(c)];
        println!(
            "  {:<12} {:>7} {:>8} {:>8}",
            cause_name(c),
            o.calls,
            o.atomic_rmw,
            o.cachelines
        );
    }
    print_layout(t);
    for f in &r.failed_runs {
        println!("  run failed: {f}");
    }
}

fn print_layout(t: &Tally) {
    let l = &t.layout;
    let per_page = |o: u8| l.metadata_bytes(Order(o)) as f64 / Order(o).nr_pages() as f64;
    println!(
        "  metadata: 4K {} B, 16K {} B, 64K {} B, 2M {} B ({:.2} B per 4K page at 2M)",
        l.metadata_bytes(Order(0)),
        l.metadata_bytes(Order(2)),
        l.metadata_bytes(Order(4)),
        l.metadata_bytes(PMD_ORDER),
        per_page(PMD_ORDER.0)
    );
    println!(
        "  overflow: {} after {} MMs fully PTE-mapping a 2M folio; tail-refcount hazard: {}",
        l.overflow_counter,
        l.overflow_mms_2m,
        l.speculative_ref_hazard.unwrap_or("none")
    );
}
