//! What `probe` and `check` print, in the format the command line chose (human lines, JSON
//! records of schema 1, or TAP 13): one process-wide choice made before anything prints,
//! so that every path (the host kernel, a VM, the preflight) prints alike.

use foliolab_cli::out::{Format, Tap};
use foliolab_driver::output::{error_json, output_json, stamp, unsupported_json};
use foliolab_driver::{render_human, Record};
use std::io::Write;
use std::sync::Mutex;

struct State {
    format: Format,
    tap: Tap,
}

static STATE: Mutex<State> = Mutex::new(State {
    format: Format::Human,
    tap: Tap::new(),
});

fn with<T>(f: impl FnOnce(&mut State, &mut dyn Write) -> std::io::Result<T>) -> T {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match f(&mut state, &mut out) {
        Ok(v) => v,
        // As println!: a closed pipe ends the command quietly (pipe::quiet_on_broken_pipe).
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// Chooses the format; with TAP, writes the header and the plan of `nr_tests` points.
pub fn begin(format: Format, nr_tests: usize) {
    with(|s, out| {
        s.format = format;
        if format == Format::Tap {
            s.tap.begin(out, nr_tests)?;
        }
        Ok(())
    })
}

pub fn format() -> Format {
    with(|s, _| Ok(s.format))
}

/// A line of human output: a TAP diagnostic, nothing under JSON.
pub fn line(text: &str) {
    with(|s, out| match s.format {
        Format::Human => writeln!(out, "{text}"),
        Format::Tap => foliolab_cli::out::diagnostic(out, text),
        Format::Json => Ok(()),
    })
}

/// `== NAME` before a scenario's records.
pub fn heading(name: &str) {
    if format() != Format::Json {
        line(&format!("== {name}"));
    }
}

pub fn record(name: &str, r: &Record) {
    match format() {
        Format::Json => json(&output_json(r, name)),
        _ => line(&render_human(r)),
    }
}

/// A scenario that cannot run (invalid, refused, a run error): `rendered` is the whole
/// diagnostic.
pub fn error(name: &str, rendered: &str) {
    match format() {
        Format::Json => json(&error_json(name, rendered)),
        _ => line(rendered),
    }
}

/// What `runner` (`model`, `kernel` or none) cannot perform.
pub fn unsupported(name: &str, runner: Option<&str>, what: &str) {
    match format() {
        Format::Json => json(&unsupported_json(name, runner, what)),
        _ => {
            let who = runner.map(|r| format!("{r}: ")).unwrap_or_default();
            line(&format!("{name}: unsupported: {who}{what}"))
        }
    }
}

fn json(text: &str) {
    with(|_, out| writeln!(out, "{text}"))
}

/// An object that is already a whole output record under JSON (`kind`, `line`, ...).
pub fn json_record(name: &str, object: &serde_json::Value) {
    if format() == Format::Json {
        json(&stamp(Some(name), &object.to_string()));
    }
}

/// The TAP test point of one scenario (nothing in the other formats).
pub fn end(name: &str, code: u8) {
    with(|s, out| match s.format {
        Format::Tap => s.tap.point(out, name, code),
        _ => Ok(()),
    })
}

/// TAP's closing totals line.
pub fn finish() {
    with(|s, out| match s.format {
        Format::Tap => s.tap.finish(out),
        _ => Ok(()),
    })
}
