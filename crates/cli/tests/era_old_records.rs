//! The 5.10 and 6.1 era models judged by their kernels' committed records, without a VM:
//! every scenario of the repository folders that ran on the kernel (a `.jsonl` under
//! docs/kernel-measurements/<K>/, saved by `foliolab probe --kernel K --save`) runs on the
//! model under `Era::LINUX_6_1` / `Era::LINUX_5_10`, and any difference from the kernel's
//! records fails (the counters compared are those the kernel showed, `counters = ` of its
//! facts.txt, as `check --kernel K` does). 5.10 lists the scenarios it still differs on,
//! each with its reason; a listed scenario that stops differing fails too, so the list only
//! shrinks.

use foliolab_driver::diff::diff_runs;
use foliolab_driver::{drive, Record};
use foliolab_model::Era;
use foliolab_probe::vm::records::parse_record;
use foliolab_scenario::{parse, validate};
use foliolab_sim::ModelRunner;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FOLDERS: [&str; 4] = [
    "tests/conformance",
    "tests/traces",
    "tests/regressions",
    "tests/compare",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (scenario, records) of every repository scenario that ran on kernel `k`.
fn recorded(k: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let dir = root().join("docs/kernel-measurements").join(k).join(folder);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        names.sort();
        for n in names {
            let scn = format!("{folder}/{}.scn", n.trim_end_matches(".jsonl"));
            if root().join(&scn).is_file() {
                let text = std::fs::read_to_string(dir.join(&n)).unwrap();
                out.push((scn, text));
            }
        }
    }
    out
}

/// The counters kernel `k` shows (`counters = ...` of its facts.txt).
fn shown(k: &str) -> BTreeSet<String> {
    let facts = root()
        .join("docs/kernel-measurements")
        .join(k)
        .join("facts.txt");
    let text = std::fs::read_to_string(&facts).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("counters = "))
        .expect("facts.txt has a counters line")
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The differences between the era model's run of `scn` and the kernel's records.
fn differences(era: Era, scn: &str, kernel: &str, counters: &BTreeSet<String>) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(scn)).unwrap();
    let s = parse(scn, &text).unwrap_or_else(|e| panic!("{e}"));
    validate(&s).unwrap_or_else(|e| panic!("{e}"));
    let scheme = foliolab_schemes::by_name(era.design).unwrap();
    let mut model = ModelRunner::with_era(era, scheme);
    let mut left = Vec::new();
    drive(&s, &mut model, &mut |r: &Record| left.push(r.clone()));
    for r in &mut left {
        if let Record::Stats(st) = r {
            st.counters.retain(|k, _| counters.contains(k));
        }
    }
    let right: Vec<Record> = kernel
        .lines()
        .map(|l| parse_record(l).unwrap_or_else(|e| panic!("{scn}: {e}")))
        .collect();
    diff_runs(&left, &right)
        .iter()
        .map(|d| format!("{scn}: {}", d.human()))
        .collect()
}

/// Runs every recorded scenario; returns (compared, the scenarios that differ with their
/// differences).
fn judge(k: &str, era: Era) -> (usize, Vec<(String, Vec<String>)>) {
    let counters = shown(k);
    let runs = recorded(k);
    let mut bad = Vec::new();
    for (scn, kernel) in &runs {
        let d = differences(era, scn, kernel, &counters);
        if !d.is_empty() {
            bad.push((scn.clone(), d));
        }
    }
    (runs.len(), bad)
}

#[test]
fn linux_6_1_model_matches_the_6_1_kernel_records() {
    let (n, bad) = judge("6.1", Era::LINUX_6_1);
    assert!(n >= 44, "only {n} scenarios ran on 6.1");
    let text: Vec<String> = bad.into_iter().flat_map(|(_, d)| d).collect();
    assert!(text.is_empty(), "{}", text.join("\n"));
}

/// 5.10 scenarios the model does not match yet, each with the reason.
const DIFFERS_5_10: &[(&str, &str)] = &[];

#[test]
fn linux_5_10_model_matches_the_5_10_kernel_records() {
    let (n, bad) = judge("5.10", Era::LINUX_5_10);
    assert!(n >= 41, "only {n} scenarios ran on 5.10");
    let known: BTreeSet<&str> = DIFFERS_5_10.iter().map(|(s, _)| *s).collect();
    let differing: BTreeSet<&str> = bad.iter().map(|(s, _)| s.as_str()).collect();
    let text: Vec<String> = bad
        .iter()
        .filter(|(s, _)| !known.contains(s.as_str()))
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert!(text.is_empty(), "{}", text.join("\n"));
    let fixed: Vec<&&str> = known.difference(&differing).collect();
    assert!(
        fixed.is_empty(),
        "no longer different on 5.10, remove from DIFFERS_5_10: {fixed:?}"
    );
}
