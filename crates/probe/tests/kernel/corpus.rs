//! The conformance corpus on the kernel, and the COW-pin scenarios of issue 10.

use crate::lab::*;
use std::path::{Path, PathBuf};

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

pub fn five_identical_runs() -> TestResult {
    let files = corpus()?;
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(names.iter().map(String::as_str));
    let mut first: Option<Vec<String>> = None;
    for n in 1..=5 {
        let r = run(&args)?;
        if r.code != Some(0) {
            return Err(format!(
                "run {n}: exit {:?}: {:?} {}",
                r.code,
                bad_lines(&r.out),
                r.err
            ));
        }
        let recs: Vec<String> = r.out.lines().map(String::from).collect();
        match &first {
            None => first = Some(recs),
            Some(f) if *f != recs => {
                let d: Vec<String> = f
                    .iter()
                    .zip(&recs)
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .map(|(a, b)| format!("\n  run 1: {a}\n  run {n}: {b}"))
                    .collect();
                return Err(format!("run {n} differs from run 1:{}", d.join("")));
            }
            Some(_) => {}
        }
    }
    Ok(format!("{} scenarios", files.len()))
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
