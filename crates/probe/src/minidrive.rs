//! A small statement driver used by the probe's own kernel tests and corpus tooling until
//! the shared `foliolab_report::drive` is available. It performs actions, checks the
//! kernel-checkable expectations, skips model-only ones, and renders observations with
//! canonical frame/folio names (p1, f1, ... in order of first sight), one text line each.

use foliolab_report::{PageObs, Runner, ZeroKind};
use foliolab_scenario::{
    counter_class, print_stmt, CounterClass, Item, PageState, ProcOp, Scenario, Stmt, StmtKind,
};
use std::collections::HashMap;

/// The outcome of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MiniRun {
    /// One line per expectation and observation (`LINE: ...`).
    pub lines: Vec<String>,
    pub pass: u64,
    pub fail: u64,
    pub skipped: u64,
    /// 0, 1, 2 or 3 as spec 4.
    pub exit: i32,
}

#[derive(Default)]
struct Names {
    frames: HashMap<u64, String>,
    folios: HashMap<u64, String>,
    snaps: HashMap<String, HashMap<u64, u64>>,
}

impl Names {
    fn frame(&mut self, o: &PageObs) -> String {
        match (o.zero, o.frame) {
            (Some(ZeroKind::Small), _) => "zero".into(),
            (Some(ZeroKind::Huge), _) => "hzero".into(),
            (None, Some(f)) => {
                let n = self.frames.len() + 1;
                self.frames.entry(f).or_insert_with(|| format!("p{n}")).clone()
            }
            _ => "-".into(),
        }
    }
    fn folio(&mut self, o: &PageObs) -> String {
        match (o.zero, o.folio) {
            (Some(ZeroKind::Small), _) => "zero".into(),
            (Some(ZeroKind::Huge), _) => "hzero".into(),
            (None, Some(f)) => {
                let n = self.folios.len() + 1;
                self.folios.entry(f).or_insert_with(|| format!("f{n}")).clone()
            }
            _ => "-".into(),
        }
    }
}

fn check(out: &mut MiniRun, st: &Stmt, ok: bool, expected: String, observed: String) {
    let text = print_stmt(st);
    if ok {
        out.pass += 1;
        out.lines.push(format!("{}: pass {text}", st.pos.line));
    } else {
        out.fail += 1;
        out.lines.push(format!("{}: FAIL {text}: expected {expected}, observed {observed}", st.pos.line));
    }
}

fn skip(out: &mut MiniRun, st: &Stmt, why: &str) {
    out.skipped += 1;
    out.lines.push(format!("{}: skipped({why}) {}", st.pos.line, print_stmt(st)));
}

/// Runs `scenario` over `runner`.
pub fn run(scenario: &Scenario, runner: &mut dyn Runner) -> MiniRun {
    let mut out = MiniRun::default();
    let unsup = runner.unsupported(scenario);
    if !unsup.is_empty() {
        out.lines.extend(unsup.iter().map(|u| format!("unsupported: {u}")));
        out.exit = 3;
        return out;
    }
    let mut names = Names::default();
    for it in &scenario.items {
        let Item::Stmt(st) = it else { continue };
        if let Err(e) = step(st, runner, &mut names, &mut out) {
            out.lines.push(format!("{}: run error: {e}", st.pos.line));
            out.exit = 2;
            return out;
        }
        for p in runner.after_statement(st) {
            out.lines.push(format!("{}: problem: {}", st.pos.line, p.message));
            out.fail += 1;
        }
    }
    out.exit = if out.fail > 0 { 1 } else { 0 };
    out
}

fn all<T: PartialEq + std::fmt::Debug>(v: &[T], want: &T) -> (bool, String) {
    let bad: Vec<&T> = v.iter().filter(|x| *x != want).collect();
    (bad.is_empty(), if bad.is_empty() { format!("{want:?}") } else { format!("{:?}", v) })
}

fn step(st: &Stmt, r: &mut dyn Runner, names: &mut Names, out: &mut MiniRun) -> Result<(), String> {
    let e = |e: foliolab_report::RunError| e.message;
    match &st.kind {
        StmtKind::ExpectStat { counter, delta } => match counter_class(counter) {
            Some(CounterClass::Exact) => {
                let s = r.stats().map_err(e)?;
                let v = s.get(counter).copied().unwrap_or(0);
                check(out, st, v == *delta, delta.to_string(), v.to_string());
            }
            Some(CounterClass::Noisy) => skip(out, st, "noisy"),
            _ => skip(out, st, "kernel"),
        },
        StmtKind::ObserveStats => {
            let s = r.stats().map_err(e)?;
            let nz: Vec<String> = s
                .iter()
                .filter(|(k, v)| **v != 0 && counter_class(k) == Some(CounterClass::Exact))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.lines.push(format!("{}: stats {}", st.pos.line, nz.join(" ")));
        }
        StmtKind::Proc { proc, op } => match op {
            ProcOp::ExpectValue { range, value } => {
                let vals = r.read(proc, range).map_err(e)?;
                let v: Vec<u64> = vals.iter().map(|x| x.value).collect();
                let (ok, obs) = all(&v, value);
                check(out, st, ok, format!("{value:#x}"), obs);
            }
            ProcOp::Remember { snapshot, range } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let m = pages.iter().filter_map(|(o, p)| p.frame.map(|f| (*o, f))).collect();
                names.snaps.insert(snapshot.clone(), m);
            }
            ProcOp::ExpectSame { range, snapshot, at_bytes } | ProcOp::ExpectNew { range, snapshot, at_bytes } => {
                let same = matches!(op, ProcOp::ExpectSame { .. });
                let pages = r.pages(proc, range).map_err(e)?;
                let snap = names.snaps.get(snapshot).cloned().unwrap_or_default();
                let first = pages.first().map(|p| p.0).unwrap_or(0);
                let mut bad = Vec::new();
                for (o, p) in &pages {
                    let key = match at_bytes {
                        Some(at) => at + (o - first),
                        None => *o,
                    };
                    let was = snap.get(&key).copied();
                    let ok = match (p.frame, was) {
                        (Some(f), Some(w)) if p.state == PageState::Present => (f == w) == same,
                        (Some(_), None) if p.state == PageState::Present => !same,
                        _ => false,
                    };
                    if !ok {
                        bad.push(format!("{o:#x}"));
                    }
                }
                check(out, st, bad.is_empty(), if same { "same".into() } else { "new".into() }, format!("differs at {}", bad.join(",")));
            }
            ProcOp::ExpectState { range, state } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let v: Vec<PageState> = pages.iter().map(|p| p.1.state).collect();
                let (ok, obs) = all(&v, state);
                check(out, st, ok, state.name().into(), obs);
            }
            ProcOp::ExpectMapcount { range, mapcount } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let v: Vec<Option<u64>> = pages.iter().map(|p| p.1.mapcount).collect();
                let (ok, obs) = all(&v, &Some(*mapcount));
                check(out, st, ok, mapcount.to_string(), obs);
            }
            ProcOp::ExpectExclusive { range, exclusive } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let v: Vec<Option<bool>> = pages.iter().map(|p| p.1.exclusive).collect();
                let (ok, obs) = all(&v, &Some(*exclusive));
                check(out, st, ok, exclusive.to_string(), obs);
            }
            ProcOp::ExpectPmd { range, pmd } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let v: Vec<Option<bool>> = pages.iter().map(|p| p.1.pmd).collect();
                let (ok, obs) = all(&v, &Some(*pmd));
                check(out, st, ok, pmd.to_string(), obs);
            }
            ProcOp::ExpectOrder { range, order } => {
                let pages = r.pages(proc, range).map_err(e)?;
                let v: Vec<Option<u8>> = pages.iter().map(|p| p.1.order).collect();
                let (ok, obs) = all(&v, &Some(*order));
                check(out, st, ok, order.to_string(), obs);
            }
            ProcOp::ExpectFaults { faults } => {
                let f = r.faults(proc).map_err(e)?;
                check(out, st, f == *faults, faults.to_string(), f.to_string());
            }
            ProcOp::ExpectSmaps { region, field, size_bytes } => {
                let sm = r.smaps(proc, region).map_err(e)?;
                let kb: u64 = sm.iter().map(|s| s.fields_kb.get(field).copied().unwrap_or(0)).sum();
                check(out, st, kb * 1024 == *size_bytes, format!("{}K", size_bytes / 1024), format!("{kb}K"));
            }
            ProcOp::ExpectRss { kind, pages } => {
                let n = r.rss_pages(proc, *kind).map_err(e)?;
                check(out, st, n == *pages, pages.to_string(), n.to_string());
            }
            ProcOp::ExpectPipe { name, value } | ProcOp::ExpectPin { name, value } => {
                let v = r.held_values(proc, name).map_err(e)?;
                let (ok, obs) = all(&v, value);
                check(out, st, ok, format!("{value:#x}"), obs);
            }
            ProcOp::ExpectFolio { .. } | ProcOp::ExpectPage { .. } => skip(out, st, "kernel"),
            ProcOp::Observe { range } => {
                for (o, p) in r.pages(proc, range).map_err(e)? {
                    let (fr, fo) = (names.frame(&p), names.folio(&p));
                    out.lines.push(format!(
                        "{}: page {proc} {}+{o:#x} {} frame={fr} folio={fo} order={:?} index={:?} mapcount={:?} excl={:?} pmd={:?} flags={}",
                        st.pos.line,
                        range.region,
                        p.state.name(),
                        p.order,
                        p.index,
                        p.mapcount,
                        p.exclusive,
                        p.pmd,
                        p.flags.join(",")
                    ));
                }
            }
            ProcOp::ObserveSmaps { region } => {
                for s in r.smaps(proc, region).map_err(e)? {
                    let f: Vec<String> = s.fields_kb.iter().map(|(k, v)| format!("{}={v}", k.name())).collect();
                    out.lines.push(format!(
                        "{}: smaps {proc} {region} [{:#x}..{:#x}] {}",
                        st.pos.line,
                        s.vma_start_bytes,
                        s.vma_end_bytes,
                        f.join(" ")
                    ));
                }
            }
            _ => r.perform(st).map_err(e)?,
        },
        _ => r.perform(st).map_err(e)?,
    }
    Ok(())
}
