//! `foliolab compare` end to end: the JSON schema of the issue, one row per scheme, and the
//! figures that must hold whatever the suite (exact agrees with the truth; the per-page
//! metadata designs cost about 2 KiB per 2 MiB folio, the MM_ID designs a constant).

use serde_json::Value;
use std::process::Command;

fn compare(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .arg("compare")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, out) = compare(args);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

const KEYS: [&str; 13] = [
    "name",
    "false_shared",
    "false_exclusive",
    "mapcount_errors",
    "partial_map_errors",
    "stats_errors",
    "leaks",
    "cow_copies",
    "cow_reuses",
    "splits",
    "atomic_rmw",
    "cachelines",
    "metadata_bytes_per_2m_folio",
];

fn row<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()
}

#[test]
fn json_last_line_has_the_issue_schema_for_every_scheme() {
    for mode in ["shadow", "drive"] {
        let v = json(&["--json", "--mode", mode]);
        assert_eq!(v["mode"], mode);
        let rows = v["schemes"].as_array().unwrap();
        assert_eq!(rows.len(), foliolab_schemes::DESIGNS.len());
        for r in rows {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            let mut want = KEYS.to_vec();
            want.sort_unstable();
            let mut got = keys.clone();
            got.sort_unstable();
            assert_eq!(got, want);
        }
        let e = row(&v, "exact");
        for k in [
            "false_shared",
            "false_exclusive",
            "mapcount_errors",
            "partial_map_errors",
            "stats_errors",
            "leaks",
        ] {
            assert_eq!(e[k], 0, "{mode}: exact {k}");
        }
    }
}

#[test]
fn built_in_suite_separates_the_designs() {
    let v = json(&["--json"]);
    let n = |s: &str, k: &str| row(&v, s)[k].as_u64().unwrap();
    assert!(n("linux-6.18", "false_shared") > 0, "sticky shared bit");
    assert!(
        n("linux-6.18-npm", "stats_errors") > 0,
        "whole-folio NR_ANON_MAPPED"
    );
    assert!(n("linux-6.14", "cow_reuses") < n("linux-6.18", "cow_reuses"));
    assert!(n("linux-6.18-npm", "metadata_bytes_per_2m_folio") < 64);
    assert!(n("linux-6.18", "metadata_bytes_per_2m_folio") > 2048);
    assert!(n("linux-6.1", "atomic_rmw") > 0);
}

#[test]
fn unknown_scheme_is_an_error_and_files_can_be_given() {
    let (code, _) = compare(&["--scheme", "linux-9.9"]);
    assert_eq!(code, 2);
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/compare/pte-fork.scn"
    );
    let v = json(&["--json", "--scheme", "linux-6.18", file]);
    assert_eq!(v["schemes"][0]["name"], "linux-6.18");
}

#[test]
fn human_output_has_a_summary_and_a_table_per_scheme() {
    let (code, out) = compare(&["--scheme", "linux-6.18", "--scheme", "rfc-2026"]);
    assert_eq!(code, 0);
    assert!(out.contains("shadow mode"));
    for name in ["linux-6.18", "rfc-2026"] {
        assert!(out.contains(&format!("== {name}")), "{out}");
    }
    assert_eq!(
        out.matches("  fork ").count(),
        2,
        "one cost table per scheme"
    );
    assert!(out.contains("2M 24 B"), "rfc-2026 keeps 24 bytes per folio");
}

/// `--kernel` applies the era's operations while `--scheme` picks the design: under
/// linux-6.18 the 6.18 era reuses a large folio the writer alone maps after the other process
/// exited, the 6.12 era copies all 16 pages (no large reuse before 6.15).
#[test]
fn the_kernel_picks_the_operations_and_the_scheme_the_design() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let file = format!("{root}/tests/eras/6.12/cow-no-large-reuse-64k.scn");
    let row = |kernel: &str| {
        let v = json(&[
            "--mode",
            "drive",
            "--scheme",
            "linux-6.18",
            "--kernel",
            kernel,
            "--json",
            &file,
        ]);
        let r = &v["schemes"][0];
        (
            r["cow_copies"].as_u64().unwrap(),
            r["cow_reuses"].as_u64().unwrap(),
        )
    };
    let (copies_618, reuses_618) = row("6.18");
    let (copies_612, reuses_612) = row("6.12");
    assert_eq!((copies_612, reuses_612), (16, 0));
    assert_eq!(copies_618, 0);
    assert!(reuses_618 >= 1, "{reuses_618}");
}
