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

const KEYS: [&str; 23] = [
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
    "tail_refcount_hazard",
    "statements",
    "by_site",
    "partial",
    "magnitudes",
    "pss_error_max_kib",
    "uss_error_max_kib",
    "anon_pages_error_max_kib",
    "stranded_max_kib",
    "cow_extra_copied_kib",
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

/// `compare` with `stdin` as the scenario (`-`): exit status, standard output.
fn compare_stdin(args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .arg("compare")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits before reading: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// One 64K folio (16 pages): p writes it, forks c; c unmaps the upper half, then p does.
/// Statements: the header, thp, spawn, map, write, fork, two unmaps = 8 observations.
const HALF: &str = "scenario 1\nthp 64K=always\nspawn p\np: map a 64K align=64K\n\
p: write a 0x1\np: fork c\nc: unmap a[32K..64K]\np: unmap a[32K..64K]\n";

/// The magnitudes of linux-6.18-npm on [`HALF`], computed by hand. It keeps no per-page
/// count: a page's mapcount is the average (L + N/2) >> log2(N) (L: all entries, N = 16),
/// a page is exclusive iff the folio is not maybe-shared, NR_ANON_MAPPED counts the whole
/// folio while any page is mapped, and "partially mapped" is L < N.
/// - after c's unmap: pages 0-7 mapped twice, 8-15 once, L = 24, average 2. PSS of pages
///   8-15 is half a page each instead of one: 8 x 2 KiB = 16 KiB. Both MMs map the folio,
///   so no page is exclusive: pages 8-15 (mapped once) are missing from USS, 32 KiB.
/// - after p's unmap: pages 0-7 mapped twice, 8-15 not at all, L = 16, average 1: each of
///   the 16 mappings is charged a whole page, 8 pages too many: PSS 32 KiB. NR_ANON_MAPPED
///   says 16 pages, 8 are mapped: 32 KiB. L = N is not < N: the partially mapped folio is
///   never flagged, its 8 unmapped pages (32 KiB) stranded. USS is right (all shared).
///
/// Over 8 statements: PSS max 32, sum 48, mean 6 KiB; USS, AnonPages and stranded max 32,
/// sum 32, mean 4 KiB.
#[test]
fn magnitudes_match_the_hand_computation() {
    let (code, out) = compare_stdin(
        &["--json", "--scheme", "linux-6.18-npm", "--scheme", "exact"],
        HALF,
    );
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let sc = &v["scenarios"][0];
    assert_eq!(sc["file"], "<stdin>");
    let npm = &sc["schemes"][0];
    assert_eq!(npm["name"], "linux-6.18-npm");
    assert_eq!(npm["statements"], 8);
    let m = &npm["magnitudes"];
    let f = |k: &str, f: &str| m[k][f].as_f64().unwrap();
    assert_eq!(
        (f("pss", "max_kib"), f("pss", "kib_x_statements")),
        (32.0, 48.0)
    );
    assert_eq!(f("pss", "mean_kib"), 6.0);
    assert_eq!(f("pss", "max_pages"), 8.0);
    for k in ["uss", "anon_pages", "stranded"] {
        assert_eq!(f(k, "max_kib"), 32.0, "{k}");
        assert_eq!(f(k, "kib_x_statements"), 32.0, "{k}");
        assert_eq!(f(k, "mean_kib"), 4.0, "{k}");
    }
    assert_eq!(npm["partial"]["missed"], 1);
    assert_eq!(
        npm["by_site"]["pagemap"]["false_shared"], 1,
        "pages 8-15 after c's unmap"
    );
    let exact = &sc["schemes"][1]["magnitudes"];
    for k in ["pss", "uss", "anon_pages", "stranded"] {
        assert_eq!(exact[k]["max_kib"], 0.0, "exact {k}");
    }
    assert_eq!(
        v["schemes"][0]["magnitudes"], *m,
        "one scenario: totals = the scenario"
    );
}

#[test]
fn explain_names_statement_and_folio_of_each_wrong_answer() {
    let (code, out) = compare_stdin(
        &[
            "--explain",
            "--scheme",
            "linux-6.18-npm",
            "--scheme",
            "exact",
        ],
        HALF,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("<stdin>:7: c: unmap a[32K..64K]\n      folio pfn 0x"),
        "{out}"
    );
    assert!(out.contains("order 4: kpagecount:"), "{out}");
    assert!(
        out.contains("<stdin>:8: p: unmap a[32K..64K]")
            && out.contains("deferred-split: partially mapped, not flagged"),
        "{out}"
    );
    assert!(out.contains("  exact: none"), "{out}");
    let (_, json) = compare_stdin(&["--json", "--explain", "--scheme", "linux-6.18-npm"], HALF);
    let v: Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    let wrong = v["scenarios"][0]["schemes"][0]["wrong"].as_array().unwrap();
    assert!(!wrong.is_empty());
    let first = &wrong[0];
    assert_eq!(first["line"], 7);
    assert_eq!(first["order"], 4);
    assert!(first["pfn"].as_u64().is_some() && first["site"].is_string());
}

#[test]
fn formats_table_markdown_json() {
    let args = ["--scheme", "linux-6.18-npm", "--scheme", "exact"];
    let (_, table) = compare_stdin(&[&args[..], &["--format", "table"]].concat(), HALF);
    assert!(
        table.contains("PSS KiB max / mean") && table.contains("== exact"),
        "{table}"
    );
    let (_, md) = compare_stdin(&[&args[..], &["--format", "markdown"]].concat(), HALF);
    assert!(md.contains("| design | PSS KiB max / mean |"), "{md}");
    assert!(
        md.contains("| `linux-6.18-npm` | 32 / 6 | 32 / 4 | 32 / 4 | 32 (32) |"),
        "{md}"
    );
    let (_, js) = compare_stdin(&[&args[..], &["--format", "json"]].concat(), HALF);
    let v: Value = serde_json::from_str(js.lines().last().unwrap()).unwrap();
    assert_eq!(v["compare_version"], 2);
    assert_eq!(v["kind"], "compare");
}

#[test]
fn a_failed_run_exits_1_and_is_in_the_json() {
    let bad = format!("{HALF}p: expect a[0..32K] mapcount == 7\n");
    let (code, out) = compare_stdin(&["--json", "--scheme", "exact"], &bad);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["exit"], 1);
    assert_eq!(v["failed"][0], "<stdin>");
    let f = &v["scenarios"][0]["failures"][0];
    assert_eq!(f["driver"], "linux-6.18");
    assert!(
        f["reasons"][0].as_str().unwrap().contains("<stdin>:9:"),
        "{f}"
    );
    let (code, out) = compare_stdin(&["--scheme", "exact"], &bad);
    assert_eq!(code, 1);
    assert!(out.contains("run failed: <stdin>"), "{out}");
    let (code, out) = compare_stdin(&["--json"], "scenario 1\nspawn\n");
    assert_eq!(code, 2, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["kind"], "error");
    assert!(v["message"].is_string());
}

#[test]
fn thp_knobs_replay_a_scenario_with_large_folios() {
    let small = "scenario 1\nspawn p\np: map a 64K align=64K\np: write a 0x1\np: fork c\n\
c: unmap a[32K..64K]\n";
    let npm = |args: &[&str]| {
        let (code, out) = compare_stdin(
            &[args, &["--json", "--scheme", "linux-6.18-npm"]].concat(),
            small,
        );
        assert_eq!(code, 0, "{out}");
        let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        v["schemes"][0]["magnitudes"]["pss"]["max_kib"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(npm(&[]), 0.0, "small folios: every design is exact");
    assert_eq!(npm(&["--thp", "64K=always"]), 16.0);
    let (code, _) = compare_stdin(&["--thp", "65K=always"], small);
    assert_eq!(code, 2, "a bad knob is refused");
}

#[test]
fn costs_print_the_model_against_published_figures() {
    let v = json(&["--costs", "--json"]);
    assert_eq!(v["sizes"].as_array().unwrap().len(), 9);
    let series = v["series"].as_array().unwrap();
    assert!(
        series.iter().any(|s| s["fitted"] == false),
        "held-out series shown"
    );
    let npm = series
        .iter()
        .find(|s| s["what"] == "fork, NO_PAGE_MAPCOUNT vs 6.11")
        .unwrap();
    assert_eq!(npm["published"][8], -21.0);
    assert!(npm["predicted"][8].as_f64().unwrap() < -10.0);
    let designs = v["designs"].as_array().unwrap();
    assert_eq!(designs.len(), foliolab_schemes::DESIGNS.len());
    let (code, table) = compare(&["--costs"]);
    assert_eq!(code, 0);
    assert!(table.contains("[held out]") && table.contains("predicted runtime vs linux-6.18"));
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
