//! The report's second section: per folio, a map of its pages at chosen statements (which
//! process maps each page, by PTE or PMD, exclusive or shared), from the page records of a
//! model run (`observe` statements) under linux-6.18.

use super::svg::{esc, folio_legend, folio_map, Cell};
use foliolab_driver::{drive, PageRecord, Record};
use foliolab_scenario::{validate, Item, Pos, ProcOp, Range, RangeForm, Scenario, Stmt, StmtKind};
use foliolab_sim::ModelRunner;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Caps that keep the page readable; what they leave out is said on the page.
pub struct Limits {
    pub statements_per_file: usize,
    pub folios_per_statement: usize,
}

/// Regions larger than this are not observed by the report (a map draws large folios;
/// a big region costs a record per page).
const MAX_OBSERVED_REGION_BYTES: u64 = 16 << 20;

/// `s` with `observe R` of every live process's regions (version 1) after the statements
/// at `at` (empty: after the last statement); `s` itself when that would not validate.
pub fn with_observations(s: &Scenario, at: &[u32]) -> Scenario {
    let mut out = Vec::new();
    let mut regions: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let last = s.items.iter().rev().find_map(|i| match i {
        Item::Stmt(st) => Some(st.pos.line),
        _ => None,
    });
    for item in &s.items {
        out.push(item.clone());
        let Item::Stmt(st) = item else { continue };
        match &st.kind {
            StmtKind::Scenario { version } if *version != 1 => return s.clone(),
            StmtKind::Spawn { proc } => {
                regions.insert(proc.clone(), Vec::new());
            }
            StmtKind::Proc { proc, op } => track(&mut regions, proc, op),
            _ => {}
        }
        let line = st.pos.line;
        if at.contains(&line) || (at.is_empty() && Some(line) == last) {
            observe_all(line, &regions, &mut out);
        }
    }
    let planned = Scenario {
        path: s.path.clone(),
        items: out,
    };
    if validate(&planned).is_ok() {
        planned
    } else {
        s.clone()
    }
}

fn track(regions: &mut BTreeMap<String, Vec<(String, u64)>>, proc: &str, op: &ProcOp) {
    match op {
        ProcOp::Fork { child } => {
            let r = regions.get(proc).cloned().unwrap_or_default();
            regions.insert(child.clone(), r);
        }
        ProcOp::Map {
            region, size_bytes, ..
        } => regions
            .entry(proc.into())
            .or_default()
            .push((region.clone(), *size_bytes)),
        ProcOp::Unmap { range } if range.form == RangeForm::Whole => {
            if let Some(r) = regions.get_mut(proc) {
                r.retain(|(name, _)| *name != range.region);
            }
        }
        ProcOp::Exit => {
            regions.remove(proc);
        }
        _ => {}
    }
}

fn observe_all(line: u32, regions: &BTreeMap<String, Vec<(String, u64)>>, out: &mut Vec<Item>) {
    for (proc, rs) in regions {
        for (region, size) in rs {
            if *size > MAX_OBSERVED_REGION_BYTES {
                continue;
            }
            let pos = Pos { line, column: 1 };
            let range = Range {
                region: region.clone(),
                form: RangeForm::Whole,
                pos,
            };
            out.push(Item::Stmt(Stmt {
                pos,
                kind: StmtKind::Proc {
                    proc: proc.clone(),
                    op: ProcOp::Observe { range },
                },
                comment: None,
                tokens: Vec::new(),
            }));
        }
    }
}

/// The page records of one run, by scenario line.
fn observed(s: &Scenario) -> BTreeMap<u32, Vec<PageRecord>> {
    let mut by_line: BTreeMap<u32, Vec<PageRecord>> = BTreeMap::new();
    let Some(mut runner) = ModelRunner::new("linux-6.18") else {
        return by_line;
    };
    if !foliolab_driver::check_supported(s, &runner).is_empty() {
        return by_line;
    }
    drive(s, &mut runner, &mut |r: &Record| {
        if let Record::Page(p) = r {
            by_line.entry(p.line).or_default().push(p.clone());
        }
    });
    by_line
}

/// The large folios of one statement's records: folio name → (order, pages).
fn large_folios(pages: &[PageRecord]) -> BTreeMap<String, (u8, Vec<&PageRecord>)> {
    let mut folios: BTreeMap<String, (u8, Vec<&PageRecord>)> = BTreeMap::new();
    for p in pages {
        let (Some(f), Some(order)) = (&p.folio, p.order) else {
            continue;
        };
        if order == 0 || f == "zero" || f == "hzero" {
            continue;
        }
        folios
            .entry(f.clone())
            .or_insert((order, Vec::new()))
            .1
            .push(p);
    }
    folios
}

/// One band per process: the cell of each page index it maps.
fn bands(order: u8, pages: &[&PageRecord]) -> Vec<(String, Vec<Option<Cell>>)> {
    let nr = 1usize << order;
    let mut by_proc: BTreeMap<String, Vec<Option<Cell>>> = BTreeMap::new();
    for p in pages {
        let cells = by_proc
            .entry(format!("{} {}", p.proc, p.region))
            .or_insert_with(|| vec![None; nr]);
        let Some(i) = p.index.and_then(|i| usize::try_from(i).ok()) else {
            continue;
        };
        if let Some(c) = cells.get_mut(i) {
            *c = Some(Cell {
                pmd: p.pmd.unwrap_or(false),
                exclusive: p.exclusive.unwrap_or(false),
                mapcount: p.mapcount,
            });
        }
    }
    by_proc.into_iter().collect()
}

/// The maps of one scenario at the chosen lines (`at`; empty: every observing statement).
pub fn scenario_maps(name: &str, s: &Scenario, at: &[u32], limits: &Limits) -> String {
    let by_line = observed(&with_observations(s, at));
    let chosen: Vec<(&u32, &Vec<PageRecord>)> = by_line
        .iter()
        .filter(|(l, _)| at.is_empty() || at.contains(l))
        .filter(|(_, pages)| !large_folios(pages).is_empty())
        .collect();
    if chosen.is_empty() {
        return String::new();
    }
    let mut s = format!("<h3>{}</h3>", esc(name));
    for (line, pages) in chosen.iter().take(limits.statements_per_file) {
        let folios = large_folios(pages);
        let _ = write!(s, "<h4>line {line}</h4><div class=\"maps\">");
        for (folio, (order, fpages)) in folios.iter().take(limits.folios_per_statement) {
            let title = format!("{name}:{line} folio {folio} (order {order})");
            let _ = write!(
                s,
                "<figure>{}<figcaption>{} (order {order}, {} pages)</figcaption></figure>",
                folio_map(&title, 1 << order, &bands(*order, fpages)),
                esc(folio),
                1u64 << order
            );
        }
        s.push_str("</div>");
        let more = folios.len().saturating_sub(limits.folios_per_statement);
        if more > 0 {
            let _ = write!(
                s,
                "<p class=\"note\">{more} more large folios at this line not drawn.</p>"
            );
        }
    }
    let more = chosen.len().saturating_sub(limits.statements_per_file);
    if more > 0 {
        let _ = write!(
            s,
            "<p class=\"note\">{more} more observing statements not drawn (choose them with --at LINE).</p>"
        );
    }
    s
}

pub fn section(maps: &[String]) -> String {
    let mut s = String::from(
        "<section id=\"folios\"><h2>Folios: who maps each page</h2>\
         <p>The model under linux-6.18 at the scenarios' own <code>observe</code> statements \
         and after their last statement (or after the lines chosen with <code>--at</code>, \
         where every region up to 16M of every live process is observed): one map per large \
         folio, one band per process and region, one cell per page (32 to a row). Hover a \
         cell for its kpagecount.</p>",
    );
    s.push_str(&folio_legend());
    let drawn: Vec<&String> = maps.iter().filter(|m| !m.is_empty()).collect();
    if drawn.is_empty() {
        s.push_str("<p class=\"missing\">No large folio observed at the chosen statements.</p>");
    }
    drawn.iter().for_each(|m| s.push_str(m));
    s.push_str("</section>");
    s
}
