//! Shared by the CLI tests: each test file that says `mod support;` uses a part of it.
#![allow(dead_code)]

pub mod schema;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_foliolab");

/// Exit status, stdout and stderr of `foliolab ARGS` run in `dir`, with `stdin` fed from a
/// thread (so a child that stops reading early cannot block the test).
pub fn run_in(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Why a kernel test cannot run here, if it cannot: kernel tests are off (they run only with
/// `FOLIOLAB_KERNEL_TESTS=1`, or `=require`, which turns a skip into a failure) or this is
/// not root. Each test adds what else it needs (gcc, QEMU, a THP size).
pub fn cannot_run_kernel_tests() -> Option<String> {
    match std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() {
        Some("1") | Some("require") => {}
        _ => return Some("FOLIOLAB_KERNEL_TESTS not set (set it to 1 or require)".into()),
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1));
    (uid != Some("0")).then(|| "not root".into())
}

/// Exit status and stdout followed by stderr of `foliolab ARGS` (no standard input).
pub fn run_merged(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A kernel test of a `harness = false` test binary: a name and what it runs (`Ok`: what it
/// found, `Err`: why it failed).
pub type KernelTest = (String, Box<dyn Fn() -> Result<String, String>>);

/// Runs `tests` as libtest would print them, each skipped with `cannot`'s reason when it
/// cannot run here, or failed when `FOLIOLAB_KERNEL_TESTS=require`. Returns (passed,
/// failed, skipped).
pub fn run_kernel_tests(
    tests: &[KernelTest],
    cannot: impl Fn() -> Option<String>,
) -> (usize, usize, usize) {
    let require = std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() == Some("require");
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (name, f) in tests {
        match cannot() {
            Some(why) if require => {
                println!("test {name} ... FAILED (required, but cannot run: {why})");
                fail += 1;
            }
            Some(why) => {
                println!("test {name} ... skipped: {why}");
                skip += 1;
            }
            None => match f() {
                Ok(msg) => {
                    println!("test {name} ... ok: {msg}");
                    pass += 1;
                }
                Err(e) => {
                    println!("test {name} ... FAILED: {e}");
                    fail += 1;
                }
            },
        }
    }
    (pass, fail, skip)
}
