//! The differences between two runs (`foliolab check`): the records of two runners, statement by statement
//! and field by field. Page identity is compared as a grouping, not by name: within one
//! statement, pages that share a frame (folio) in one run must share one in the other, and
//! the zero pages (`zero`, `hzero`) must match literally.

use crate::record::*;
use std::collections::{BTreeMap, BTreeSet};

/// One difference between the left and the right run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diff {
    /// Scenario line (0 for the summary).
    pub line: u32,
    /// What differs: `p a+0x3000 mapcount`, `smaps p a [0x0..0x10000] rss`, `stat
    /// 64K.split`, `expect result`, `exit`, ...
    pub what: String,
    pub left: String,
    pub right: String,
}

impl Diff {
    fn new(
        line: u32,
        what: impl Into<String>,
        left: impl Into<String>,
        right: impl Into<String>,
    ) -> Diff {
        Diff {
            line,
            what: what.into(),
            left: left.into(),
            right: right.into(),
        }
    }

    /// `LINE: WHAT: LEFT != RIGHT`.
    pub fn human(&self) -> String {
        format!(
            "{:>4}: {}: {} != {}",
            self.line, self.what, self.left, self.right
        )
    }

    /// One JSON object: `{"kind":"diff","line":..,"what":..,"left":..,"right":..}`.
    pub fn json(&self) -> String {
        serde_json::json!({
            "kind": "diff",
            "line": self.line,
            "what": self.what,
            "left": self.left,
            "right": self.right,
        })
        .to_string()
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

type PageKey = (String, String, u64);

fn key(p: &PageRecord) -> PageKey {
    (p.proc.clone(), p.region.clone(), p.offset_bytes)
}

fn page_name(p: &PageRecord) -> String {
    format!("{} {}+{:#x}", p.proc, p.region, p.offset_bytes)
}

fn is_zero(n: &str) -> bool {
    n == "zero" || n == "hzero"
}

/// Pages of one statement whose grouping by `get` differs between the runs.
fn grouping(
    line: u32,
    field: &str,
    left: &BTreeMap<PageKey, &PageRecord>,
    right: &BTreeMap<PageKey, &PageRecord>,
    get: fn(&PageRecord) -> &Option<String>,
    out: &mut Vec<Diff>,
) {
    let mut l2r: BTreeMap<String, String> = BTreeMap::new();
    let mut r2l: BTreeMap<String, String> = BTreeMap::new();
    for (k, lp) in left {
        let Some(rp) = right.get(k) else { continue };
        let (Some(ln), Some(rn)) = (get(lp), get(rp)) else {
            if get(lp).is_some() != get(rp).is_some() {
                out.push(Diff::new(
                    line,
                    format!("{} {field}", page_name(lp)),
                    opt(get(lp)),
                    opt(get(rp)),
                ));
            }
            continue;
        };
        if is_zero(ln) || is_zero(rn) {
            if ln != rn {
                out.push(Diff::new(
                    line,
                    format!("{} {field}", page_name(lp)),
                    ln.clone(),
                    rn.clone(),
                ));
            }
            continue;
        }
        let a = l2r.entry(ln.clone()).or_insert_with(|| rn.clone()).clone();
        let b = r2l.entry(rn.clone()).or_insert_with(|| ln.clone()).clone();
        if a != *rn || b != *ln {
            out.push(Diff::new(
                line,
                format!("{} {field} grouping", page_name(lp)),
                format!("{ln} (grouped with {b})"),
                format!("{rn} (grouped with {a})"),
            ));
        }
    }
}

fn compare_pages(line: u32, l: &[&PageRecord], r: &[&PageRecord], out: &mut Vec<Diff>) {
    let lm: BTreeMap<PageKey, &PageRecord> = l.iter().map(|p| (key(p), *p)).collect();
    let rm: BTreeMap<PageKey, &PageRecord> = r.iter().map(|p| (key(p), *p)).collect();
    for (k, lp) in &lm {
        let Some(rp) = rm.get(k) else {
            out.push(Diff::new(
                line,
                format!("{} page", page_name(lp)),
                "present",
                "missing",
            ));
            continue;
        };
        let n = page_name(lp);
        let mut f = |what: &str, a: String, b: String| {
            if a != b {
                out.push(Diff::new(line, format!("{n} {what}"), a, b));
            }
        };
        f("state", lp.state.clone(), rp.state.clone());
        f("order", opt(&lp.order), opt(&rp.order));
        f("index", opt(&lp.index), opt(&rp.index));
        f("mapcount", opt(&lp.mapcount), opt(&rp.mapcount));
        f("exclusive", opt(&lp.exclusive), opt(&rp.exclusive));
        f("pmd", opt(&lp.pmd), opt(&rp.pmd));
        let lf: BTreeSet<&String> = lp.flags.iter().collect();
        let rf: BTreeSet<&String> = rp.flags.iter().collect();
        if lf != rf {
            let j =
                |s: &BTreeSet<&String>| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",");
            f("flags", j(&lf), j(&rf));
        }
    }
    for (k, rp) in &rm {
        if !lm.contains_key(k) {
            out.push(Diff::new(
                line,
                format!("{} page", page_name(rp)),
                "missing",
                "present",
            ));
        }
    }
    grouping(line, "frame", &lm, &rm, |p| &p.frame, out);
    grouping(line, "folio", &lm, &rm, |p| &p.folio, out);
}

#[derive(Default)]
struct Line<'a> {
    pages: Vec<&'a PageRecord>,
    smaps: Vec<&'a SmapsRecord>,
    stats: Vec<&'a StatsRecord>,
    expects: Vec<&'a ExpectRecord>,
    problems: Vec<&'a ProblemRecord>,
}

fn by_line(recs: &[Record]) -> (BTreeMap<u32, Line<'_>>, Option<&SummaryRecord>) {
    let mut m: BTreeMap<u32, Line> = BTreeMap::new();
    let mut summary = None;
    for r in recs {
        match r {
            Record::Page(p) => m.entry(p.line).or_default().pages.push(p),
            Record::Smaps(s) => m.entry(s.line).or_default().smaps.push(s),
            Record::Stats(s) => m.entry(s.line).or_default().stats.push(s),
            Record::Expect(e) => m.entry(e.line).or_default().expects.push(e),
            Record::Problem(p) => m.entry(p.line).or_default().problems.push(p),
            Record::Summary(s) => summary = Some(s),
        }
    }
    (m, summary)
}

/// Every difference between two runs of one scenario, in line order. Expectations skipped in
/// either run are not compared; a counter missing on one side counts as 0 there.
pub fn diff_runs(left: &[Record], right: &[Record]) -> Vec<Diff> {
    let (lm, ls) = by_line(left);
    let (rm, rs) = by_line(right);
    let empty = Line::default();
    let lines: BTreeSet<u32> = lm.keys().chain(rm.keys()).copied().collect();
    let mut out = Vec::new();
    for line in lines {
        let l = lm.get(&line).unwrap_or(&empty);
        let r = rm.get(&line).unwrap_or(&empty);
        compare_pages(line, &l.pages, &r.pages, &mut out);
        // smaps, by (proc, region, vma start).
        let sk = |s: &&SmapsRecord| (s.proc.clone(), s.region.clone(), s.vma_start_bytes);
        let lsm: BTreeMap<_, _> = l.smaps.iter().map(|s| (sk(s), *s)).collect();
        let rsm: BTreeMap<_, _> = r.smaps.iter().map(|s| (sk(s), *s)).collect();
        for k in lsm.keys().chain(rsm.keys()).collect::<BTreeSet<_>>() {
            let what = format!("smaps {} {} [{:#x}..]", k.0, k.1, k.2);
            match (lsm.get(k), rsm.get(k)) {
                (Some(a), Some(b)) => {
                    if a.vma_end_bytes != b.vma_end_bytes {
                        out.push(Diff::new(
                            line,
                            format!("{what} vma_end"),
                            format!("{:#x}", a.vma_end_bytes),
                            format!("{:#x}", b.vma_end_bytes),
                        ));
                    }
                    for f in a
                        .fields_kb
                        .keys()
                        .chain(b.fields_kb.keys())
                        .collect::<BTreeSet<_>>()
                    {
                        let (x, y) = (
                            a.fields_kb.get(f).copied().unwrap_or(0),
                            b.fields_kb.get(f).copied().unwrap_or(0),
                        );
                        if x != y {
                            out.push(Diff::new(
                                line,
                                format!("{what} {}", f.name()),
                                format!("{x} kB"),
                                format!("{y} kB"),
                            ));
                        }
                    }
                }
                (a, b) => out.push(Diff::new(
                    line,
                    format!("{what} vma"),
                    if a.is_some() { "present" } else { "missing" },
                    if b.is_some() { "present" } else { "missing" },
                )),
            }
        }
        // stats
        let mut lc: BTreeMap<&String, i64> = BTreeMap::new();
        let mut rc: BTreeMap<&String, i64> = BTreeMap::new();
        for s in &l.stats {
            lc.extend(s.counters.iter().map(|(k, v)| (k, *v)));
        }
        for s in &r.stats {
            rc.extend(s.counters.iter().map(|(k, v)| (k, *v)));
        }
        if !l.stats.is_empty() || !r.stats.is_empty() {
            for k in lc.keys().chain(rc.keys()).collect::<BTreeSet<_>>() {
                let (x, y) = (
                    lc.get(k).copied().unwrap_or(0),
                    rc.get(k).copied().unwrap_or(0),
                );
                if x != y {
                    out.push(Diff::new(
                        line,
                        format!("stat {k}"),
                        x.to_string(),
                        y.to_string(),
                    ));
                }
            }
        }
        // expectations, in order, when neither side skipped.
        for (a, b) in l.expects.iter().zip(&r.expects) {
            let skipped = |e: &ExpectRecord| matches!(e.result, ExpectResult::Skipped(_));
            if skipped(a) || skipped(b) {
                continue;
            }
            if a.result != b.result {
                out.push(Diff::new(
                    line,
                    format!("expect `{}` result", a.text),
                    a.result.text(),
                    b.result.text(),
                ));
            }
            if a.observed != b.observed {
                out.push(Diff::new(
                    line,
                    format!("expect `{}` observed", a.text),
                    a.observed.clone(),
                    b.observed.clone(),
                ));
            }
        }
        if l.expects.len() != r.expects.len() {
            out.push(Diff::new(
                line,
                "expectations",
                l.expects.len().to_string(),
                r.expects.len().to_string(),
            ));
        }
        let pl: Vec<&String> = l.problems.iter().map(|p| &p.message).collect();
        let pr: Vec<&String> = r.problems.iter().map(|p| &p.message).collect();
        if pl.len() != pr.len() {
            out.push(Diff::new(
                line,
                "problems",
                format!("{pl:?}"),
                format!("{pr:?}"),
            ));
        }
    }
    if let (Some(a), Some(b)) = (ls, rs) {
        if a.exit != b.exit {
            out.push(Diff::new(0, "exit", a.exit.to_string(), b.exit.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(line: u32, off: u64, frame: &str, folio: &str, mapcount: u64) -> Record {
        Record::Page(PageRecord {
            line,
            proc: "p".into(),
            region: "a".into(),
            offset_bytes: off,
            state: "present".into(),
            frame: Some(frame.into()),
            folio: Some(folio.into()),
            order: Some(0),
            index: Some(0),
            mapcount: Some(mapcount),
            exclusive: Some(true),
            pmd: Some(false),
            flags: vec!["ANON".into()],
            model: None,
        })
    }

    #[test]
    fn same_grouping_other_names_is_equal() {
        let l = vec![page(3, 0, "p1", "f1", 1), page(3, 0x1000, "p2", "f1", 1)];
        let r = vec![page(3, 0, "p7", "f4", 1), page(3, 0x1000, "p8", "f4", 1)];
        assert!(diff_runs(&l, &r).is_empty());
    }

    #[test]
    fn different_grouping_and_field() {
        let l = vec![page(3, 0, "p1", "f1", 1), page(3, 0x1000, "p2", "f1", 1)];
        let r = vec![page(3, 0, "p1", "f1", 2), page(3, 0x1000, "p2", "f2", 1)];
        let d = diff_runs(&l, &r);
        assert!(d
            .iter()
            .any(|x| x.what == "p a+0x0 mapcount" && x.left == "1" && x.right == "2"));
        assert!(d.iter().any(|x| x.what.contains("folio grouping")));
        assert!(d[0].json().contains("\"kind\":\"diff\""));
    }

    #[test]
    fn zero_pages_match_literally() {
        let l = vec![page(3, 0, "zero", "zero", 0)];
        let r = vec![page(3, 0, "p1", "f1", 0)];
        assert_eq!(diff_runs(&l, &r).len(), 2);
    }
}
