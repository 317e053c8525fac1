//! `foliolab fmt`: scenarios in canonical form (spec 4). One file (or standard input) is
//! printed; `--check` reports each file that is not canonical with a diff (exit 1); `-w`
//! rewrites files in place. Files are handled one by one: a bad file does not stop the rest.

use crate::load::{is_gzip, is_stdin, parse_bytes, read_source};
use crate::run::combine;
use clap::Args;
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct FmtArgs {
    /// Scenario files (`-` or nothing: standard input).
    pub files: Vec<PathBuf>,
    /// Print nothing but a diff for each file that is not in canonical form; exit 1 if any.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Rewrite each file in canonical form in place.
    #[arg(short = 'w', long = "write")]
    pub write: bool,
}

/// Exit status: 0 done (all canonical under `--check`), 1 a file is not canonical
/// (`--check`), 2 a file could not be read, parsed or written, or the arguments do not fit.
pub fn fmt(args: &FmtArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<u8> {
    let stdin = [PathBuf::from("-")];
    let files: &[PathBuf] = if args.files.is_empty() {
        &stdin
    } else {
        &args.files
    };
    if files.len() > 1 && !args.check && !args.write {
        writeln!(
            err,
            "foliolab fmt: {} files: use --check to check them or -w to rewrite them",
            files.len()
        )?;
        return Ok(2);
    }
    if args.write && files.iter().any(|f| is_stdin(f)) {
        writeln!(
            err,
            "foliolab fmt: -w rewrites files; standard input has none"
        )?;
        return Ok(2);
    }
    let mut code = 0;
    let mut stdin_read = false;
    for f in files {
        let c = match read_source(f, &mut stdin_read) {
            Err((_, e)) => {
                writeln!(err, "{e}")?;
                2
            }
            Ok((name, _)) if args.write && is_gzip_file(f) => {
                writeln!(err, "{name}: -w does not rewrite a compressed scenario")?;
                2
            }
            Ok((name, bytes)) => one(args, f, &name, &bytes, out, err)?,
        };
        code = combine(code, c);
    }
    Ok(code)
}

/// True when the file at `path` is gzip-compressed (its text was decompressed on reading).
fn is_gzip_file(path: &std::path::Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| is_gzip(&magic))
}

fn one(
    args: &FmtArgs,
    path: &std::path::Path,
    name: &str,
    bytes: &[u8],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<u8> {
    let (s, text) = match parse_bytes(name, bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(2);
        }
    };
    let canonical = foliolab_scenario::print(&s);
    if args.check {
        let diff = crate::diff::unified(name, &format!("{name} (canonical)"), text, &canonical);
        out.write_all(diff.as_bytes())?;
        return Ok(u8::from(!diff.is_empty()));
    }
    if args.write {
        if canonical != text {
            if let Err(e) = std::fs::write(path, &canonical) {
                writeln!(err, "{name}: cannot write: {e}")?;
                return Ok(2);
            }
        }
        return Ok(0);
    }
    out.write_all(canonical.as_bytes())?;
    Ok(0)
}
