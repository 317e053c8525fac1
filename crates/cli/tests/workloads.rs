//! The recorded workload corpus (tests/workloads, docs/workloads.md): at least five
//! workloads, each at least 100,000 statements, each loads from its compressed form and runs
//! on the model (`foliolab run --no-check`; the per-statement checks of a whole workload are
//! too slow for CI, see docs/workloads.md).

mod support;

use foliolab_testkit::{files_below, repo};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> Vec<PathBuf> {
    files_below(&repo().join("tests/workloads"), ".scn.gz")
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

/// Kernel test: recorded workloads replayed on the model and on this kernel (`foliolab
/// check --sample 500 --no-check`; redis-bgsave, python-pool, postgres-pgbench and zygote,
/// 5 to 12 seconds each, measured under load) agree at the end of every process and at
/// every sampled access, with no unexplained difference: what differs is classified by
/// `check` as a measurement artefact with its reason (docs/workloads.md, "Checking the
/// corpus against the kernel"). A sampled access the replay does not fault on fails alike
/// on both runners (postgres-pgbench: 6 of 232). make-kconfig (50 s) is left to the manual
/// runs of docs/workloads.md.
#[test]
fn recorded_workloads_agree_with_the_kernel() {
    if let Some(why) = support::cannot_run_kernel_tests() {
        if std::env::var("FOLIOLAB_KERNEL_TESTS").as_deref() == Ok("require") {
            panic!("workload kernel test cannot run: {why}");
        }
        eprintln!("workload kernel test SKIPPED: {why}");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/workloads");
    for name in ["redis-bgsave", "python-pool", "postgres-pgbench", "zygote"] {
        let file = dir.join(format!("{name}.scn.gz"));
        let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
            .args(["check", "--sample", "500", "--no-check"])
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}");
        let summary = stdout
            .lines()
            .find(|l| l.contains(" differences"))
            .expect("summary line");
        assert!(
            summary.contains(": 0 differences;") || summary.contains("(0 unexplained;"),
            "{name}: {summary}"
        );
        let unexplained: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(" != ") && !l.contains(" (artefact: "))
            .collect();
        assert!(unexplained.is_empty(), "{name}: {unexplained:?}");
        let sampled = stdout
            .lines()
            .find(|l| l.contains("sampled `expect faults == 1`"))
            .expect("sampled line");
        let n: Vec<u64> = sampled
            .rsplit("): ")
            .next()
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(n.len(), 4, "{sampled}");
        assert!(n[0] >= 200, "{name}: too few sampled accesses: {sampled}");
        assert_eq!((n[0], n[1]), (n[2], n[3]), "{name}: {sampled}");
        assert!(
            n[1] * 20 <= n[0],
            "{name}: too many failed samples: {sampled}"
        );
        assert!(stdout.contains("smaps VMA records"), "{stdout}");
    }
}
