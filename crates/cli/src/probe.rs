//! `foliolab probe` (scenarios on this machine's kernel), `foliolab check` (model and kernel,
//! compared statement by statement) and the hidden helper mode the probe executes.

use crate::load::load_all;
use crate::run::combine;
use clap::Args;
use foliolab_driver::diff::diff_runs;
use foliolab_driver::{check_supported, drive, render_human, render_json, Record};
use foliolab_probe::{probe_scenario, restore_host, HostGuard, KernelRunner, ProbeOptions};
use foliolab_scenario::Scenario;
use foliolab_sim::ModelRunner;
use std::path::PathBuf;

#[derive(Args)]
pub struct ProbeArgs {
    /// Scenario files.
    pub files: Vec<PathBuf>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Restore THP knobs and swap from the journal a killed probe left behind, and exit.
    #[arg(long)]
    pub restore: bool,
    #[command(flatten)]
    pub target: crate::vm::KernelArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files.
    pub files: Vec<PathBuf>,
    /// One JSON object per difference, then a summary per file.
    #[arg(long)]
    pub json: bool,
    /// The scheme that drives the model.
    #[arg(long, default_value = "linux-6.18")]
    pub scheme: String,
    /// Add observations before comparing (for recorded workloads): every Nth access is
    /// observed with `expect faults == 1`, every process's spaces' smaps before it exits and
    /// at the end, `observe stats` at the end (docs/record.md).
    #[arg(long, value_name = "N")]
    pub sample: Option<u64>,
    /// Skip the model's invariant and oracle checks after every statement (faster on
    /// large recorded workloads; `foliolab run` keeps them).
    #[arg(long)]
    pub no_check: bool,
    #[command(flatten)]
    pub target: crate::vm::KernelArgs,
}

pub fn probe(args: ProbeArgs) -> anyhow::Result<u8> {
    if args.restore {
        let r = restore_host()?;
        println!("restored: {r:?}");
        return Ok(0);
    }
    let loaded = load_all(&args.files);
    if let Some(spec) = args.target.vm_spec()? {
        return crate::vm::probe(&spec, &args.target, loaded, args.json);
    }
    let mut guard = HostGuard::acquire()?;
    let opts = ProbeOptions::from_env()?;
    let mut code = 0;
    for (name, l) in loaded {
        let c = match l {
            Err(e) => {
                println!("{e}");
                2
            }
            Ok(s) => probe_one(&mut guard, &opts, &name, &s, args.json)?,
        };
        code = combine(code, c);
    }
    guard.restore()?;
    Ok(code)
}

fn kernel_unsupported(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    s: &Scenario,
) -> anyhow::Result<Vec<String>> {
    let r = KernelRunner::new(guard, opts.clone())?;
    Ok(check_supported(s, &r))
}

fn probe_one(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    name: &str,
    s: &Scenario,
    json: bool,
) -> anyhow::Result<u8> {
    let missing = kernel_unsupported(guard, opts, s)?;
    if !missing.is_empty() {
        missing
            .iter()
            .for_each(|m| println!("{name}: unsupported: {m}"));
        return Ok(3);
    }
    if !json {
        println!("== {name}");
    }
    let mut sink = |r: &Record| {
        println!(
            "{}",
            if json {
                render_json(r)
            } else {
                render_human(r)
            }
        )
    };
    let summary = probe_scenario(guard, opts, s, &mut sink)?;
    Ok(summary.exit as u8)
}

pub fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let loaded = load_all(&args.files);
    if let Some(spec) = args.target.vm_spec()? {
        return crate::vm::check(&spec, &args.target, loaded, &args.scheme, args.json);
    }
    let mut guard = HostGuard::acquire()?;
    let opts = ProbeOptions::from_env()?;
    let mut code = 0;
    for (name, l) in loaded {
        let c = match l {
            Err(e) => {
                println!("{e}");
                2
            }
            Ok(s) => {
                let s = match args.sample {
                    Some(n) => foliolab_record::plan::with_observations(&s, n),
                    None => s,
                };
                check_one(&mut guard, &opts, &name, &s, &args)?
            }
        };
        code = combine(code, c);
    }
    guard.restore()?;
    Ok(code)
}

fn check_one(
    guard: &mut HostGuard,
    opts: &ProbeOptions,
    name: &str,
    s: &Scenario,
    args: &CheckArgs,
) -> anyhow::Result<u8> {
    let mut model = ModelRunner::new(&args.scheme)
        .ok_or_else(|| anyhow::anyhow!("unknown scheme {}", args.scheme))?;
    model.check_every_statement = !args.no_check;
    let mut missing: Vec<String> = check_supported(s, &model)
        .into_iter()
        .map(|m| format!("model: {m}"))
        .collect();
    missing.extend(
        kernel_unsupported(guard, opts, s)?
            .into_iter()
            .map(|m| format!("kernel: {m}")),
    );
    if !missing.is_empty() {
        missing
            .iter()
            .for_each(|m| println!("{name}: unsupported: {m}"));
        return Ok(3);
    }
    let mut left = Vec::new();
    let ms = drive(s, &mut model, &mut |r: &Record| left.push(r.clone()));
    let mut right = Vec::new();
    let ks = probe_scenario(guard, opts, s, &mut |r: &Record| right.push(r.clone()))?;
    let verdict = print_verdict(name, &left, &right, ms.exit, ks.exit, args.json);
    if args.sample.is_none() {
        return Ok(verdict);
    }
    // With --sample, `expect faults == 1` states what the recording saw: a replay that
    // faults otherwise fails it on both runners alike, which is no difference.
    println!(
        "{name}: sampled `expect faults == 1` (the recording's fault): model {} pass, {} fail; kernel {} pass, {} fail",
        ms.pass, ms.fail, ks.pass, ks.fail
    );
    let same = foliolab_driver::diff::diff_runs(&left, &right).is_empty();
    Ok(if same && ms.exit <= 1 && ks.exit <= 1 {
        0
    } else {
        verdict
    })
}

/// Prints every difference between the model's records (`left`) and the kernel's
/// (`right`) and the closing line of one scenario; returns its exit status.
pub(crate) fn print_verdict(
    name: &str,
    left: &[Record],
    right: &[Record],
    model_exit: i32,
    kernel_exit: i32,
    json: bool,
) -> u8 {
    let diffs = diff_runs(left, right);
    for d in &diffs {
        println!(
            "{}",
            if json {
                d.json()
            } else {
                format!("{name}:{}", d.human())
            }
        );
    }
    let verdict = if diffs.is_empty() && model_exit == 0 && kernel_exit == 0 {
        0
    } else if model_exit == 2 || kernel_exit == 2 {
        2
    } else {
        1
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"kind": "check", "file": name, "diffs": diffs.len(), "model_exit": model_exit, "kernel_exit": kernel_exit, "exit": verdict})
        );
    } else {
        println!(
            "{name}: {} differences; model exit {}, kernel exit {}",
            diffs.len(),
            model_exit,
            kernel_exit
        );
    }
    verdict
}
