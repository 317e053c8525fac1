//! `foliolab run`: scenarios on the model.

use crate::load::load_all;
use clap::Args;
use foliolab_driver::{check_supported, drive, render_human, render_json, Record};
use foliolab_sim::ModelRunner;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (default: the built-in examples).
    pub files: Vec<PathBuf>,
    /// The scheme that drives the model.
    #[arg(long, default_value = "linux-6.18")]
    pub scheme: String,
    /// One JSON object per line (spec 4.1).
    #[arg(long)]
    pub json: bool,
    /// Skip the invariant and oracle checks after every statement (faster, for big runs).
    #[arg(long)]
    pub no_check: bool,
    /// Print only failures, problems and the summary of each scenario.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Combines exit statuses: invalid (2) over failed (1) over unsupported (3) over passed (0).
pub fn combine(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        2 => 3,
        1 => 2,
        3 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    if ModelRunner::new(&args.scheme).is_none() {
        anyhow::bail!(
            "unknown scheme {} (known: {})",
            args.scheme,
            foliolab_schemes_names()
        );
    }
    let mut code = 0;
    for (name, loaded) in load_all(&args.files) {
        let c = match loaded {
            Err(e) => {
                println!("{e}");
                2
            }
            Ok(s) => run_one(&name, &s, &args),
        };
        code = combine(code, c);
    }
    Ok(code)
}

fn foliolab_schemes_names() -> String {
    foliolab_sim::scheme_names().join(", ")
}

fn run_one(name: &str, s: &foliolab_scenario::Scenario, args: &RunArgs) -> u8 {
    let mut runner = ModelRunner::new(&args.scheme).expect("scheme checked");
    runner.check_every_statement = !args.no_check;
    let missing = check_supported(s, &runner);
    if !missing.is_empty() {
        for m in &missing {
            println!("{name}: unsupported: {m}");
        }
        return 3;
    }
    if !args.json && !args.quiet {
        println!("== {name}");
    }
    let quiet = args.quiet;
    let json = args.json;
    let mut sink = |r: &Record| emit(name, r, json, quiet);
    let summary = drive(s, &mut runner, &mut sink);
    summary.exit as u8
}

fn emit(name: &str, r: &Record, json: bool, quiet: bool) {
    if json {
        println!("{}", render_json(r));
        return;
    }
    let interesting = match r {
        Record::Expect(e) => e.result == foliolab_driver::ExpectResult::Fail,
        Record::Problem(_) | Record::Summary(_) => true,
        _ => false,
    };
    if !quiet || interesting {
        if quiet && matches!(r, Record::Summary(_)) {
            print!("{name}: ");
        }
        println!("{}", render_human(r));
    }
}
