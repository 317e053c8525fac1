//! Output formats of `run` and `check`: human lines, JSON records (schema 1,
//! docs/json-schema.md) or TAP 13 as the kernel's selftests write it (kselftest: one test
//! point per scenario, `# ` diagnostic lines, `# SKIP` for what a runner cannot perform, a
//! closing `# Totals:` line).

use clap::ValueEnum;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One compact line per record.
    #[default]
    Human,
    /// One JSON object per line (schema 1: docs/json-schema.md).
    Json,
    /// TAP version 13, kselftest style: one test point per scenario.
    Tap,
}

impl Format {
    /// `--format`, with `--json` as a shorthand for `--format json`.
    pub fn resolve(format: Option<Format>, json: bool) -> Format {
        match format {
            Some(f) => f,
            None if json => Format::Json,
            None => Format::Human,
        }
    }
}

/// The test points of one TAP stream and their tallies.
#[derive(Debug, Default)]
pub struct Tap {
    next: usize,
    pass: u64,
    fail: u64,
    skip: u64,
    error: u64,
}

impl Tap {
    pub const fn new() -> Tap {
        Tap {
            next: 0,
            pass: 0,
            fail: 0,
            skip: 0,
            error: 0,
        }
    }

    /// `TAP version 13` and the plan.
    pub fn begin(&mut self, out: &mut dyn Write, nr_tests: usize) -> io::Result<()> {
        writeln!(out, "TAP version 13")?;
        writeln!(out, "1..{nr_tests}")
    }

    /// The test point of one scenario from its exit status (0 ok, 1 not ok, 2 not ok and
    /// counted as an error, 3 skipped).
    pub fn point(&mut self, out: &mut dyn Write, name: &str, code: u8) -> io::Result<()> {
        self.next += 1;
        let n = self.next;
        match code {
            0 => {
                self.pass += 1;
                writeln!(out, "ok {n} {name}")
            }
            3 => {
                self.skip += 1;
                writeln!(out, "ok {n} {name} # SKIP unsupported")
            }
            2 => {
                self.error += 1;
                writeln!(out, "not ok {n} {name} # error (invalid or could not run)")
            }
            _ => {
                self.fail += 1;
                writeln!(out, "not ok {n} {name}")
            }
        }
    }

    /// The closing line, as kselftest's `ksft_print_cnts`.
    pub fn finish(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:{}",
            self.pass, self.fail, self.skip, self.error
        )
    }
}

/// Writes `text` as TAP diagnostic lines (`# ` before every line).
pub fn diagnostic(out: &mut dyn Write, text: &str) -> io::Result<()> {
    for line in text.lines() {
        if line.is_empty() {
            writeln!(out, "#")?;
        } else {
            writeln!(out, "# {line}")?;
        }
    }
    Ok(())
}
