//! Rendering records: one JSON object per line (spec 4.1) or one compact human line.

use crate::record::*;
use foliolab_scenario::SmapsField;

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

fn opt_str(v: &Option<String>) -> String {
    v.as_deref().map_or("null".into(), js)
}

/// `{"k":v,...}` from already encoded values, keys in the given order.
fn object(fields: &[(&str, String)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", js(k)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

pub fn problem_name(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Leak => "leak",
        ProblemKind::WrongRead => "wrong_read",
        ProblemKind::Invariant => "invariant",
        ProblemKind::Oracle => "oracle",
        ProblemKind::RunError => "run_error",
    }
}

/// One JSON object (no trailing newline): every record has `kind` and `line`.
pub fn render_json(r: &Record) -> String {
    match r {
        Record::Page(p) => page_json(p),
        Record::Smaps(s) => {
            let mut f = vec![
                ("kind", js("smaps")),
                ("line", s.line.to_string()),
                ("proc", js(&s.proc)),
                ("region", js(&s.region)),
                ("vma_start", s.vma_start_bytes.to_string()),
                ("vma_end", s.vma_end_bytes.to_string()),
            ];
            for field in SmapsField::ALL {
                f.push((
                    field.name(),
                    s.fields_kb.get(&field).copied().unwrap_or(0).to_string(),
                ));
            }
            object(&f)
        }
        Record::Stats(s) => {
            let counters: Vec<(&str, String)> = s
                .counters
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string()))
                .collect();
            object(&[
                ("kind", js("stats")),
                ("line", s.line.to_string()),
                ("counters", object(&counters)),
            ])
        }
        Record::Expect(e) => object(&[
            ("kind", js("expect")),
            ("line", e.line.to_string()),
            ("text", js(&e.text)),
            ("result", js(&e.result.text())),
            ("expected", js(&e.expected)),
            ("observed", js(&e.observed)),
        ]),
        Record::Problem(p) => object(&[
            ("kind", js("problem")),
            ("line", p.line.to_string()),
            ("problem", js(problem_name(p.kind))),
            ("message", js(&p.message)),
        ]),
        Record::Summary(s) => object(&[
            ("kind", js("summary")),
            ("line", "0".into()),
            ("runner", js(&s.runner)),
            ("pass", s.pass.to_string()),
            ("fail", s.fail.to_string()),
            ("skipped", s.skipped.to_string()),
            ("leaks", s.leaks.to_string()),
            ("exit", s.exit.to_string()),
        ]),
    }
}

fn page_json(p: &PageRecord) -> String {
    let flags: Vec<String> = p.flags.iter().map(|f| js(f)).collect();
    let mut f = vec![
        ("kind", js("page")),
        ("line", p.line.to_string()),
        ("proc", js(&p.proc)),
        ("region", js(&p.region)),
        ("offset", p.offset_bytes.to_string()),
        ("state", js(&p.state)),
        ("frame", opt_str(&p.frame)),
        ("folio", opt_str(&p.folio)),
        ("order", opt(p.order)),
        ("index", opt(p.index)),
        ("mapcount", opt(p.mapcount)),
        ("exclusive", opt(p.exclusive)),
        ("pmd", opt(p.pmd)),
        ("flags", format!("[{}]", flags.join(","))),
    ];
    if let Some(m) = &p.model {
        f.push((
            "model",
            serde_json::to_string(m).unwrap_or_else(|_| "null".into()),
        ));
    }
    object(&f)
}

/// One compact human-readable line (no trailing newline).
pub fn render_human(r: &Record) -> String {
    match r {
        Record::Page(p) => format!("{:>4} page  {}", p.line, page_human(p)),
        Record::Smaps(s) => {
            let fields: Vec<String> = s
                .fields_kb
                .iter()
                .filter(|(_, kb)| **kb != 0)
                .map(|(f, kb)| format!("{}={kb}", f.name()))
                .collect();
            let (start, end) = (s.vma_start_bytes, s.vma_end_bytes);
            let body = format!(
                "{} {}[{start:#x}..{end:#x}] kB: {}",
                s.proc,
                s.region,
                fields.join(" ")
            );
            format!("{:>4} smaps {}", s.line, body.trim_end())
        }
        Record::Stats(s) => {
            let c: Vec<String> = s
                .counters
                .iter()
                .map(|(k, v)| format!("{k}={v:+}"))
                .collect();
            format!("{:>4} stats {}", s.line, c.join(" "))
        }
        Record::Expect(e) => expect_human(e),
        Record::Problem(p) => {
            let tag = if p.kind == ProblemKind::RunError {
                "ERROR"
            } else {
                "BUG"
            };
            format!(
                "{:>4} {tag:<5} {}: {}",
                p.line,
                problem_name(p.kind),
                p.message
            )
        }
        Record::Summary(s) => format!(
            "{}: {} pass, {} fail, {} skipped, {} leaks; exit {}",
            s.runner, s.pass, s.fail, s.skipped, s.leaks, s.exit
        ),
    }
}

fn expect_human(e: &ExpectRecord) -> String {
    match &e.result {
        ExpectResult::Pass => format!("{:>4} pass  {}", e.line, e.text),
        ExpectResult::Fail => format!(
            "{:>4} FAIL  {}: expected {}, observed {}",
            e.line, e.text, e.expected, e.observed
        ),
        ExpectResult::Skipped(why) => format!("{:>4} skip  {} ({why})", e.line, e.text),
    }
}

/// `p a+0x3000 present frame=p3 folio=f1 order=4 idx=3 kpc=2 excl=no pte`.
fn page_human(p: &PageRecord) -> String {
    let mut s = format!("{} {}+{:#x} {}", p.proc, p.region, p.offset_bytes, p.state);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let parts = [
        p.frame.as_ref().map(|v| format!("frame={v}")),
        p.folio.as_ref().map(|v| format!("folio={v}")),
        p.order.map(|v| format!("order={v}")),
        p.index.map(|v| format!("idx={v}")),
        p.mapcount.map(|v| format!("kpc={v}")),
        p.exclusive.map(|v| format!("excl={}", yes_no(v))),
        p.pmd.map(|v| {
            if v {
                "pmd".to_string()
            } else {
                "pte".to_string()
            }
        }),
    ];
    for part in parts.into_iter().flatten() {
        s.push(' ');
        s.push_str(&part);
    }
    if !p.flags.is_empty() {
        s.push_str(&format!(" flags={}", p.flags.join(",")));
    }
    s
}
