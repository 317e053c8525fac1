//! The `foliolab` command: run scenarios on the model (`run`), and more as issues add them.
//! Exit status: 0 passed, 1 failed, 2 invalid (or a usage error), 3 unsupported; a closed
//! standard output ends any command quietly with 0.

mod bench;
mod compare;
mod compare_costs;
mod compare_explain;
mod compare_out;
mod explain;
mod explore;
mod fuzz;
mod heap;
mod manual;
mod probe;
mod record;
mod report;
mod say;
mod vm;
mod vm_records;

use clap::{CommandFactory, Parser, Subcommand};
use foliolab_cli::{builtin, fmt, load, pipe, run};
use std::process::ExitCode;

/// The version with the commit it was built from (build.rs; `unknown` without git).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FOLIOLAB_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "foliolab",
    version = VERSION,
    about = "An executable, kernel-checked model of Linux large-folio mapcount accounting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios on the model (the built-in examples when no file is given).
    Run(run::RunArgs),
    /// Time the model on the kernel's anchors: fork and munmap of 1 GiB at 4K, 64K and 2M.
    Bench(bench::BenchArgs),
    /// Randomized simulation testing: generated scenarios under every scheme, shrunk failures.
    Fuzz(fuzz::FuzzArgs),
    /// Run scenarios on this machine's kernel (root; changes THP knobs for the run only).
    Probe(probe::ProbeArgs),
    /// Run scenarios on the model and on the kernel and print every difference.
    Check(probe::CheckArgs),
    /// Download and prepare kernels for `--kernel K` (Debian packages, cached).
    Kernel(vm::KernelCmdArgs),
    /// The probe's helper process (internal).
    #[command(name = "__probe-helper", hide = true)]
    ProbeHelper,
    /// Every mapcount design on the same workloads: wrong answers by kind, decisions, costs.
    Compare(compare::CompareArgs),
    /// Explore the interleavings of the races the mapcount designs are argued over.
    Explore(explore::ExploreArgs),
    /// Trace a command's process tree and write it as a scenario (root; docs/record.md).
    Record(record::RecordArgs),
    /// Print a scenario in canonical form (standard input without files); --check, -w.
    Fmt(fmt::FmtArgs),
    /// One self-contained HTML page with plots: designs' wrong answers, folio maps, eras.
    Report(report::ReportArgs),
    /// Print a shell completion script: `foliolab completions bash > /etc/bash_completion.d/foliolab`.
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command with --dir.
    Man(manual::ManArgs),
}

fn main() -> ExitCode {
    // The helper must run before anything else starts (no threads, nothing on stdout).
    match std::env::args().nth(1).as_deref() {
        Some("__probe-helper") => foliolab_probe::helper_main(),
        // `foliolab bench`'s kernel worker: a fresh process whose fork copies only its region.
        Some(foliolab_probe::bench::WORKER_ARG) => foliolab_probe::bench::worker_main(),
        // Inside a VM: init (process 1) and the scenario runner it starts.
        Some("__vm-guest") => foliolab_probe::vm::guest::guest_init(),
        Some("__vm-guest-run") => foliolab_probe::vm::guest::guest_run(),
        _ => {}
    }
    let cli = Cli::parse();
    // Debug cross-check of the incremental checks against the full ones (panics on a
    // disagreement): the agreement tests' mode, for any command.
    foliolab_sim::check_agreement_by_default(
        std::env::var_os("FOLIOLAB_CHECK_AGREEMENT").is_some_and(|v| v == "1"),
    );
    ExitCode::from(pipe::quiet_on_broken_pipe(|| {
        exit_code(dispatch(cli.command))
    }))
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::bench(args),
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Probe(args) => probe::probe(args),
        Command::Check(args) => probe::check(args),
        Command::Compare(args) => compare::run(args),
        Command::Explore(args) => explore::explore(args),
        Command::Record(args) => record::run(args),
        Command::Kernel(args) => vm::kernel_cmd(args),
        Command::ProbeHelper => unreachable!("dispatched before argument parsing"),
        Command::Report(args) => report::report(args),
        Command::Completions(args) => manual::completions(&args, &Cli::command()),
        Command::Man(args) => manual::man(&args, Cli::command()),
        Command::Fmt(args) => {
            let stdout = std::io::stdout();
            let code = fmt::fmt(&args, &mut stdout.lock(), &mut std::io::stderr())?;
            Ok(code)
        }
    }
}

/// The exit status of a command's result: a closed pipe is 0, any other error 2.
fn exit_code(result: anyhow::Result<u8>) -> u8 {
    match result {
        Ok(c) => c,
        Err(e) if pipe::is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("foliolab: {e:#}");
            2
        }
    }
}
