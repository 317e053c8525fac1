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
    let own = format!("tests/eras/{era}");
    let folders = FOLDERS
        .iter()
        .map(|f| f.to_string())
        .chain(root().join(&own).is_dir().then_some(own));
    for folder in folders {
        let folder = folder.as_str();
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

/// `foliolab check --kernel ERA --records docs/kernel-measurements/RECORDS FILES`: stdout.
fn check_records(era: &str, records: &str, files: &[String]) -> String {
    let dir = format!("docs/kernel-measurements/{records}");
    let out = Command::new(FOLIOLAB)
        .current_dir(root())
        .args(["check", "--kernel", era, "--records", &dir])
        .args(files)
        .output()
        .expect("run foliolab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("judged against the {era} era")),
        "{stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the check and returns (scenarios compared, unsupported, lines with differences).
fn check(era: &str) -> (usize, usize, Vec<String>) {
    let files = recorded(era);
    assert!(
        files.len() >= 95,
        "only {} scenarios have {era} records",
        files.len()
    );
    let stdout = check_records(era, era, &files);
    let own = format!("tests/eras/{era}/");
    let mut compared = BTreeSet::new();
    let mut unsupported = BTreeSet::new();
    let mut failing = BTreeSet::new();
    let mut bad = Vec::new();
    for l in stdout.lines() {
        let name = l.split(':').next().unwrap_or_default().to_string();
        // An era's own scenarios describe its kernel: they pass on both.
        let own_fails = name.starts_with(&own) && !l.ends_with("model exit 0, kernel exit 0");
        if l.contains(": 0 differences;") && !own_fails {
            compared.insert(name);
        } else if l.contains(": unsupported: ") {
            unsupported.insert(name);
        } else if l.contains(" differences;") || l.contains(": error:") {
            failing.insert(name);
            bad.push(l.to_string());
        }
    }
    assert_eq!(
        compared.len() + unsupported.len() + failing.len(),
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

/// The check is not blind: the 7.2 era against 6.12's records differs where 6.12 copies.
#[test]
fn an_era_judged_by_another_kernels_records_differs() {
    let files = ["tests/eras/6.12/cow-no-large-reuse-64k.scn".to_string()];
    assert!(check_records("6.12", "6.12", &files).contains(": 0 differences;"));
    let wrong = check_records("7.2", "6.12", &files);
    assert!(
        !wrong.contains(": 0 differences;") && wrong.contains(" differences;"),
        "{wrong}"
    );
}
