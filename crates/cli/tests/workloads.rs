//! The recorded workload corpus (tests/workloads, docs/workloads.md): at least five
//! workloads, each at least 100,000 statements, each loads from its compressed form and runs
//! on the model (`foliolab run --no-check`; the per-statement checks of a whole workload are
//! too slow for CI, see docs/workloads.md).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/workloads");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".scn.gz"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_workload_is_large_and_runs_on_the_model() {
    let files = corpus();
    assert!(
        files.len() >= 5,
        "only {} workloads in tests/workloads",
        files.len()
    );
    for f in &files {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(f).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let statements = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert!(
            statements >= 100_000,
            "{}: {statements} statements",
            f.display()
        );
        assert!(text.starts_with("scenario 2\n"), "{}", f.display());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .args(["run", "--no-check", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("; exit 0").count(), files.len(), "{stdout}");
}
