//! Era conformance without a VM: each era model (5.10, 6.1, 6.12, 7.2) is judged by its
//! kernel's committed records (docs/kernel-measurements/<K>/, saved by `foliolab probe
//! --kernel K --save`), through `foliolab check --kernel K --records DIR`, over every
//! repository scenario that has a record (it ran, a `.jsonl`, or was unsupported on that
//! kernel, a `.unsupported`). The counters compared are those the kernel showed (`counters =`
//! of its facts.txt). Any difference fails, but for the scenarios [`KNOWN_DIFFERENCES`]
//! lists with their reasons; a listed scenario that stops differing fails too, so the list
//! only shrinks. A change to the model that breaks an era shows here, in a normal `cargo
//! test`, in seconds.

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

/// (era, scenario) pairs the era's model does not match yet, each with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The era folders below tests/eras (`tests/eras/6.1`, ...), sorted.
fn era_folders() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tests/eras"))
        .expect("tests/eras")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("tests/eras/{}", e.file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

/// The scenarios of the repository folders and of every tests/eras folder that the era's
/// records cover (an era's kernel may also have run another era's scenarios: 5.10 those of
/// 6.1, which describe both), and how many of them ran on the kernel (have a `.jsonl`).
fn recorded(era: &str) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut ran = 0;
    let folders = FOLDERS.iter().map(|f| f.to_string()).chain(era_folders());
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
            let has = |ext: &str| root().join(format!("{rec}.{ext}")).is_file();
            if has("jsonl") || has("unsupported") {
                out.push(format!("{folder}/{n}"));
                ran += usize::from(has("jsonl"));
            }
        }
    }
    (out, ran)
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

/// One verdict per scenario of a check's output.
#[derive(Default)]
struct Verdicts {
    compared: BTreeSet<String>,
    unsupported: BTreeSet<String>,
    failing: BTreeSet<String>,
    /// The lines that say how the failing ones differ.
    bad: Vec<String>,
}

/// Sorts the check's output lines of `era` into verdicts.
fn verdicts(era: &str, stdout: &str) -> Verdicts {
    let own = format!("tests/eras/{era}/");
    let mut v = Verdicts::default();
    for l in stdout.lines() {
        let name = l.split(':').next().unwrap_or_default().to_string();
        // An era's own scenarios describe its kernel: they pass on both.
        let own_fails = name.starts_with(&own) && !l.ends_with("model exit 0, kernel exit 0");
        if l.contains(": 0 differences;") && !own_fails {
            v.compared.insert(name);
        } else if l.contains(": unsupported: ") {
            v.unsupported.insert(name);
        } else if l.contains(" differences;") || l.contains(": error:") {
            v.failing.insert(name);
            v.bad.push(l.to_string());
        }
    }
    v
}

/// The era's model against its kernel's records: at least `at_least_recorded` scenarios
/// with records, `at_least_ran` of them run on the kernel; every one gets one verdict, and
/// none differs but those [`KNOWN_DIFFERENCES`] lists (which all still differ).
fn conforms(era: &str, at_least_recorded: usize, at_least_ran: usize) {
    let (files, ran) = recorded(era);
    assert!(
        files.len() >= at_least_recorded,
        "only {} scenarios have {era} records",
        files.len()
    );
    assert!(ran >= at_least_ran, "only {ran} scenarios ran on {era}");
    let stdout = check_records(era, era, &files);
    let v = verdicts(era, &stdout);
    assert_eq!(
        v.compared.len() + v.unsupported.len() + v.failing.len(),
        files.len(),
        "every scenario gets one verdict:\n{stdout}"
    );
    let known: BTreeSet<&str> = KNOWN_DIFFERENCES
        .iter()
        .filter(|(e, _, _)| *e == era)
        .map(|(_, s, _)| *s)
        .collect();
    let bad: Vec<&String> = v
        .bad
        .iter()
        .filter(|l| !known.iter().any(|k| l.starts_with(&format!("{k}:"))))
        .collect();
    eprintln!(
        "{era}: {} scenarios with 0 differences, {} unsupported",
        v.compared.len(),
        v.unsupported.len()
    );
    assert!(
        bad.is_empty(),
        "the {era} era differs from its kernel's records (foliolab check --kernel {era} --records docs/kernel-measurements/{era} FILE):\n{}",
        bad.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
    );
    let fixed: Vec<&&str> = known.iter().filter(|k| !v.failing.contains(**k)).collect();
    assert!(
        fixed.is_empty(),
        "no longer different on {era}, remove from KNOWN_DIFFERENCES: {fixed:?}"
    );
}

#[test]
fn era_7_2_conforms_to_its_kernel_records() {
    conforms("7.2", 95, 95);
}

#[test]
fn era_6_12_conforms_to_its_kernel_records() {
    conforms("6.12", 95, 95);
}

#[test]
fn era_6_1_conforms_to_its_kernel_records() {
    conforms("6.1", 95, 44);
}

#[test]
fn era_5_10_conforms_to_its_kernel_records() {
    conforms("5.10", 95, 41);
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
