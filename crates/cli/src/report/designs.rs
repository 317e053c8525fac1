//! The report's first section: per design, the wrong answers (and, when `compare --json`
//! gives them, their magnitudes in KiB) on every suite, from the same JSON object `compare
//! --json` prints. Keys this code does not know are kept: a numeric key ending in `_errors`
//! or starting with `false_` is one more kind of wrong answer, one with `kib` a magnitude.

use super::svg::{esc, Bar, Stacked};
use crate::compare::{compare, totals, Mode, Setup};
use crate::compare_out::to_json;
use foliolab_scenario::Scenario;
use serde_json::Value;
use std::fmt::Write;

/// A named set of scenarios (a directory, or a built-in set).
pub struct Suite {
    pub name: String,
    pub scenarios: Vec<(String, Scenario)>,
}

/// `compare --json`'s object for one suite (shadow mode, every design).
pub struct Compared {
    pub suite: String,
    pub nr_scenarios: usize,
    pub json: Value,
}

pub fn compare_suites(suites: &[Suite]) -> Vec<Compared> {
    let names: Vec<String> = foliolab_sim::scheme_names()
        .into_iter()
        .map(String::from)
        .collect();
    suites
        .iter()
        .map(|s| {
            let setup = Setup {
                era: foliolab_model::Era::LINUX_6_18,
                other_era: false,
                mode: Mode::Shadow,
                explain: false,
                check: true,
            };
            let outs = compare(&s.scenarios, &names, setup);
            let rows = totals(&outs, &names);
            let text = to_json(Mode::Shadow, &outs, &rows, false);
            Compared {
                suite: s.name.clone(),
                nr_scenarios: s.scenarios.len(),
                json: serde_json::from_str(&text).unwrap_or(Value::Null),
            }
        })
        .collect()
}

const PALETTE: [&str; 8] = [
    "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
];

/// The numeric keys of the schemes' objects that `pick` selects, in first-seen order.
fn keys(c: &Compared, pick: fn(&str) -> bool) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for scheme in schemes(c) {
        for (k, v) in scheme.as_object().into_iter().flatten() {
            if v.is_u64() && pick(k) && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

fn schemes(c: &Compared) -> &[Value] {
    c.json["schemes"].as_array().map_or(&[], Vec::as_slice)
}

pub fn is_wrong_answer(key: &str) -> bool {
    !key.contains("kib")
        && (key.ends_with("_errors") || key.starts_with("false_") || key == "leaks")
}

pub fn is_magnitude(key: &str) -> bool {
    key.contains("kib")
}

/// One stacked bar chart of the `pick` keys for one suite; None without such keys.
fn chart(c: &Compared, kind: &str, pick: fn(&str) -> bool) -> Option<String> {
    let keys = keys(c, pick);
    if keys.is_empty() {
        return None;
    }
    let series: Vec<(&str, &str)> = keys
        .iter()
        .zip(PALETTE.iter().cycle())
        .map(|(k, c)| (k.as_str(), *c))
        .collect();
    let bars: Vec<Bar> = schemes(c)
        .iter()
        .map(|s| Bar {
            label: s["name"].as_str().unwrap_or("?").to_string(),
            values: keys.iter().map(|k| s[k].as_u64().unwrap_or(0)).collect(),
        })
        .collect();
    Some(
        Stacked {
            kind,
            series: &series,
            bars: &bars,
        }
        .render(),
    )
}

/// The section: per suite, the wrong answers by kind and their magnitudes; then a table of
/// every figure.
pub fn section(compared: &[Compared]) -> String {
    let mut s = String::from(
        "<section id=\"designs\"><h2>Designs: wrong answers across the suites</h2>\
         <p>Every design shadows <code>linux-6.18</code> on the same rmap events (\
         <code>foliolab compare --json</code>, shadow mode); a wrong answer is one the \
         oracle's recount of the page tables contradicts.</p>",
    );
    for c in compared {
        let _ = write!(
            s,
            "<h3>{} ({} scenarios)</h3>",
            esc(&c.suite),
            c.nr_scenarios
        );
        match chart(c, "wrong-answers", is_wrong_answer) {
            Some(svg) => s.push_str(&svg),
            None => s.push_str("<p class=\"missing\">compare gave no wrong-answer figures.</p>"),
        }
        match chart(c, "magnitudes", is_magnitude) {
            Some(svg) => {
                s.push_str("<h4>Magnitudes (KiB)</h4>");
                s.push_str(&svg);
            }
            None => s.push_str("<p class=\"note\">No magnitudes (KiB) in this compare output.</p>"),
        }
        s.push_str(&table(c));
    }
    s.push_str("</section>");
    s
}

/// Every numeric figure of every design (keys in compare's order).
fn table(c: &Compared) -> String {
    let keys = keys(c, |_| true);
    let mut s = String::from("<details><summary>All figures</summary><table><tr><th>design</th>");
    for k in &keys {
        let _ = write!(s, "<th>{}</th>", esc(k));
    }
    s.push_str("</tr>");
    for scheme in schemes(c) {
        let _ = write!(
            s,
            "<tr><td>{}</td>",
            esc(scheme["name"].as_str().unwrap_or("?"))
        );
        for k in &keys {
            let _ = write!(s, "<td>{}</td>", scheme[k].as_u64().unwrap_or(0));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></details>");
    s
}
