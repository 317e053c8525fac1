//! Era conformance without a VM: each era model is judged by its kernel's committed records
//! (docs/kernel-measurements/<K>/, saved by `foliolab probe --kernel K --save`), through
//! `foliolab check --kernel K --records DIR`, over every repository scenario that has a
//! record. Any difference fails: a change to the model that breaks an era shows here, in a
//! normal `cargo test`, in seconds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const FOLIOLAB: &str = env!("CARGO_BIN_EXE_foliolab");
const FOLDERS: [&str; 4] = [
    "tests/conformance",
    "tests/traces",
    "tests/regressions",
    "tests/compare",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every scenario of the repository folders that the era's records cover (ran, or
/// unsupported on that kernel).
fn recorded(era: &str) -> Vec<String> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let mut names: Vec<String> = std::fs::read_dir(root().join(folder))
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".scn"))
            .collect();
        names.sort();
        for n in names {
            let stem = n.trim_end_matches(".scn");
            let rec = format!("docs/kernel-measurements/{era}/{folder}/{stem}");
            if ["jsonl", "unsupported"]
                .iter()
                .any(|ext| root().join(format!("{rec}.{ext}")).is_file())
            {
                out.push(format!("{folder}/{n}"));
            }
        }
    }
    out
}

/// Runs the check and returns (scenarios compared, unsupported, lines with differences).
fn check(era: &str) -> (usize, usize, Vec<String>) {
    let files = recorded(era);
    assert!(
        files.len() >= 95,
        "only {} scenarios have {era} records",
        files.len()
    );
    let dir = format!("docs/kernel-measurements/{era}");
    let out = Command::new(FOLIOLAB)
        .current_dir(root())
        .args(["check", "--kernel", era, "--records", &dir])
        .args(&files)
        .output()
        .expect("run foliolab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("judged against the {era} era")),
        "{stderr}"
    );
    let mut compared = BTreeSet::new();
    let mut unsupported = BTreeSet::new();
    let mut bad = Vec::new();
    for l in stdout.lines() {
        let name = l.split(':').next().unwrap_or_default().to_string();
        if l.contains(": 0 differences;") {
            compared.insert(name);
        } else if l.contains(": unsupported: ") {
            unsupported.insert(name);
        } else if l.contains(" differences;") || l.contains(": error:") {
            bad.push(l.to_string());
        }
    }
    assert_eq!(
        compared.len() + unsupported.len() + bad.len(),
        files.len(),
        "every scenario gets one verdict:\n{stdout}"
    );
    (compared.len(), unsupported.len(), bad)
}

fn conforms(era: &str) {
    let (compared, unsupported, bad) = check(era);
    eprintln!("{era}: {compared} scenarios with 0 differences, {unsupported} unsupported");
    assert!(
        bad.is_empty(),
        "the {era} era differs from its kernel's records (foliolab check --kernel {era} --records docs/kernel-measurements/{era} FILE):\n{}",
        bad.join("\n")
    );
}

#[test]
fn era_7_2_conforms_to_its_kernel_records() {
    conforms("7.2");
}

#[test]
fn era_6_12_conforms_to_its_kernel_records() {
    conforms("6.12");
}
