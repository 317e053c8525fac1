//! `--json` a script can trust (issue 16 item 2): every line of `run`, `probe`, `check`,
//! `compare` and `bench` with `--json` is one record of docs/foliolab-output.schema.json
//! (schema version 1), with `file`, typed values and errors as records.

mod support;

use foliolab_testkit::{relative, scenarios_below};
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::schema::Schema;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Exit status and stdout of `foliolab ARGS` (run from the repository root).
fn run(args: &[&str], stdin: &[u8]) -> (i32, String) {
    let (code, stdout, _) = support::run_in(&root(), args, stdin);
    (code, stdout)
}

/// Validates every line; returns them parsed.
fn records(schema: &Schema, stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            assert!(!l.starts_with('#'), "a comment line under --json: {l}");
            schema.assert_line(l);
            serde_json::from_str(l).unwrap()
        })
        .collect()
}

/// The scenario files of `dir` (relative to the repository root), at least `at_least`.
fn scenarios(dir: &str, at_least: usize) -> Vec<String> {
    scenarios_below(&[dir], at_least)
        .iter()
        .map(|p| relative(p))
        .collect()
}

#[test]
fn every_record_of_the_repository_scenarios_fits_the_schema() {
    let schema = Schema::load();
    let dirs = [
        ("examples", 11),
        ("tests/conformance", 80),
        ("tests/traces", 5),
        ("tests/regressions", 5),
        ("tests/compare", 12),
        ("tests/invalid", 4),
        ("tests/model", 10),
        ("tests/language", 1),
    ];
    let mut kinds = std::collections::BTreeMap::new();
    for (dir, at_least) in dirs {
        let files = scenarios(dir, at_least);
        let mut args = vec!["run", "--json"];
        args.extend(files.iter().map(String::as_str));
        let (_, out) = run(&args, b"");
        let recs = records(&schema, &out);
        for f in &files {
            assert!(
                recs.iter().any(|r| r["file"] == f.as_str()),
                "{f}: no record names it"
            );
        }
        for r in recs {
            *kinds
                .entry(r["kind"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    for kind in ["page", "smaps", "stats", "expect", "summary", "error"] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n > 0),
            "no {kind} record: {kinds:?}"
        );
    }
}

#[test]
fn expectations_carry_typed_values() {
    let schema = Schema::load();
    let text = "scenario 1\nthp 64K=always\nspawn p\np: map a 128K align=64K\np: write a 0x1\n\
                p: expect a order == 4\np: expect a[0..8K] exclusive\np: expect a == 0x2\n\
                p: expect faults == 2\n";
    let (code, out) = run(&["run", "--json", "-"], text.as_bytes());
    assert_eq!(code, 1, "{out}");
    let recs = records(&schema, &out);
    let expects: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "expect").collect();
    assert_eq!(expects.len(), 4, "{out}");
    assert_eq!(expects[0]["expected_value"], 4);
    assert_eq!(
        expects[0]["observed_value"],
        serde_json::json!([{"start": 0, "end": 131072, "value": 4}])
    );
    assert_eq!(expects[1]["observed_value"][0]["value"], "exclusive");
    assert_eq!(expects[2]["result"], "fail");
    assert_eq!(expects[2]["expected_value"], 2);
    assert_eq!(expects[2]["observed_value"][0]["value"], 1);
    assert_eq!(expects[3]["expected_value"], 2);
    assert!(expects[3]["observed_value"].is_u64(), "{}", expects[3]);
    assert!(recs.iter().all(|r| r["file"] == "<stdin>"));
}

#[test]
fn errors_are_records_under_json() {
    let schema = Schema::load();
    let (code, out) = run(
        &["run", "--json", "-"],
        b"scenario 1\nspawn p\np: frobnicate a\n",
    );
    assert_eq!(code, 2);
    let recs = records(&schema, &out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["kind"], "error");
    assert_eq!(
        (recs[0]["line"].as_u64(), recs[0]["column"].as_u64()),
        (Some(3), Some(4))
    );
    let (code, out) = run(&["run", "--json", "/nonexistent.scn"], b"");
    assert_eq!(code, 2);
    let recs = records(&schema, &out);
    assert_eq!(recs[0]["file"], "/nonexistent.scn");
    // probe and check refuse an invalid file before touching the host (no root needed).
    for cmd in ["probe", "check"] {
        let (code, out) = run(&[cmd, "--json", "-"], b"scenario 1\nfrob\n");
        assert_eq!(code, 2, "{cmd}: {out}");
        let recs = records(&schema, &out);
        assert_eq!(recs.len(), 1, "{cmd}: {out}");
        assert_eq!(recs[0]["kind"], "error", "{cmd}");
    }
}

#[test]
fn compare_and_bench_records_fit_the_schema() {
    let schema = Schema::load();
    let (code, out) = run(&["compare", "--json", "examples/fork-cow-64k.scn"], b"");
    assert_eq!(code, 0, "{out}");
    let recs = records(&schema, &out);
    assert_eq!(recs.len(), 1);
    assert!(recs[0]["schemes"].as_array().is_some_and(|s| s.len() >= 10));
    let (code, out) = run(&["compare", "--json", "-"], b"scenario 1\nfrob\n");
    assert_eq!(code, 2);
    assert_eq!(records(&schema, &out)[0]["kind"], "error");
    let (code, out) = run(&["compare", "--costs", "--json"], b"");
    assert_eq!(code, 0, "{out}");
    let recs = records(&schema, &out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["kind"], "costs");
    assert!(recs[0]["file"].is_null());
    assert_eq!(recs[0]["sizes"].as_array().map(Vec::len), Some(9), "{out}");
    let args = [
        "bench",
        "--json",
        "--no-kernel",
        "--mib",
        "4",
        "--runs",
        "1",
    ];
    let (code, out) = run(&args, b"");
    assert_eq!(code, 0, "{out}");
    let recs = records(&schema, &out);
    assert_eq!(recs.len(), 1, "{out}");
    assert_eq!(recs[0]["rows"].as_array().map(Vec::len), Some(9), "{out}");
}

/// With FOLIOLAB_KERNEL_TESTS=1 (root): what the kernel gives fits too.
#[test]
fn probe_and_check_records_on_this_kernel_fit_the_schema() {
    if std::env::var("FOLIOLAB_KERNEL_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: FOLIOLAB_KERNEL_TESTS is not 1 (probe and check need the kernel)");
        return;
    }
    let schema = Schema::load();
    for cmd in ["probe", "check"] {
        let (code, out) = run(&[cmd, "--json", "examples/fork-cow-64k.scn"], b"");
        let recs = records(&schema, &out);
        assert!(!recs.is_empty(), "{cmd}: exit {code}, no records");
        let last = &recs[recs.len() - 1];
        assert!(
            last["kind"] == "summary" || last["kind"] == "check",
            "{cmd}: {last}"
        );
    }
}
