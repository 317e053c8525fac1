//! Shrinking: a failing scenario is reduced to a short one that fails the same way (same
//! scheme, same kind, same message up to numbers; [`Failure::signature`]). Candidates are
//! only ever tried when they validate, so the result is a valid scenario.
//!
//! Passes, repeated until none makes progress or the budget is spent: cut everything after
//! the failing statement; delete chunks (halving their size, as in ddmin); delete a process
//! with everything it and its descendants do, or a region with every statement naming it;
//! simplify single statements (whole ranges, shorter ranges, fewer THP keys, value 1).

use crate::exec::{run_one, ExecOptions, Failure, SchemeSpec};
use crate::gen::build;
use foliolab_scenario::{validate, ProcOp, Range, RangeForm, Scenario, StmtKind};
use foliolab_types::PAGE_SIZE;

/// What shrinking achieved.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    pub failure: Failure,
    /// Predicate evaluations spent.
    pub tries: u64,
}

struct Shrinker<'a> {
    scheme: &'a SchemeSpec,
    target: (String, crate::FailKind, String),
    best: Vec<StmtKind>,
    failure: Failure,
    tries: u64,
    budget: u64,
}

/// Shrinks `scenario`, which fails with `failure` under `scheme`, within `budget` runs.
pub fn shrink(scenario: &Scenario, failure: &Failure, scheme: &SchemeSpec, budget: u64) -> Shrunk {
    let kinds: Vec<StmtKind> = scenario.statements().map(|s| s.kind.clone()).collect();
    let mut s = Shrinker {
        scheme,
        target: failure.signature(),
        best: kinds,
        failure: failure.clone(),
        tries: 0,
        budget,
    };
    s.cut_after(failure.line);
    loop {
        let before = s.best.len();
        let changed = s.chunks() | s.entities() | s.simplify();
        if (!changed && s.best.len() == before) || s.tries >= s.budget {
            break;
        }
    }
    Shrunk {
        scenario: build(s.best.clone()),
        failure: s.failure.clone(),
        tries: s.tries,
    }
}

impl Shrinker<'_> {
    /// Accepts `cand` when it is valid and fails the same way.
    fn try_accept(&mut self, cand: Vec<StmtKind>) -> bool {
        if self.tries >= self.budget || cand.is_empty() {
            return false;
        }
        let s = build(cand.clone());
        if validate(&s).is_err() {
            return false;
        }
        self.tries += 1;
        let opts = ExecOptions {
            count_disagreements: false,
            ..ExecOptions::default()
        };
        let r = run_one(&s, self.scheme, opts);
        match r.failure {
            Some(f) if f.signature() == self.target => {
                self.best = cand;
                self.failure = f;
                true
            }
            _ => false,
        }
    }

    fn cut_after(&mut self, line: u32) {
        if line > 0 && (line as usize) < self.best.len() {
            let cand = self.best[..line as usize].to_vec();
            self.try_accept(cand);
        }
    }

    /// ddmin-style deletion of chunks, statement 0 (`scenario 1`) kept.
    fn chunks(&mut self) -> bool {
        let mut changed = false;
        let mut size = (self.best.len() / 2).max(1);
        loop {
            let mut i = 1;
            while i < self.best.len() {
                let end = (i + size).min(self.best.len());
                let mut cand = self.best.clone();
                cand.drain(i..end);
                if self.try_accept(cand) {
                    changed = true;
                } else {
                    i += size;
                }
            }
            if size == 1 {
                return changed;
            }
            size /= 2;
        }
    }

    /// Deletes a process and its descendants, or a region, with every statement using it.
    fn entities(&mut self) -> bool {
        let mut changed = false;
        for name in names(&self.best) {
            let cand: Vec<StmtKind> = self
                .best
                .iter()
                .filter(|k| !uses(k, &name))
                .cloned()
                .collect();
            if cand.len() < self.best.len() {
                changed |= self.try_accept(cand);
            }
        }
        changed
    }

    /// Statement-level simplifications, each tried on every statement.
    fn simplify(&mut self) -> bool {
        let mut changed = false;
        let mut i = 1;
        while i < self.best.len() {
            for alt in alternatives(&self.best[i]) {
                let mut cand = self.best.clone();
                cand[i] = alt;
                if self.try_accept(cand) {
                    changed = true;
                    break;
                }
            }
            i += 1;
        }
        changed
    }
}

/// Process and region names defined in the statements, in order of definition.
fn names(kinds: &[StmtKind]) -> Vec<String> {
    let mut out = Vec::new();
    for k in kinds {
        match k {
            StmtKind::Spawn { proc } => out.push(proc.clone()),
            StmtKind::Proc {
                op: ProcOp::Fork { child },
                ..
            } => out.push(child.clone()),
            StmtKind::Proc {
                op:
                    ProcOp::Map { region, .. }
                    | ProcOp::Move {
                        new_region: region, ..
                    },
                ..
            } => out.push(region.clone()),
            StmtKind::Proc {
                op: ProcOp::Pin { name, .. } | ProcOp::Splice { name, .. },
                ..
            } => out.push(name.clone()),
            _ => {}
        }
    }
    out
}

/// Whether a statement uses `name` as its process, a child it forks, or a region it names.
/// Process, region and pin/pipe names are distinct in generated scenarios (`pN`, `rN`,
/// `nN`).
fn uses(k: &StmtKind, name: &str) -> bool {
    match k {
        StmtKind::Spawn { proc } => proc == name,
        StmtKind::Proc { proc, op } => {
            proc == name
                || match op {
                    ProcOp::Fork { child } => child == name,
                    ProcOp::Map { region, .. } => region == name,
                    ProcOp::ObserveSmaps { region } => region == name,
                    ProcOp::Move {
                        range, new_region, ..
                    } => new_region == name || range.region == name,
                    ProcOp::Pin { name: n, range, .. } | ProcOp::Splice { name: n, range } => {
                        n == name || range.region == name
                    }
                    ProcOp::Release { name: n }
                    | ProcOp::ExpectPin { name: n, .. }
                    | ProcOp::ExpectPipe { name: n, .. } => n == name,
                    other => other.range().is_some_and(|r| r.region == name),
                }
        }
        _ => false,
    }
}

/// Simpler versions of one statement, simplest first.
fn alternatives(k: &StmtKind) -> Vec<StmtKind> {
    match k {
        StmtKind::Thp { settings } if settings.len() > 1 => (0..settings.len())
            .map(|i| {
                let mut s = settings.clone();
                s.remove(i);
                StmtKind::Thp { settings: s }
            })
            .collect(),
        StmtKind::Proc { proc, op } => op_alternatives(op)
            .into_iter()
            .map(|op| StmtKind::Proc {
                proc: proc.clone(),
                op,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn op_alternatives(op: &ProcOp) -> Vec<ProcOp> {
    let mut out = Vec::new();
    match op {
        ProcOp::Write { range, value } if *value != 1 => out.push(ProcOp::Write {
            range: range.clone(),
            value: 1,
        }),
        ProcOp::Pin {
            name,
            range,
            write,
            longterm,
            fast,
        } if *fast || !*write || !*longterm => {
            // The default form (`rw longterm`, slow path) first, then without `fast`.
            out.push(ProcOp::Pin {
                name: name.clone(),
                range: range.clone(),
                write: true,
                longterm: true,
                fast: false,
            });
            if *fast {
                out.push(ProcOp::Pin {
                    name: name.clone(),
                    range: range.clone(),
                    write: *write,
                    longterm: *longterm,
                    fast: false,
                });
            }
        }
        ProcOp::Map {
            region,
            size_bytes,
            kind,
            prot,
            align_bytes,
        } => {
            for size in [*size_bytes / 2, size_bytes.next_multiple_of(64 << 10) / 2] {
                if size >= PAGE_SIZE && size.is_multiple_of(PAGE_SIZE) && size < *size_bytes {
                    out.push(ProcOp::Map {
                        region: region.clone(),
                        size_bytes: size,
                        kind: kind.clone(),
                        prot: *prot,
                        align_bytes: *align_bytes,
                    });
                }
            }
        }
        _ => {}
    }
    if let Some(r) = op.range() {
        for form in range_alternatives(r.form) {
            let mut o = op.clone();
            if let Some(rr) = range_mut(&mut o) {
                rr.form = form;
            }
            out.push(o);
        }
    }
    out
}

fn range_mut(op: &mut ProcOp) -> Option<&mut Range> {
    match op {
        ProcOp::Unmap { range }
        | ProcOp::Protect { range, .. }
        | ProcOp::Advise { range, .. }
        | ProcOp::Write { range, .. }
        | ProcOp::Read { range }
        | ProcOp::Move { range, .. }
        | ProcOp::Pin { range, .. }
        | ProcOp::Splice { range, .. }
        | ProcOp::Migrate { range }
        | ProcOp::Observe { range } => Some(range),
        _ => None,
    }
}

/// The whole region, the first page, and halves of a span.
fn range_alternatives(form: RangeForm) -> Vec<RangeForm> {
    let mut out = Vec::new();
    if form != RangeForm::Whole {
        out.push(RangeForm::Whole);
    }
    let (s, e) = match form {
        RangeForm::Whole => return out,
        other => other.resolve(u64::MAX),
    };
    let len = e - s;
    if len > PAGE_SIZE {
        let half = (len / 2).next_multiple_of(PAGE_SIZE);
        out.push(RangeForm::Page { offset_bytes: s });
        out.push(RangeForm::Span {
            start_bytes: s,
            end_bytes: s + half,
        });
        out.push(RangeForm::Span {
            start_bytes: s + half,
            end_bytes: e,
        });
    }
    out
}
