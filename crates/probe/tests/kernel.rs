//! Kernel tests: run only with `FOLIOLAB_KERNEL_TESTS=1` (or `=require`, which turns every
//! skip into a failure) on a machine that can (root, THP sizes 64K and 2M, zram). Without the
//! variable nothing touches the host: every test is reported skipped with its reason.
//!
//! - `corpus`: every scenario of tests/conformance passes on the kernel, five runs in a row
//!   with identical records;
//! - `host_restored_normal_end`, `host_restored_sigterm`, `host_restored_sigkill_next_start`,
//!   `host_restored_sigkill_restore`: knobs and swap equal before and after.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUN: &str = env!("CARGO_BIN_EXE_foliolab-probe-run");
const HELPER: &str = env!("CARGO_BIN_EXE_foliolab-probe-helper");
const THP: &str = "/sys/kernel/mm/transparent_hugepage";

type TestFn = fn() -> Result<(), String>;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn corpus() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "scn"))
                .collect()
        })
        .unwrap_or_else(|e| panic!("{}: {e}", corpus_dir().display()));
    v.sort();
    assert!(
        v.len() >= 75,
        "tests/conformance: {} scenarios, expected at least 75",
        v.len()
    );
    v
}

/// Why this machine cannot run kernel tests, if it cannot.
fn cannot() -> Option<String> {
    match std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() {
        Some("1") | Some("require") => {}
        _ => return Some("FOLIOLAB_KERNEL_TESTS not set (set it to 1 or require)".into()),
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for d in ["hugepages-64kB", "hugepages-2048kB"] {
        if !Path::new(THP).join(d).exists() {
            return Some(format!("no THP size {d}"));
        }
    }
    if !Path::new("/dev/zram0").exists() {
        return Some("no /dev/zram0".into());
    }
    None
}

/// Every THP knob, the active swaps and zram0's size.
fn host_state() -> Vec<String> {
    let mut v = Vec::new();
    for k in foliolab_probe::host::knob_names() {
        let val = foliolab_probe::sys::read_knob(Path::new(THP).join(&k))
            .unwrap_or_else(|e| e.to_string());
        v.push(format!("{k}={val}"));
    }
    v.push(format!("swaps={:?}", foliolab_probe::host::active_swaps()));
    v.push(format!(
        "zram0.disksize={}",
        std::fs::read_to_string("/sys/block/zram0/disksize")
            .unwrap_or_default()
            .trim()
    ));
    v
}

fn diff(a: &[String], b: &[String]) -> String {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("{x} -> {y}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn run_tool(args: &[&str]) -> Result<(i32, String), String> {
    let out = Command::new(RUN)
        .args(args)
        .env("FOLIOLAB_PROBE_HELPER", HELPER)
        .output()
        .map_err(|e| format!("start {RUN}: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Scenario lines without the runner-specific summary label.
fn records(stdout: &str) -> Vec<String> {
    stdout.lines().map(String::from).collect()
}

fn test_corpus() -> Result<(), String> {
    let files = corpus();
    if files.len() < 30 {
        return Err(format!(
            "only {} scenarios in tests/conformance",
            files.len()
        ));
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(names.iter().map(String::as_str));
    let mut first: Option<Vec<String>> = None;
    for run in 1..=5 {
        let (code, out) = run_tool(&args)?;
        let recs = records(&out);
        if code != 0 {
            let bad: Vec<&String> = recs
                .iter()
                .filter(|l| {
                    l.contains("\"result\":\"fail\"")
                        || l.contains("problem")
                        || l.contains("\"exit\":2")
                        || l.contains("\"exit\":1")
                })
                .take(10)
                .collect();
            return Err(format!("run {run}: exit {code}: {bad:?}"));
        }
        match &first {
            None => first = Some(recs),
            Some(f) if *f != recs => {
                let d: Vec<String> = f
                    .iter()
                    .zip(&recs)
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .map(|(a, b)| format!("\n  run 1: {a}\n  run {run}: {b}"))
                    .collect();
                return Err(format!("run {run} differs from run 1:{}", d.join("")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn safety_scenario() -> PathBuf {
    corpus_dir().join("swap-pageout-64k.scn")
}

fn test_normal_end() -> Result<(), String> {
    let before = host_state();
    let s = safety_scenario();
    let (code, out) = run_tool(&[s.to_str().unwrap_or("")])?;
    if code != 0 {
        return Err(format!("exit {code}: {out}"));
    }
    let after = host_state();
    if before != after {
        return Err(format!("host changed: {}", diff(&before, &after)));
    }
    Ok(())
}

/// Starts a probe that holds its state (swap on, knobs set) and waits until it says so.
fn start_holding() -> Result<std::process::Child, String> {
    let s = safety_scenario();
    let mut child = Command::new(RUN)
        .args(["--hold-ms", "60000", s.to_str().unwrap_or("")])
        .env("FOLIOLAB_PROBE_HELPER", HELPER)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let t = Instant::now();
    let mut r = std::io::BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if std::io::BufRead::read_line(&mut r, &mut line).map_err(|e| e.to_string())? == 0 {
            return Err("probe ended before holding".into());
        }
        if line.trim() == "holding" {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err("probe did not reach holding".into());
        }
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = std::io::Read::read_to_string(&mut r, &mut sink);
    });
    Ok(child)
}

fn test_sigterm() -> Result<(), String> {
    let before = host_state();
    let mut child = start_holding()?;
    let during = host_state();
    // SAFETY: signalling our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().map_err(|e| e.to_string())?;
    let after = host_state();
    if before != after {
        return Err(format!(
            "host changed after SIGTERM ({st:?}): {}",
            diff(&before, &after)
        ));
    }
    if before == during {
        return Err("the probe changed nothing while holding: the test proves nothing".into());
    }
    Ok(())
}

fn sigkill_then(next: &[&str]) -> Result<(), String> {
    let before = host_state();
    let mut child = start_holding()?;
    // SAFETY: signalling our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    // The helpers see their pipes close and leave; give them a moment.
    std::thread::sleep(Duration::from_millis(300));
    let killed = host_state();
    if killed == before {
        return Err("host already equal after SIGKILL: the test proves nothing".into());
    }
    let (code, out) = run_tool(next)?;
    if code != 0 {
        return Err(format!("{next:?}: exit {code}: {out}"));
    }
    let after = host_state();
    if before != after {
        return Err(format!("host changed: {}", diff(&before, &after)));
    }
    Ok(())
}

fn test_sigkill_next_start() -> Result<(), String> {
    let s = corpus_dir().join("first-touch-4k.scn");
    let s = s.to_str().unwrap_or("").to_string();
    sigkill_then(&[&s])
}

fn test_sigkill_restore() -> Result<(), String> {
    sigkill_then(&["--restore"])
}

fn main() {
    let tests: Vec<(&str, TestFn)> = vec![
        ("host_restored_normal_end", test_normal_end),
        ("host_restored_sigterm", test_sigterm),
        ("host_restored_sigkill_next_start", test_sigkill_next_start),
        ("host_restored_sigkill_restore", test_sigkill_restore),
        ("corpus_passes_five_identical_runs", test_corpus),
    ];
    let require = std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() == Some("require");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let why = cannot();
    println!("\nrunning {} kernel tests", tests.len());
    for (name, f) in tests {
        if filter
            .as_ref()
            .is_some_and(|flt| !name.contains(flt.as_str()))
        {
            continue;
        }
        if let Some(w) = &why {
            if require {
                println!("test {name} ... FAILED (required, but cannot run: {w})");
                fail += 1;
            } else {
                println!("test {name} ... skipped: {w}");
                skip += 1;
            }
            continue;
        }
        let t = Instant::now();
        match f() {
            Ok(()) => {
                println!("test {name} ... ok ({:.1}s)", t.elapsed().as_secs_f64());
                pass += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                fail += 1;
            }
        }
    }
    println!("\nkernel tests: {pass} passed, {fail} failed, {skip} skipped");
    println!(
        "test result: {}. {pass} passed; {fail} failed; 0 ignored; 0 measured; {skip} filtered out",
        if fail == 0 { "ok" } else { "FAILED" }
    );
    std::process::exit(if fail == 0 { 0 } else { 1 });
}
