//! The conformance corpus on the kernel, and the COW-pin scenarios of issue 10.

use crate::lab::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// At least this many scenarios must be in tests/conformance.
const MIN_CORPUS: usize = 78;

fn corpus() -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance");
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    v.sort();
    if v.len() < MIN_CORPUS {
        return Err(format!(
            "only {} scenarios in {} (expected {MIN_CORPUS} or more)",
            v.len(),
            dir.display()
        ));
    }
    Ok(v)
}

fn bad_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            l.contains("\"result\":\"fail\"")
                || l.contains("\"kind\":\"problem\"")
                || l.contains("\"exit\":2")
                || l.contains("\"exit\":1")
        })
        .take(10)
        .collect()
}

/// The lines where two runs' records differ.
fn differences(a: &[String], b: &[String]) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.clone(), y.clone()))
        .collect();
    if a.len() != b.len() {
        d.push((
            format!("{} records", a.len()),
            format!("{} records", b.len()),
        ));
    }
    d
}

/// Host-wide counters only (`stats` records): other processes on the host move them.
fn counters_only(d: &[(String, String)]) -> bool {
    !d.is_empty()
        && d.iter()
            .all(|(a, b)| a.contains("\"kind\":\"stats\"") && b.contains("\"kind\":\"stats\""))
}

/// One run of the corpus: its records, or why it failed.
fn corpus_run(args: &[&str], n: u32) -> Result<Vec<String>, String> {
    let r = run(args)?;
    if r.code != Some(0) {
        return Err(format!(
            "run {n}: exit {:?}: {:?} {}",
            r.code,
            bad_lines(&r.out),
            r.err
        ));
    }
    Ok(r.out.lines().map(String::from).collect())
}

/// Five runs with identical records. When a run differs from the first in host-wide
/// counters only, either of the two may be the one another process disturbed: they are run
/// again in turn (at most 4 times per run, once the host's THP counters stand still), and the
/// repeats are counted in the result.
pub fn five_identical_runs() -> TestResult {
    let files = corpus()?;
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(names.iter().map(String::as_str));
    let mut first = corpus_run(&args, 1)?;
    let mut repeats = 0;
    for n in 2..=5 {
        let mut current = corpus_run(&args, n)?;
        let mut d = differences(&first, &current);
        for attempt in 0..4 {
            if !counters_only(&d) {
                break;
            }
            repeats += 1;
            foliolab_probe::readers::wait_for_quiet_thp_counters(
                Duration::from_secs(2),
                Duration::from_secs(60),
            );
            if attempt % 2 == 0 {
                current = corpus_run(&args, n)?;
            } else {
                first = corpus_run(&args, 1)?;
            }
            d = differences(&first, &current);
        }
        if !d.is_empty() {
            let shown: Vec<String> = d
                .iter()
                .take(3)
                .map(|(a, b)| format!("\n  run 1: {a}\n  run {n}: {b}"))
                .collect();
            return Err(format!("run {n} differs from run 1:{}", shown.join("")));
        }
    }
    Ok(format!(
        "{} scenarios; {repeats} runs repeated because other processes moved host-wide THP counters",
        files.len()
    ))
}

/// A rw longterm pin in a forked child copies the COW-shared pages: the frames change, the
/// probe must not call that a migration, and every expectation passes.
pub fn cow_pin_in_forked_child() -> TestResult {
    let files: Vec<String> = ["4k", "64k", "2m"]
        .iter()
        .map(|s| {
            conformance(&format!("pin-iouring-cow-child-{s}.scn"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["--json"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&args)?;
    if r.code != Some(0) || r.out.contains("migrated") || !bad_lines(&r.out).is_empty() {
        return Err(format!(
            "exit {:?}: {:?} {}",
            r.code,
            bad_lines(&r.out),
            r.err
        ));
    }
    let passes = r.out.matches("\"result\":\"pass\"").count();
    Ok(format!(
        "3 scenarios, {passes} expectations pass, no migration reported"
    ))
}

/// Khugepaged scans every mm on the host: while another process has collapsible memory,
/// the `khugepaged` statement's counters must still count only the scenario's collapses.
pub fn khugepaged_with_a_foreign_process() -> TestResult {
    let foreign = Foreign::start(64)?;
    let f = conformance("khugepaged-collapse-2m.scn")
        .display()
        .to_string();
    let r = run(&[&f])?;
    drop(foreign);
    if r.code != Some(0) {
        return Err(format!("{r:?}"));
    }
    match r.err.lines().find(|l| l.contains("also collapsed")) {
        Some(note) => Ok(note.to_string()),
        None => Err(format!(
            "khugepaged collapsed nothing of the foreign process during the statement: {r:?}"
        )),
    }
}
