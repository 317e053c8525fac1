//! The `foliolab` command: run scenarios on the model (`run`), and more as issues add them.

mod bench;
mod builtin;
mod load;
mod run;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "foliolab",
    version,
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
    /// Print a scenario in canonical form.
    Fmt {
        /// Scenario files.
        files: Vec<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::bench(args),
        Command::Fmt { files } => load::fmt(&files),
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("foliolab: {e:#}");
            ExitCode::from(2)
        }
    }
}
