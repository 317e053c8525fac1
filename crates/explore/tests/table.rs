//! The verdict of every race, variant and design, exhaustively at each race's bound:
//! asserted against the expectations below, and against the tables of docs/races.md (each
//! race's block between `<!-- verdicts:RACE -->` and `<!-- /verdicts:RACE -->`), which this
//! test prints when they differ.

mod common;

use common::{designs, run};
use foliolab_explore::races::{self, Race};
use foliolab_explore::CaseResult;
use std::collections::BTreeMap;

/// Where a violation is expected: race, variant, designs (empty: all it runs under), cases.
/// Every other (race, variant, design, case) must be explored completely without one.
const EXPECTED: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "gup-fast-vs-free",
        "page1-total",
        &[],
        &["reuse-as-tail", "pfn-walker"],
    ),
    (
        "gup-fast-vs-free",
        "gup-no-recheck",
        &[],
        &["reuse-as-tail", "reuse-as-head"],
    ),
    (
        "shared-check",
        "rmap-before-clear",
        &[
            "linux-6.18",
            "linux-6.18-npm",
            "rfc-2026",
            "vma-count",
            "rmap-id",
            "exact",
        ],
        &["fork", "unmap"],
    ),
    (
        "cow-reuse",
        "kernel",
        &["linux-5.7"],
        &["unmap", "gup", "gup-unmap", "split"],
    ),
    (
        "cow-reuse",
        "reuse-no-lock",
        &["linux-5.7"],
        &["unmap", "gup", "gup-unmap", "split"],
    ),
    ("cow-reuse", "reuse-no-lock", MM_ID, &["migrate"]),
    (
        "cow-reuse",
        "reuse-no-refcount",
        &["linux-5.7"],
        &["unmap", "gup", "gup-unmap", "split"],
    ),
    (
        "cow-reuse",
        "reuse-no-refcount",
        MM_ID,
        &["unmap", "gup", "gup-unmap", "migrate"],
    ),
    (
        "cow-reuse",
        "gup-no-recheck",
        &["linux-5.7"],
        &["unmap", "gup", "split"],
    ),
    ("cow-reuse", "gup-no-recheck", &[], &["gup-unmap"]),
    ("zap-no-gather", "ryan-v1-no-get", &[], &["last"]),
    ("deferred-split", "split-no-freeze", &[], &["unmap-remap"]),
    (
        "deferred-split",
        "split-no-freeze",
        &[
            "linux-5.7",
            "linux-6.1",
            "linux-6.14",
            "linux-6.18",
            "linux-6.18-npm",
            "rfc-2026",
        ],
        &["shrink-vs-gup"],
    ),
    (
        "deferred-split",
        "split-no-freeze",
        &["rmap-id", "exact"],
        &["shrink-vs-gup"],
    ),
    ("mmid-slots", "mmid-no-lock", &[], &["two-unmaps"]),
];

const MM_ID: &[&str] = &["linux-6.18", "linux-6.18-npm", "rfc-2026"];

fn expected(race: &str, variant: &str, design: &str, case: &str) -> bool {
    EXPECTED.iter().any(|(r, v, ds, cs)| {
        *r == race && *v == variant && (ds.is_empty() || ds.contains(&design)) && cs.contains(&case)
    })
}

/// Short tags for what a design's cells show besides the verdict.
fn tags(race: &Race, results: &[CaseResult]) -> Vec<&'static str> {
    let seen = |what: &str| {
        results
            .iter()
            .any(|r| r.outcome.observations.keys().any(|k| k.contains(what)))
    };
    let mut t = Vec::new();
    match race.name {
        "shared-check" | "mmid-slots" => {
            if seen("false exclusive") {
                t.push("FE");
            }
            if seen("false shared") {
                t.push("FS");
            }
        }
        "cow-reuse" => t.push(if seen("COW: reused") {
            "reuses"
        } else {
            "copies"
        }),
        "zap-no-gather" if seen("folio_mapcount > folio_ref_count") => t.push("L>ref"),
        "deferred-split" => {
            if seen("partially mapped but not flagged") {
                t.push("misses");
            }
            if seen("flagged but not partially mapped") {
                t.push("stale");
            }
        }
        _ => {}
    }
    t
}

/// One cell: `safe`, or `✗ case,case`, with the tags. Unexpected verdicts go to `wrong`.
fn cell(
    race: &Race,
    variant: &str,
    design: &str,
    results: &[CaseResult],
    wrong: &mut Vec<String>,
) -> String {
    let mut bad = Vec::new();
    for r in results {
        let want = expected(race.name, variant, design, r.case);
        let at = format!("{} {variant} {design} {}", race.name, r.case);
        match &r.outcome.violation {
            Some(f) => {
                if !want {
                    wrong.push(format!("{at}: unexpected violation: {}", f.message));
                }
                bad.push(r.case);
            }
            None if want => wrong.push(format!("{at}: no violation found")),
            None => assert!(r.outcome.stats.complete && r.outcome.stats.states > 0),
        }
    }
    let mut s = if bad.is_empty() {
        "safe".to_string()
    } else {
        format!("✗ {}", bad.join(","))
    };
    for t in tags(race, results) {
        s.push_str(" · ");
        s.push_str(t);
    }
    s
}

/// The race's block of docs/races.md: one row per variant, one column per design.
/// Per variant (in order): its label and (design, cell) pairs.
type Rows = BTreeMap<usize, (String, Vec<(String, String)>)>;

fn render(race: &Race, rows: &Rows) -> String {
    let mut out = String::new();
    out.push_str("| variant | ");
    let header: Vec<&str> = race.designs.to_vec();
    out.push_str(&header.join(" | "));
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(header.len()));
    out.push('\n');
    for (name, cells) in rows.values() {
        out.push_str(&format!("| {name} |"));
        for d in &header {
            let c = cells
                .iter()
                .find(|(dd, _)| dd == d)
                .map(|(_, c)| c.as_str());
            let c = c.or_else(|| (cells.len() == 1).then_some(cells[0].1.as_str()));
            out.push_str(&format!(" {} |", c.unwrap_or("")));
        }
        out.push('\n');
    }
    out
}

/// The race's row of the summary (kernel variant, every design; `—` where it does not apply).
fn summary_row(race: &Race, kernel: &[(String, String)]) -> String {
    let mut row = format!("| {} |", race.name);
    for d in foliolab_explore::DESIGNS {
        let c = kernel
            .iter()
            .find(|(dd, _)| dd == d)
            .map(|(_, c)| c.as_str());
        row.push_str(&format!(" {} |", c.unwrap_or("—")));
    }
    row
}

fn doc_block(race: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/races.md");
    let text = std::fs::read_to_string(path).expect("docs/races.md");
    let open = format!("<!-- verdicts:{race} -->\n");
    let close = format!("<!-- /verdicts:{race} -->");
    let start = text.find(&open).map(|i| i + open.len());
    let end = text.find(&close);
    match (start, end) {
        (Some(s), Some(e)) if s <= e => text[s..e].to_string(),
        _ => String::new(),
    }
}

fn check_race(name: &str) {
    let race = races::by_name(name).expect("race");
    let mut rows = BTreeMap::new();
    let mut wrong = Vec::new();
    for (i, v) in race.variants().iter().enumerate() {
        let mut cells = Vec::new();
        for d in designs(race, v) {
            let results = run(race, v, d);
            cells.push((d.to_string(), cell(race, v.name, d, &results, &mut wrong)));
        }
        let label = match (v.test_only, v.design) {
            (true, Some(d)) => format!("{} (test-only design `{d}`)", v.name),
            (true, None) => format!("{} (test-only)", v.name),
            (false, _) => v.name.to_string(),
        };
        rows.insert(i, (label, cells));
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
    let summary = summary_row(race, &rows[&0].1);
    assert!(
        doc_block("summary").lines().any(|l| l == summary),
        "docs/races.md's summary lacks the row:\n{summary}"
    );
    let table = render(race, &rows);
    assert_eq!(
        doc_block(name),
        table,
        "docs/races.md's verdict table for {name} is out of date; it should read:\n{table}"
    );
}

#[test]
fn gup_fast_vs_free() {
    check_race("gup-fast-vs-free");
}

#[test]
fn shared_check() {
    check_race("shared-check");
}

#[test]
fn cow_reuse() {
    check_race("cow-reuse");
}

#[test]
fn zap_no_gather() {
    check_race("zap-no-gather");
}

#[test]
fn deferred_split() {
    check_race("deferred-split");
}

#[test]
fn mmid_slots() {
    check_race("mmid-slots");
}

#[test]
fn every_race_of_the_issue_is_there() {
    let names: Vec<&str> = races::all().iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "gup-fast-vs-free",
            "shared-check",
            "cow-reuse",
            "zap-no-gather",
            "deferred-split",
            "mmid-slots"
        ]
    );
    for r in races::all() {
        let kernel = r.variants()[0];
        assert_eq!(
            kernel.name, "kernel",
            "{}: the kernel's variant comes first",
            r.name
        );
        assert!(
            r.variants().iter().any(|v| v.unsafe_variant),
            "{}: an unsafe variant",
            r.name
        );
        assert!(!(r.cases)(&kernel, r.designs[0]).is_empty());
    }
}
