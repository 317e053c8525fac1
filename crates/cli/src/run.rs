//! `foliolab run`: scenarios on the model. [`run_loaded`] is the whole path from a loaded
//! scenario to its exit status; the binary, the CLI tests and the mutation fuzzer share it.

use crate::load::{load_all, Loaded};
use crate::out::{diagnostic, Format, Tap};
use clap::Args;
use foliolab_driver::output::{error_json, output_json, unsupported_json};
use foliolab_driver::{check_supported, drive, render_human, Record};
use foliolab_model::Era;
use foliolab_sim::ModelRunner;
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files (`-` reads standard input; default: the built-in examples).
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: RunOptions,
}

#[derive(Args, Clone, Debug, Default)]
pub struct RunOptions {
    /// The scheme (design) that drives the model (default: the era's own design,
    /// linux-6.18 for 6.18).
    #[arg(long, value_parser = crate::scheme_arg::SchemeParser)]
    pub scheme: Option<String>,
    /// The kernel generation whose operations the model performs (its era): `5.10`, `6.1`,
    /// `6.12`, `6.18` (default), `7.2`, `host` (this machine's running kernel) or the path of
    /// a kernel image (the era of the version it carries). What the era's kernel could not
    /// do is unsupported (exit 3).
    #[arg(long, value_name = "K")]
    pub kernel: Option<String>,
    /// One JSON object per line (schema 1, docs/json-schema.md); `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Output format: human lines, JSON records, or TAP 13 (kselftest style).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Skip the invariant and oracle checks after every statement (faster, for big runs).
    #[arg(long)]
    pub no_check: bool,
    /// Check every statement with a full recount of every page table and the invariants
    /// over every folio and process, instead of on what the statement touched (the same
    /// verdicts, slower: the reference the incremental checks are tested against).
    #[arg(long)]
    pub full_check: bool,
    /// Print only failures, problems and the summary of each scenario.
    #[arg(long, short)]
    pub quiet: bool,
    /// Check every expectation under --scheme and under the era's own design (linux-6.18;
    /// with --kernel K, K's) and print both answers side by side (what the design answers
    /// where a plain run skips it).
    #[arg(long)]
    pub show: bool,
    /// The era `kernel` selects, once resolved ([`RunOptions::resolve_era`]).
    #[arg(skip)]
    pub era: Option<Era>,
}

impl RunOptions {
    pub fn format(&self) -> Format {
        Format::resolve(self.format, self.json)
    }

    /// Resolves `--kernel` into [`RunOptions::era`] (6.18 without it), with the note a
    /// choice that is not the kernel's own generation deserves on standard error.
    pub fn resolve_era(&mut self) -> anyhow::Result<()> {
        let Some(k) = &self.kernel else {
            self.era = Some(Era::LINUX_6_18);
            return Ok(());
        };
        let choice = crate::era::era_for_kernel(k)?;
        if let Some(n) = &choice.note {
            eprintln!("run: {n}");
        }
        self.era = Some(choice.era);
        Ok(())
    }

    /// The era and the design name of a run.
    fn era_and_scheme(&self) -> (Era, &str) {
        let era = self.era.unwrap_or(Era::LINUX_6_18);
        (era, self.scheme.as_deref().unwrap_or(era.design))
    }
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

/// An unknown scheme name, with the closest known one.
pub fn check_scheme(name: &str) -> anyhow::Result<()> {
    if ModelRunner::new(name).is_some() {
        return Ok(());
    }
    let known = foliolab_sim::scheme_names();
    let hint = foliolab_scenario::suggest::did_you_mean(name, known.iter().copied())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    anyhow::bail!("unknown scheme `{name}`{hint}; known: {}", known.join(", "))
}

pub fn run(mut args: RunArgs) -> anyhow::Result<u8> {
    foliolab_sim::full_check_by_default(args.opts.full_check);
    args.opts.resolve_era()?;
    check_scheme(args.opts.era_and_scheme().1)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut err = io::stderr();
    let mut code = 0;
    let all = load_all(&args.files);
    let mut tap = Tap::default();
    let is_tap = args.opts.format() == Format::Tap;
    if is_tap {
        tap.begin(&mut out, all.len())?;
    }
    let (era, scheme) = args.opts.era_and_scheme();
    let scheme = scheme.to_string();
    let check = !args.opts.no_check;
    for (name, loaded) in &all {
        let c = match (loaded, args.opts.show) {
            (Ok(s), true) => crate::show::show(name, s, era, &scheme, check, &mut out)?,
            _ => run_loaded(name, loaded, &args.opts, &mut out, &mut err)?,
        };
        if is_tap {
            tap.point(&mut out, name, c)?;
        }
        code = combine(code, c);
    }
    if is_tap {
        tap.finish(&mut out)?;
    }
    out.flush()?;
    Ok(code)
}

/// Runs one loaded scenario: its records to `out`, a load error to `err`; the exit status
/// (0 passed, 1 failed, 2 invalid, 3 unsupported). Errors are only those of the writers.
pub fn run_loaded(
    name: &str,
    loaded: &Loaded,
    opts: &RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<u8> {
    let format = opts.format();
    let s = match loaded {
        Err(e) => {
            match format {
                Format::Json => writeln!(out, "{}", error_json(name, e))?,
                Format::Tap => diagnostic(out, e)?,
                Format::Human => {}
            }
            // Standard error keeps the diagnostic in every format.
            writeln!(err, "{e}")?;
            return Ok(2);
        }
        Ok(s) => s,
    };
    let (era, scheme) = opts.era_and_scheme();
    let Some(mut runner) = ModelRunner::for_era(era, scheme) else {
        writeln!(err, "{name}: unknown scheme `{scheme}`")?;
        return Ok(2);
    };
    runner.check_every_statement = !opts.no_check;
    let missing = check_supported(s, &runner);
    if !missing.is_empty() {
        for m in &missing {
            match format {
                Format::Json => writeln!(out, "{}", unsupported_json(name, Some("model"), m))?,
                Format::Tap => writeln!(out, "# {name}: unsupported: {m}")?,
                Format::Human => writeln!(out, "{name}: unsupported: {m}")?,
            }
        }
        return Ok(3);
    }
    if format != Format::Json && !opts.quiet {
        let tap = if format == Format::Tap { "# " } else { "" };
        writeln!(out, "{tap}== {name}")?;
    }
    let mut written = Ok(());
    let mut sink = |r: &Record| {
        if written.is_ok() {
            written = emit(out, name, r, opts);
        }
    };
    let summary = drive(s, &mut runner, &mut sink);
    written?;
    Ok(summary.exit as u8)
}

fn emit(out: &mut dyn Write, name: &str, r: &Record, opts: &RunOptions) -> io::Result<()> {
    let format = opts.format();
    if format == Format::Json {
        return writeln!(out, "{}", output_json(r, name));
    }
    let tap = if format == Format::Tap { "# " } else { "" };
    let interesting = match r {
        Record::Expect(e) => e.result == foliolab_driver::ExpectResult::Fail,
        Record::Problem(_) | Record::Summary(_) => true,
        _ => false,
    };
    if !opts.quiet || interesting {
        write!(out, "{tap}")?;
        if opts.quiet && matches!(r, Record::Summary(_)) {
            write!(out, "{name}: ")?;
        }
        writeln!(out, "{}", render_human(r))?;
    }
    Ok(())
}
