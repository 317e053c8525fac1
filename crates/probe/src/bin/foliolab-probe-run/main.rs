//! Runs scenario files on the kernel with the probe's small driver (a development and test
//! tool; the `foliolab probe` command is the user interface). The helper is
//! `foliolab-probe-helper` beside this executable; nothing in the environment changes it or
//! the host paths.
//!
//! - `--restore`: restore the host from the journal and exit (2 when an item failed);
//! - `--json`: one JSON object per line;
//! - `--hold`: after each scenario's last statement, with its processes alive, its swap on
//!   and its knobs set, print `holding` and wait for a line or the end of standard input
//!   (for the host-safety tests);
//! - `--kill-helper LINE:PROC`: just before the statement at LINE (an action), SIGKILL the
//!   helper of PROC from outside (the host-safety tests' stand-in for the OOM killer).

use foliolab_driver::{drive, render_human, render_json, Hooked, Record, Runner};
use foliolab_probe::recheck;
use foliolab_probe::runner::unsupported;
use foliolab_probe::{budget, restore_host, HostGuard, KernelRunner, ProbeOptions};
use foliolab_scenario::Scenario;
use std::path::PathBuf;

mod disturb;

#[derive(Default)]
struct Args {
    json: bool,
    hold: bool,
    kill: Option<(u32, String)>,
    files: Vec<String>,
}

fn parse_args(args: Vec<String>) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.into_iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--json" => a.json = true,
            "--hold" => a.hold = true,
            "--kill-helper" => {
                let v = it.next().ok_or("--kill-helper needs LINE:PROC")?;
                let (l, p) = v.split_once(':').ok_or("--kill-helper needs LINE:PROC")?;
                a.kill = Some((l.parse().map_err(|_| "bad LINE")?, p.to_string()));
            }
            _ => a.files.push(x),
        }
    }
    Ok(a)
}

fn restore() -> ! {
    match restore_host() {
        Ok(r) if r.nothing => println!("restore: no journal, nothing to do"),
        Ok(r) => r.restored.iter().for_each(|x| println!("restored {x}")),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    }
    std::process::exit(0)
}

fn load(f: &str) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
    foliolab_scenario::parse(f, &text)
        .and_then(|s| foliolab_scenario::validate(&s).map(|_| s))
        .map_err(|e| e.to_string())
}

fn hold() {
    println!("holding");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn print_record(r: &Record, json: bool) {
    println!(
        "{}",
        if json {
            render_json(r)
        } else {
            render_human(r)
        }
    )
}

/// Runs one scenario; its exit status. Without `--hold` or `--kill-helper`, a scenario with
/// counter statements runs again while only they fail (`recheck`), as `foliolab probe` does.
fn run_one(guard: &mut HostGuard, opts: &ProbeOptions, args: &Args, f: &str, sc: &Scenario) -> i32 {
    let u = unsupported(sc);
    if !u.is_empty() {
        u.iter().for_each(|x| println!("unsupported: {x}"));
        return 3;
    }
    if !args.json {
        println!("== {f}");
    }
    let lines = recheck::counter_lines(sc);
    if args.hold || args.kill.is_some() || lines.is_empty() {
        return run_driven(guard, opts, args, f, sc);
    }
    let mut judge = |records: &[Record]| recheck::only_counters_failed(records, &lines);
    match recheck::run_rechecked(guard, opts, sc, budget::Mode::Probe, f, &mut judge) {
        Ok((summary, records)) => {
            records.iter().for_each(|r| print_record(r, args.json));
            summary.exit
        }
        Err(e) => {
            eprintln!("{f}: {e}");
            2
        }
    }
}

/// One run through the driver, records streamed, with the test hooks.
fn run_driven(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    args: &Args,
    f: &str,
    sc: &Scenario,
) -> i32 {
    let mut runner = match KernelRunner::new(guard, opts.clone(), sc, budget::Mode::Probe) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{f}: {e}");
            return 2;
        }
    };
    let mut sink = |r: &Record| print_record(r, args.json);
    let summary = match &args.kill {
        Some((line, proc)) => {
            let mut killing = Hooked::new(runner, disturb::KillBefore::new(*line, proc));
            let summary = drive(sc, &mut killing, &mut sink);
            runner = killing.inner;
            summary
        }
        None => drive(sc, &mut runner as &mut dyn Runner, &mut sink),
    };
    if args.hold {
        hold();
    }
    if let Err(e) = runner.finish() {
        eprintln!("{f}: {e}");
        return 2;
    }
    summary.exit
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--restore") {
        restore();
    }
    let args = parse_args(raw).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let exe = std::env::current_exe().unwrap_or_default();
    let helper = exe
        .parent()
        .map(|d| d.join("foliolab-probe-helper"))
        .unwrap_or_else(|| PathBuf::from("foliolab-probe-helper"));
    let opts = ProbeOptions::helper_executable(helper);
    let mut worst = 0;
    let mut scenarios = Vec::new();
    for f in &args.files {
        match load(f).and_then(|s| {
            budget::check(&s, budget::Mode::Probe)
                .map(|_| s)
                .map_err(|e| format!("{f}: {e}"))
        }) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                eprintln!("{e}");
                worst = 2;
            }
        }
    }
    if scenarios.is_empty() {
        std::process::exit(worst);
    }
    let mut guard = HostGuard::acquire().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    for (f, sc) in &scenarios {
        worst = worst.max(run_one(&mut guard, &opts, &args, f, sc));
    }
    if let Err(e) = guard.restore() {
        eprintln!("{e}");
        std::process::exit(2);
    }
    std::process::exit(worst);
}
