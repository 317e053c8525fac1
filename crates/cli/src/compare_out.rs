//! `foliolab compare`'s output: a table (counts, then magnitudes, then each scheme's
//! details), markdown (a table per scenario and one of the totals, designs x magnitudes) or
//! one JSON object carrying every figure per scenario and in total.

use crate::compare::{Mode, Row, ScenarioOut};
use clap::ValueEnum;
use foliolab_schemes::cost::{cause_name, CAUSES};
use foliolab_schemes::shadow::{Magnitude, Tally};
use foliolab_types::{Order, PAGE_SIZE, PMD_ORDER};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// The version of the compare record's own keys (bumped when one changes meaning), beside
/// the output schema's `schema_version`.
pub const JSON_VERSION: u64 = 2;

pub fn print(mode: Mode, fmt: Format, outs: &[ScenarioOut], rows: &[Row], explain: bool) {
    match fmt {
        Format::Json => println!("{}", to_json(mode, outs, rows, explain)),
        Format::Markdown => print_markdown(mode, outs, rows),
        Format::Table => print_human(mode, outs, rows),
    }
}

/// A suite that does not load: the error, as JSON under `--json`.
pub fn print_load_error(e: &str, fmt: Format) {
    match fmt {
        Format::Json => {
            let file = e.split(':').next().unwrap_or_default();
            println!("{}", foliolab_driver::output::error_json(file, e));
        }
        _ => println!("{e}"),
    }
}

fn kib(bytes: f64) -> f64 {
    (bytes / 1024.0 * 100.0).round() / 100.0
}

fn pages(bytes: f64) -> f64 {
    (bytes / PAGE_SIZE as f64 * 100.0).round() / 100.0
}

/// A magnitude as JSON: max and time-weighted mean, in KiB and pages, and the integral.
fn magnitude_json(m: &Magnitude, statements: u64) -> Value {
    let mean = m.mean_bytes(statements);
    json!({
        "max_kib": kib(m.max_bytes as f64),
        "max_pages": pages(m.max_bytes as f64),
        "mean_kib": kib(mean),
        "mean_pages": pages(mean),
        "kib_x_statements": kib(m.sum_bytes as f64),
    })
}

fn sites_json(t: &Tally) -> Value {
    json!({
        "cow": {"false_shared": t.cow_fp, "false_exclusive": t.cow_fn},
        "madvise": {"false_shared": t.madvise_fp, "false_exclusive": t.madvise_fn},
        "pagemap": {"false_shared": t.bit56_fp, "false_exclusive": t.bit56_fn},
        "maybe_shared": {"false_shared": t.maybe_shared_fp, "false_exclusive": t.maybe_shared_fn},
    })
}

fn magnitudes_json(t: &Tally) -> Value {
    let (m, n) = (&t.magnitudes, t.statements);
    json!({
        "pss": magnitude_json(&m.pss, n),
        "uss": magnitude_json(&m.uss, n),
        "rss": {"max_kib": 0.0, "mean_kib": 0.0, "note": "exact for every design: page-table entries, no design answers it"},
        "anon_pages": magnitude_json(&m.anon_pages, n),
        "stranded": magnitude_json(&m.stranded, n),
        "cow_extra_copied_kib": kib(t.extra_cow_bytes() as f64),
        "cow_extra_copied_pages": t.cow_fp,
        "cow_leaked_kib": kib(t.leaked_cow_bytes() as f64),
        "cow_leaked_pages": t.cow_fn,
    })
}

/// One scheme's figures (the keys of the first version first, then the magnitudes).
pub fn row_json(r: &Row) -> Value {
    let t = &r.tally;
    let c = t.costs.total();
    json!({
        "name": t.name,
        "false_shared": t.false_shared(),
        "false_exclusive": t.false_exclusive(),
        "mapcount_errors": t.mapcount_errors + t.kpagecount_errors,
        "partial_map_errors": t.partial_map_errors(),
        "stats_errors": t.stats_errors,
        "leaks": r.leaks,
        "cow_copies": r.cow_copies,
        "cow_reuses": r.cow_reuses,
        "splits": r.splits,
        "atomic_rmw": c.atomic_rmw,
        "cachelines": c.cachelines,
        "metadata_bytes_per_2m_folio": t.layout.metadata_bytes(PMD_ORDER),
        "tail_refcount_hazard": t.layout.tail_refcount_hazard().map(|w| w.what),
        "statements": t.statements,
        "by_site": sites_json(t),
        "partial": {"missed": t.partial_missed, "spurious": t.partial_spurious},
        "magnitudes": magnitudes_json(t),
        "pss_error_max_kib": t.magnitudes.pss.max_bytes / 1024,
        "uss_error_max_kib": t.magnitudes.uss.max_bytes / 1024,
        "anon_pages_error_max_kib": t.magnitudes.anon_pages.max_bytes / 1024,
        "stranded_max_kib": t.magnitudes.stranded.max_bytes / 1024,
        "cow_extra_copied_kib": t.extra_cow_bytes() / 1024,
    })
}

fn wrong_json(o: &ScenarioOut, t: &Tally) -> Value {
    let list: Vec<Value> = t
        .wrong
        .iter()
        .map(|w| {
            let (line, text) = o
                .statements
                .get(w.stmt as usize)
                .cloned()
                .unwrap_or((0, String::new()));
            json!({
                "line": line, "statement": text, "site": w.site.name(),
                "pfn": w.head.0, "order": w.order.0, "detail": w.detail,
            })
        })
        .collect();
    Value::Array(list)
}

fn scenario_json(o: &ScenarioOut, explain: bool) -> Value {
    let failures: Vec<Value> = o
        .failures
        .iter()
        .map(|f| json!({"driver": f.driver, "exit": f.exit, "reasons": f.reasons}))
        .collect();
    let rows: Vec<Value> = o
        .rows
        .iter()
        .map(|r| {
            let mut v = row_json(r);
            if explain {
                v["wrong"] = wrong_json(o, &r.tally);
            }
            v
        })
        .collect();
    json!({
        "file": o.name,
        "unsupported": o.unsupported,
        "statements": o.statements.len(),
        "exit": o.failures.iter().map(|f| f.exit).max().unwrap_or(0),
        "failures": failures,
        "schemes": rows,
    })
}

/// The JSON record: `{"schema_version", "file": null, "kind": "compare", "line": 0,
/// "compare_version", "mode", "exit", "failures", "scenarios": [...], "schemes":
/// [totals]}`.
pub fn to_json(mode: Mode, outs: &[ScenarioOut], rows: &[Row], explain: bool) -> String {
    let scenarios: Vec<Value> = outs.iter().map(|o| scenario_json(o, explain)).collect();
    let failed: Vec<&str> = outs
        .iter()
        .filter(|o| !o.failures.is_empty())
        .map(|o| o.name.as_str())
        .collect();
    let v = json!({
        "compare_version": JSON_VERSION,
        "mode": mode.name(),
        "exit": (!failed.is_empty()) as u8,
        "failed": failed,
        "scenarios": scenarios,
        "schemes": rows.iter().map(row_json).collect::<Vec<_>>(),
    });
    output_record(&v.to_string())
}

/// The output record (docs/json-schema.md) of a compare object: `kind` `compare`, `line` 0
/// and `file` null (it covers a whole suite; each scenario carries its own `file`).
pub fn output_record(object: &str) -> String {
    foliolab_driver::output::suite_record("compare", object)
}

/// The magnitude columns: (header, value) for one row.
fn magnitude_cells(t: &Tally) -> Vec<String> {
    let (m, n) = (&t.magnitudes, t.statements);
    let mm = |x: &Magnitude| format!("{} / {}", kib(x.max_bytes as f64), kib(x.mean_bytes(n)));
    vec![
        mm(&m.pss),
        mm(&m.uss),
        mm(&m.anon_pages),
        format!(
            "{} ({})",
            kib(m.stranded.sum_bytes as f64),
            kib(m.stranded.max_bytes as f64)
        ),
        format!(
            "{} / {}",
            kib(t.extra_cow_bytes() as f64),
            kib(t.leaked_cow_bytes() as f64)
        ),
        format!(
            "{}/{} {}/{} {}/{} {}/{}",
            t.cow_fp,
            t.cow_fn,
            t.madvise_fp,
            t.madvise_fn,
            t.bit56_fp,
            t.bit56_fn,
            t.maybe_shared_fp,
            t.maybe_shared_fn
        ),
    ]
}

const MAGNITUDE_HEADERS: [&str; 6] = [
    "PSS KiB max / mean",
    "USS KiB max / mean",
    "AnonPages KiB max / mean",
    "stranded KiB x stmts (max KiB)",
    "COW KiB extra / leaked",
    "false shared/exclusive: cow madvise pagemap maybe-shared",
];

fn markdown_table(rows: &[Row]) {
    println!("| design | {} |", MAGNITUDE_HEADERS.join(" | "));
    println!("|---|{}", "---|".repeat(MAGNITUDE_HEADERS.len()));
    for r in rows {
        println!(
            "| `{}` | {} |",
            r.tally.name,
            magnitude_cells(&r.tally).join(" | ")
        );
    }
}

fn print_markdown(mode: Mode, outs: &[ScenarioOut], rows: &[Row]) {
    println!(
        "<!-- foliolab compare --format markdown, {} mode -->",
        mode.name()
    );
    for o in outs {
        let n = o.rows.first().map_or(0, |r| r.tally.statements);
        println!("\n#### `{}` ({n} statements)\n", o.name);
        if o.unsupported {
            println!("not run on the model (unsupported statements)");
            continue;
        }
        for f in &o.failures {
            let first = f.reasons.first().map_or("", String::as_str);
            println!(
                "**run failed** ({} driving, exit {}): {first}\n",
                f.driver, f.exit
            );
        }
        markdown_table(&o.rows);
    }
    if outs.len() > 1 {
        println!("\n#### all scenarios\n");
        markdown_table(rows);
    }
}

fn print_counts(rows: &[Row]) {
    println!(
        "{:<15} {:>7} {:>6} {:>8} {:>7} {:>6} {:>5} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6}",
        "scheme",
        "f.shrd",
        "f.excl",
        "mapcount",
        "partial",
        "stats",
        "leaks",
        "copies",
        "reuses",
        "splits",
        "rmw",
        "lines",
        "B/2M"
    );
    for r in rows {
        let t = &r.tally;
        let c = t.costs.total();
        println!(
            "{:<15} {:>7} {:>6} {:>8} {:>7} {:>6} {:>5} {:>6} {:>6} {:>6} {:>8} {:>8} {:>6}",
            t.name,
            t.false_shared(),
            t.false_exclusive(),
            t.mapcount_errors + t.kpagecount_errors,
            t.partial_map_errors(),
            t.stats_errors,
            r.leaks,
            r.cow_copies,
            r.cow_reuses,
            r.splits,
            c.atomic_rmw,
            c.cachelines,
            t.layout.metadata_bytes(PMD_ORDER)
        );
    }
}

fn print_magnitudes(rows: &[Row]) {
    println!(
        "\nmagnitudes (KiB; mean = time-weighted over statements; RSS is exact for every design)"
    );
    for (i, h) in MAGNITUDE_HEADERS.iter().enumerate() {
        println!("  [{}] {h}", i + 1);
    }
    println!(
        "{:<15} {:>18} {:>18} {:>18} {:>22} {:>14} [6]",
        "scheme", "[1]", "[2]", "[3]", "[4]", "[5]"
    );
    for r in rows {
        let c = magnitude_cells(&r.tally);
        println!(
            "{:<15} {:>18} {:>18} {:>18} {:>22} {:>14} {}",
            r.tally.name, c[0], c[1], c[2], c[3], c[4], c[5]
        );
    }
}

fn print_human(mode: Mode, outs: &[ScenarioOut], rows: &[Row]) {
    let driver = match mode {
        Mode::Shadow => "linux-6.18 drives, the others shadow it",
        Mode::Drive => "each scheme drives its own run",
    };
    println!(
        "foliolab compare: {} mode ({driver}), {} scenarios\n",
        mode.name(),
        outs.len()
    );
    print_counts(rows);
    print_magnitudes(rows);
    for r in rows {
        print_scheme(r);
    }
    for o in outs {
        for f in &o.failures {
            println!(
                "\nrun failed: {} ({} driving, exit {})",
                o.name, f.driver, f.exit
            );
            for r in &f.reasons {
                println!("  {r}");
            }
        }
    }
}

fn print_scheme(r: &Row) {
    let t = &r.tally;
    println!("\n== {}", t.name);
    println!(
        "  maybe-shared +{}/-{}  madvise +{}/-{}  bit56 +{}/-{}  cow +{}/-{}  (false shared / false exclusive)",
        t.maybe_shared_fp, t.maybe_shared_fn, t.madvise_fp, t.madvise_fn, t.bit56_fp, t.bit56_fn, t.cow_fp, t.cow_fn
    );
    println!(
        "  mapcount {}  kpagecount {}  partial missed {} spurious {}  stats {} (pss {})",
        t.mapcount_errors,
        t.kpagecount_errors,
        t.partial_missed,
        t.partial_spurious,
        t.stats_errors,
        t.pss_errors
    );
    println!(
        "  peak memory {} KiB (sum of per-scenario peaks)  deferred queue max {}",
        r.peak_pages * PAGE_SIZE / 1024,
        r.max_deferred
    );
    println!(
        "  {:<12} {:>7} {:>8} {:>8}",
        "operation", "calls", "rmw", "lines"
    );
    for c in CAUSES {
        let o = t.costs.by_cause[foliolab_schemes::cost::cause_index(c)];
        println!(
            "  {:<12} {:>7} {:>8} {:>8}",
            cause_name(c),
            o.calls,
            o.atomic_rmw,
            o.cachelines
        );
    }
    print_layout(t);
}

fn print_layout(t: &Tally) {
    let l = &t.layout;
    let per_page = |o: u8| l.metadata_bytes(Order(o)) as f64 / Order(o).nr_pages() as f64;
    println!(
        "  metadata: 4K {} B, 16K {} B, 64K {} B, 2M {} B ({:.2} B per 4K page at 2M)",
        l.metadata_bytes(Order(0)),
        l.metadata_bytes(Order(2)),
        l.metadata_bytes(Order(4)),
        l.metadata_bytes(PMD_ORDER),
        per_page(PMD_ORDER.0)
    );
    println!(
        "  overflow: {} after {} MMs fully PTE-mapping a 2M folio; tail-refcount hazard: {}",
        l.overflow_counter,
        l.overflow_mms_2m,
        tail_hazard(l)
    );
}

/// The tail-refcount check of a layout, for reports.
fn tail_hazard(l: &foliolab_schemes::Layout) -> String {
    match l.tail_refcount_hazard() {
        Some(w) => format!(
            "HAZARD: {} at page[{}] bytes {}..{} overlaps its _refcount",
            w.what,
            w.page,
            w.offset,
            w.offset + w.bytes
        ),
        None => {
            let at: Vec<String> = l
                .tail_words()
                .iter()
                .map(|w| {
                    format!(
                        "page[{}] bytes {}..{}",
                        w.page,
                        w.offset,
                        w.offset + w.bytes
                    )
                })
                .collect();
            format!("none (words at {})", at.join(", "))
        }
    }
}
