//! `foliolab report [FILES] -o report.html`: one self-contained HTML page (inline CSS and
//! SVG, no script, nothing fetched) with three sections: per design, the wrong answers on
//! every suite (`designs`); per folio, a map of its pages at chosen statements (`folios`);
//! per era, the kernel-check table (`eras`).

mod designs;
mod eras;
mod folios;
mod svg;

use crate::builtin;
use clap::Args;
use foliolab_cli::load::{load_all, load_bytes};
use foliolab_scenario::Scenario;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ReportArgs {
    /// Scenario files; the files of one directory form one suite (default: the built-in
    /// examples and the compare suite, tests/compare).
    pub files: Vec<PathBuf>,
    /// Where to write the page (`-`: standard output).
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
    /// Draw folio maps at these scenario lines only (repeatable; default: every statement
    /// that observes pages, at most 4 per scenario).
    #[arg(long = "at", value_name = "LINE")]
    pub at: Vec<u32>,
    /// The kernel measurements: one directory per era holding check.txt (and cow-check.txt).
    #[arg(long, value_name = "DIR", default_value = "docs/kernel-measurements")]
    pub measurements: PathBuf,
}

/// The suites: the given files by directory, or the two built-in sets.
fn suites(files: &[PathBuf]) -> Result<Vec<designs::Suite>, String> {
    if files.is_empty() {
        let builtin = |name: &str, set: &[(&str, &str)]| -> Result<designs::Suite, String> {
            let scenarios = set
                .iter()
                .map(|(n, t)| load_bytes(n, t.as_bytes()).map(|s| (n.to_string(), s)))
                .collect::<Result<_, _>>()?;
            Ok(designs::Suite {
                name: name.into(),
                scenarios,
            })
        };
        return Ok(vec![
            builtin("examples (built in)", builtin::EXAMPLES)?,
            builtin("tests/compare (built in)", builtin::COMPARE_SUITE)?,
        ]);
    }
    let mut by_dir: BTreeMap<String, Vec<(String, Scenario)>> = BTreeMap::new();
    for (name, loaded) in load_all(files) {
        let s = loaded?;
        let dir = Path::new(&name)
            .parent()
            .map(|p| p.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        by_dir.entry(dir).or_default().push((name, s));
    }
    Ok(by_dir
        .into_iter()
        .map(|(name, scenarios)| designs::Suite { name, scenarios })
        .collect())
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\
h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}\
td:first-child,th:first-child{text-align:left}\
.maps{display:flex;flex-wrap:wrap;gap:12px}figure{margin:4px}\
figcaption{font-size:12px;color:#555}.note{color:#666;font-size:13px}\
.missing{color:#b00;font-weight:bold}code{background:#f4f4f4;padding:0 3px}";

/// The whole page.
pub fn page(sections: &[String]) -> String {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>foliolab report</title><style>{STYLE}</style></head><body>\
         <h1>foliolab report</h1><p class=\"note\">foliolab {}: mapcount designs on the model, \
         next to an exact oracle and next to real kernels.</p>",
        svg::esc(crate::VERSION)
    );
    sections.iter().for_each(|x| s.push_str(x));
    s.push_str("</body></html>\n");
    s
}

pub fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let suites = match suites(&args.files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return Ok(2);
        }
    };
    let compared = designs::compare_suites(&suites);
    let limits = folios::Limits {
        statements_per_file: 4,
        folios_per_statement: 8,
    };
    // The folio maps: the built-in examples, or every given file.
    let maps: Vec<String> = suites
        .iter()
        .take(if args.files.is_empty() { 1 } else { usize::MAX })
        .flat_map(|suite| suite.scenarios.iter())
        .map(|(name, s)| folios::scenario_maps(name, s, &args.at, &limits))
        .collect();
    let eras = eras::load(&args.measurements).unwrap_or_else(|e| {
        eprintln!(
            "foliolab: no kernel measurements at {}: {e}",
            args.measurements.display()
        );
        Vec::new()
    });
    let html = page(&[
        designs::section(&compared),
        folios::section(&maps),
        eras::section(&eras, &args.measurements.display().to_string()),
    ]);
    if args.output.as_os_str() == "-" {
        std::io::stdout().lock().write_all(html.as_bytes())?;
    } else {
        std::fs::write(&args.output, &html)?;
        let plots = html.matches("<svg class=\"plot\"").count();
        eprintln!("wrote {} ({plots} plots)", args.output.display());
    }
    Ok(0)
}
