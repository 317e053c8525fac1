//! The report's third section: per era, the kernel-check table, from the committed
//! `foliolab check --kernel K` outputs (docs/kernel-measurements/<era>/check.txt and
//! cow-check.txt): which scenarios the model and that kernel agree on, differ on, or the
//! kernel cannot run.

use super::svg::{esc, Bar, Stacked};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One scenario's outcome in a check file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Agree,
    /// The number of differences and both exit statuses.
    Differ(u64, String),
    Unsupported(String),
}

/// Outcomes by scenario, from one check output.
pub fn parse_check(text: &str) -> BTreeMap<String, Outcome> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((file, rest)) = line.split_once(": ") else {
            continue;
        };
        if let Some(why) = rest.strip_prefix("unsupported: ") {
            out.entry(file.to_string())
                .or_insert_with(|| Outcome::Unsupported(why.to_string()));
        } else if let Some((n, exits)) = rest.split_once(" differences; ") {
            let Ok(n) = n.trim().parse::<u64>() else {
                continue;
            };
            let agree = n == 0 && exits == "model exit 0, kernel exit 0";
            let o = if agree {
                Outcome::Agree
            } else {
                Outcome::Differ(n, exits.to_string())
            };
            out.insert(file.to_string(), o);
        }
    }
    out
}

/// An era's outcomes: its name and every scenario of its check files.
pub struct Era {
    pub name: String,
    pub outcomes: BTreeMap<String, Outcome>,
}

/// The eras under `dir` (one directory each with a check.txt), oldest first.
pub fn load(dir: &Path) -> std::io::Result<Vec<Era>> {
    let mut eras = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let check = path.join("check.txt");
        if !check.is_file() {
            continue;
        }
        let mut outcomes = parse_check(&std::fs::read_to_string(&check)?);
        if let Ok(cow) = std::fs::read_to_string(path.join("cow-check.txt")) {
            outcomes.extend(parse_check(&cow));
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        eras.push(Era { name, outcomes });
    }
    eras.sort_by_key(|e| version_key(&e.name));
    Ok(eras)
}

fn version_key(name: &str) -> Vec<u64> {
    name.split('.')
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

fn counts(e: &Era) -> [u64; 3] {
    let mut c = [0; 3];
    for o in e.outcomes.values() {
        c[match o {
            Outcome::Agree => 0,
            Outcome::Differ(..) => 1,
            Outcome::Unsupported(_) => 2,
        }] += 1;
    }
    c
}

pub fn section(eras: &[Era], source: &str) -> String {
    let mut s = format!(
        "<section id=\"eras\"><h2>Eras: the model against real kernels</h2>\
         <p><code>foliolab check --kernel K</code> on every conformance and COW selftest \
         scenario, each kernel booted under QEMU (from <code>{}</code>).</p>",
        esc(source)
    );
    if eras.is_empty() {
        s.push_str("<p class=\"missing\">No kernel measurements found.</p></section>");
        return s;
    }
    let bars: Vec<Bar> = eras
        .iter()
        .map(|e| Bar {
            label: format!("kernel {}", e.name),
            values: counts(e).to_vec(),
        })
        .collect();
    let series = [
        ("agree", "#1a9850"),
        ("differ", "#d73027"),
        ("kernel cannot run", "#b0b0b0"),
    ];
    s.push_str(
        &Stacked {
            kind: "eras",
            series: &series,
            bars: &bars,
        }
        .render(),
    );
    s.push_str(
        "<table><tr><th>era</th><th>agree</th><th>differ</th><th>kernel cannot run</th></tr>",
    );
    for e in eras {
        let [a, d, u] = counts(e);
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{a}</td><td>{d}</td><td>{u}</td></tr>",
            esc(&e.name)
        );
    }
    s.push_str("</table>");
    eras.iter().for_each(|e| s.push_str(&differing(e)));
    s.push_str("</section>");
    s
}

/// The scenarios of one era that differ, with their counts of differences.
fn differing(e: &Era) -> String {
    let mut s = format!(
        "<details><summary>{}: the scenarios that differ</summary><table>\
         <tr><th>scenario</th><th>differences</th><th>exits</th></tr>",
        esc(&e.name)
    );
    for (file, o) in &e.outcomes {
        if let Outcome::Differ(n, exits) = o {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                esc(file),
                esc(exits)
            );
        }
    }
    s.push_str("</table></details>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_lines_give_outcomes() {
        let text = "a.scn: unsupported: kernel: line 3: no knob\n\
                    b.scn: 0 differences; model exit 0, kernel exit 0\n\
                    c.scn:  12: expect `x` result: pass != fail\n\
                    c.scn: 1 differences; model exit 0, kernel exit 1\n\
                    vm: --kernel 6.1 (6.1.0): 88 ran\n";
        let o = parse_check(text);
        assert_eq!(o.len(), 3, "{o:?}");
        assert_eq!(o["b.scn"], Outcome::Agree);
        assert!(matches!(o["c.scn"], Outcome::Differ(1, _)));
        assert!(matches!(o["a.scn"], Outcome::Unsupported(_)));
    }
}
