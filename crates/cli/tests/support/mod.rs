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
