//! Kernel test: `foliolab check` (model against kernel) on the conformance corpus, five runs
//! in a row. Runs only with `FOLIOLAB_KERNEL_TESTS=1` (or `=require`, which turns the skip
//! into a failure) as root; otherwise it reports itself skipped with the reason. Scenarios the
//! model cannot perform yet are listed one by one with the reason.

mod support;

use std::path::Path;
use std::process::Command;

fn cannot() -> Option<String> {
    support::cannot_run_kernel_tests().or_else(|| {
        let size = Path::new("/sys/kernel/mm/transparent_hugepage/hugepages-64kB");
        (!size.exists()).then(|| "no 64K mTHP size".into())
    })
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    assert!(
        v.len() >= 75,
        "tests/conformance: {} scenarios, expected at least 75",
        v.len()
    );
    v
}

fn check_corpus_five_runs() -> Result<String, String> {
    let files = corpus();
    let mut unsupported = Vec::new();
    for run in 1..=5 {
        let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
            .arg("check")
            .args(&files)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut checked = 0;
        for line in text.lines() {
            if line.contains(": unsupported: model: ") {
                if run == 1 {
                    unsupported.push(line.to_string());
                }
            } else if line.contains(" differences; ") {
                if !line.ends_with("0 differences; model exit 0, kernel exit 0") {
                    return Err(format!("run {run}: {line}\n{text}"));
                }
                checked += 1;
            } else if line.contains(": unsupported: kernel: ") || line.contains("!=") {
                return Err(format!("run {run}: {line}"));
            }
        }
        if checked == 0 {
            return Err(format!("run {run}: nothing checked\n{text}"));
        }
        if run == 5 {
            for u in &unsupported {
                println!("  not checked (the model cannot perform it yet): {u}");
            }
            let files: std::collections::BTreeSet<&str> = unsupported
                .iter()
                .filter_map(|u| u.split(": unsupported").next())
                .collect();
            return Ok(format!(
                "{checked} scenarios agree with the kernel in 5 runs; {} scenarios not checked",
                files.len()
            ));
        }
    }
    unreachable!()
}

/// A kernel run failed only by a counter is run again, up to four times, each retry said
/// on stderr, and its records are printed once; a wrong counter still fails in the end.
/// (`foliolab probe`; `recheck` in the CLI.)
fn counter_failures_are_retried_then_reported() -> Result<String, String> {
    let f = std::env::temp_dir().join(format!("foliolab-kc-wrongstat-{}.scn", std::process::id()));
    let text = "scenario 1\nthp 2M=madvise\nspawn p\np: map a 2M\np: advise a hugepage\np: write a 0x1\np: expect a pmd\nexpect stat thp_fault_alloc == 5\n";
    std::fs::write(&f, text).map_err(|e| e.to_string())?;
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .arg("probe")
        .arg(&f)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&f);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let retries = stderr.matches("running it again").count();
    let summaries = stdout.matches("kernel:").count();
    if out.status.code() != Some(1)
        || retries != 3
        || summaries != 1
        || !stdout.contains("FAIL  expect stat")
    {
        return Err(format!(
            "exit {:?}, {retries} retries, {summaries} summaries:\n{stdout}{stderr}",
            out.status.code()
        ));
    }
    Ok("3 retries said on stderr, one report, exit 1".into())
}

/// Every THP knob under the lock (no probe holds the host then, so they are the host's own).
fn knobs_at_rest() -> Result<Vec<(String, String)>, String> {
    use foliolab_probe::host::{knob_names, HostLock, LOCK_WAIT, THP_DIR};
    let _lock = HostLock::acquire(LOCK_WAIT).map_err(|e| e.to_string())?;
    knob_names()
        .into_iter()
        .map(|k| {
            let v = foliolab_probe::sys::read_knob(Path::new(THP_DIR).join(&k));
            v.map(|v| (k, v)).map_err(|e| e.to_string())
        })
        .collect()
}

/// `foliolab bench` as root measures the kernel live (nine figures and their ratios) and
/// leaves every THP knob as it found it.
fn bench_measures_the_kernel_and_restores_the_knobs() -> Result<String, String> {
    let before = knobs_at_rest()?;
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .args(["bench", "--mib", "64", "--runs", "1", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    let after = knobs_at_rest()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    if v["kernel_measured"] != true {
        return Err(format!("kernel not measured: {v}"));
    }
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    let measured = rows
        .iter()
        .filter(|r| r["kernel_ms"].as_f64().is_some_and(|ms| ms > 0.0) && r["ratio"].is_f64())
        .count();
    if measured != 9 {
        return Err(format!("{measured} of 9 kernel figures: {v}"));
    }
    if before != after {
        return Err(format!("knobs before {before:?}, after {after:?}"));
    }
    Ok(format!(
        "9 kernel figures, {} knobs as they were",
        after.len()
    ))
}

fn main() {
    let test = |name: &str, f: fn() -> Result<String, String>| -> support::KernelTest {
        (name.to_string(), Box::new(f))
    };
    let tests = [
        test("check_corpus_five_runs", check_corpus_five_runs),
        test(
            "bench_measures_the_kernel_and_restores_the_knobs",
            bench_measures_the_kernel_and_restores_the_knobs,
        ),
        test(
            "counter_failures_are_retried_then_reported",
            counter_failures_are_retried_then_reported,
        ),
    ];
    println!("\nrunning {} kernel tests", tests.len());
    let (pass, fail, skip) = support::run_kernel_tests(&tests, cannot);
    println!("\n{pass} passed, {fail} failed, {skip} skipped");
    if fail > 0 {
        std::process::exit(1);
    }
}
