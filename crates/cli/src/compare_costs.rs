//! `foliolab compare --costs`: the cost model (docs/cost-model.md). The fitted weights with
//! their kernel sources, every published series next to its prediction (fitted or held
//! out), each design's operation counts per folio, and each design's predicted fork and
//! munmap runtime against linux-6.18 at 4K..2M.

use crate::compare_out::Format;
use foliolab_schemes::costfit::{fit, predicted, published, published_value, ratio, Series};
use foliolab_schemes::costmodel::{counts, paths, predict, Op, Paths, ORDERS, WORKS};
use serde_json::{json, Value};

const SIZES: [&str; 9] = [
    "4K", "16K", "32K", "64K", "128K", "256K", "512K", "1M", "2M",
];

fn cell(v: f64, seconds: bool) -> String {
    match (v.is_nan(), seconds) {
        (true, _) => "-".into(),
        (false, true) => format!("{:.2}ms", v * 1e3),
        (false, false) => format!("{v:+.0}%"),
    }
}

fn series_rows(s: &Series, w: &[f64; 8]) -> (Vec<f64>, Vec<f64>) {
    let published: Vec<f64> = (0..9).map(|i| published_value(s, i)).collect();
    let predicted: Vec<f64> = (0..9)
        .map(|i| match published[i].is_nan() {
            true => f64::NAN,
            false => predicted(s, i, w),
        })
        .collect();
    (published, predicted)
}

fn designs(names: &[String]) -> Vec<Paths> {
    names.iter().filter_map(|n| paths(n)).collect()
}

fn json_out(names: &[String], w: &[f64; 8]) -> Value {
    let base = paths("linux-6.18").expect("registered");
    let weights: Vec<Value> = WORKS
        .iter()
        .zip(w)
        .map(|(k, v)| json!({"work": k.name(), "ns": (v * 100.0).round() / 100.0}))
        .collect();
    let series: Vec<Value> = published()
        .iter()
        .map(|s| {
            let (p, q) = series_rows(s, w);
            let opt = |v: &Vec<f64>| {
                v.iter()
                    .map(|x| (!x.is_nan()).then_some(*x))
                    .collect::<Vec<_>>()
            };
            json!({"what": s.what, "op": s.op.name(), "fitted": s.fitted, "source": s.source,
                   "unit": if s.base.is_none() { "seconds" } else { "percent" },
                   "published": opt(&p), "predicted": opt(&q)})
        })
        .collect();
    let per_design: Vec<Value> = designs(names)
        .iter()
        .map(|p| {
            let r = |op| {
                ORDERS
                    .iter()
                    .map(|&o| ratio(p, &base, op, o, w))
                    .collect::<Vec<_>>()
            };
            json!({"name": p.name, "fork_vs_linux_6_18_percent": r(Op::Fork),
                   "munmap_vs_linux_6_18_percent": r(Op::Munmap)})
        })
        .collect();
    let ms = |op| {
        ORDERS
            .iter()
            .map(|&o| predict(&base, op, o, w) / 1e6)
            .collect::<Vec<_>>()
    };
    let absolute = json!({"fork": ms(Op::Fork), "munmap": ms(Op::Munmap)});
    json!({"sizes": SIZES, "weights_ns": weights, "series": series, "designs": per_design,
           "linux_6_18_ms_per_gib": absolute})
}

/// The output record (docs/json-schema.md) of the cost model: `kind` `costs`, `line` 0 and
/// `file` null (it is about no scenario).
fn output_record(costs: &Value) -> String {
    foliolab_driver::output::suite_record("costs", &costs.to_string())
}

fn print_weights(w: &[f64; 8]) {
    println!("fitted weights (ns per operation; non-negative least squares on the fitted series)");
    for (k, v) in WORKS.iter().zip(w) {
        println!("  {:<20} {v:>8.2}", k.name());
    }
}

fn print_series(w: &[f64; 8]) {
    println!("\npublished (pub) vs predicted (model), Xeon 4210R, 1 GiB of PTE-mapped folios");
    println!(
        "{:<48} {}",
        "series",
        SIZES.map(|s| format!("{s:>16}")).join("")
    );
    for s in &published() {
        let (p, q) = series_rows(s, w);
        let secs = s.base.is_none();
        let fitted = if s.fitted { "fit" } else { "held out" };
        let cells: String = (0..9)
            .map(|i| {
                format!(
                    "{:>16}",
                    format!("{}/{}", cell(p[i], secs), cell(q[i], secs))
                )
            })
            .collect();
        println!("{:<56} {cells}", format!("{} [{fitted}]", s.what));
    }
}

fn print_counts(names: &[String]) {
    println!("\noperations per folio (fork | munmap), PTE-mapped, one VMA: 4K / 64K / 2M");
    for p in designs(names) {
        println!("  {}", p.name);
        for op in [Op::Fork, Op::Munmap] {
            let c: Vec<String> = WORKS
                .iter()
                .enumerate()
                .map(|(j, k)| {
                    let at = |o: usize| counts(&p, op, ORDERS[o])[j];
                    format!("{} {}/{}/{}", k.name(), at(0), at(3), at(8))
                })
                .collect();
            println!("    {:<7} {}", op.name(), c.join(", "));
        }
    }
}

fn print_designs(names: &[String], w: &[f64; 8]) {
    let base = paths("linux-6.18").expect("registered");
    println!("\nlinux-6.18 predicted, ms per GiB (the weights' machine: Xeon Silver 4210R)");
    for op in [Op::Fork, Op::Munmap] {
        let cells: String = ORDERS
            .iter()
            .map(|&o| format!("{:>7.2}", predict(&base, op, o, w) / 1e6))
            .collect();
        println!("{:<22} {cells}", op.name());
    }
    println!("\npredicted runtime vs linux-6.18 (percent)");
    println!(
        "{:<22} {}",
        "design / op",
        SIZES.map(|s| format!("{s:>7}")).join("")
    );
    for p in designs(names) {
        for op in [Op::Fork, Op::Munmap] {
            let cells: String = ORDERS
                .iter()
                .map(|&o| format!("{:>7}", format!("{:+.0}", ratio(&p, &base, op, o, w))))
                .collect();
            println!("{:<22} {cells}", format!("{} {}", p.name, op.name()));
        }
    }
}

pub fn print(names: &[String], fmt: Format) {
    let w = fit();
    if fmt == Format::Json {
        println!("{}", output_record(&json_out(names, &w)));
        return;
    }
    print_weights(&w);
    print_series(&w);
    print_counts(names);
    print_designs(names, &w);
}
