//! The PMD-only compare suite (tests/compare-pmd: the built-in suite's scenarios with 2M
//! THPs only) exists so that eras without mTHP have compare figures: under `--kernel 6.1`
//! every one of its scenarios runs (the built-in suite's all use 16K/64K and are refused).
//! And `vma-count` is judged against "shared" (more than one MM): one process mapping a THP
//! through two VMAs makes it answer "shared", which compare tallies as false shared.

use foliolab_testkit::{relative, scenarios_below};
use serde_json::Value;
use std::process::Command;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compare(args: &[&str], files: &[String]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .current_dir(root())
        .arg("compare")
        .arg("--json")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn suite() -> Vec<String> {
    scenarios_below(&["tests/compare-pmd"], 12)
        .iter()
        .map(|p| relative(p))
        .collect()
}

fn design<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn every_pmd_scenario_runs_under_the_6_1_era() {
    let files = suite();
    assert_eq!(files.len(), 12, "{files:?}");
    let v = compare(&["--kernel", "6.1"], &files);
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 12);
    for s in scenarios {
        assert_eq!(s["unsupported"], false, "{}", s["file"]);
    }
    // 6.1 never reuses a large folio on COW: no design is asked.
    for name in ["linux-6.1", "linux-6.14"] {
        let d = design(&v, name);
        assert_eq!(d["cow_copies"], 0, "{name}");
        assert!(d["statements"].as_u64().unwrap() > 100, "{name}");
    }
}

#[test]
fn vma_count_says_shared_for_one_process_with_two_vmas() {
    // pte-remap protects the first page of the THP and restores it, twice: two statements
    // each with one MM mapping the folio through two VMAs.
    let v = compare(&[], &["tests/compare-pmd/pte-remap.scn".to_string()]);
    let vc = design(&v, "vma-count");
    let ms = &vc["by_site"]["maybe_shared"];
    assert_eq!(ms["false_shared"], 2, "{vc}");
    assert_eq!(ms["false_exclusive"], 0, "{vc}");
    assert_eq!(design(&v, "exact")["false_shared"], 0);
}
