//! `foliolab completions SHELL` and `foliolab man`: generated from the clap definition of the
//! command line, so they cannot drift from it (clap_complete, clap_mangen).

use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write foliolab.1 and one foliolab-COMMAND.1 per command into DIR instead of printing
    /// foliolab.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs, cmd: &clap::Command) -> anyhow::Result<u8> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = without_hidden(cmd);
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "foliolab", &mut out);
    out.flush()?;
    Ok(0)
}

pub fn man(args: &ManArgs, cmd: clap::Command) -> anyhow::Result<u8> {
    let Some(dir) = &args.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        out.flush()?;
        return Ok(0);
    };
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join("foliolab.1"), page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("foliolab-{}", sub.get_name());
        let mut page = Vec::new();
        // A short-lived command: the name lives as long as the process.
        let title: &'static str = name.clone().leak();
        clap_mangen::Man::new(sub.clone().name(title)).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
    }
    Ok(0)
}

/// The command without its hidden (internal) subcommands, which clap_complete would offer.
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut top = clap::Command::new("foliolab").version(crate::VERSION);
    if let Some(a) = cmd.get_about() {
        top = top.about(a.clone());
    }
    let args = cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned();
    let subs = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned();
    top.args(args).subcommands(subs)
}
