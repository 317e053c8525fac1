//! Runs one scenario under one scheme with the checks after every statement, and classifies
//! what they report (spec 3.5): a leak (except under `linux-5.7`), a broken invariant, a
//! wrong value read, or a disagreement with the oracle that the scheme's own `check` reports
//! (it reports only what the scheme claims to keep exactly) is a failure; a panic of the
//! model is a failure; a run error is a generator bug and a failure too. The generator's
//! expectations (`expect pin` / `expect pipe` values, which hold under every scheme) are
//! failures when they fail, except under `linux-5.7`, whose COW loses pins by design.
//! Disagreements of
//! the scheme's estimates (mapcount, per-page mapcount, maybe-shared) with the recount are
//! counted, not failures.

use foliolab_driver::{
    drive, drive_without_page_records, ExpectResult, Hooked, Problem, ProblemKind, Record, Runner,
    StatementHooks,
};
use foliolab_scenario::{Scenario, Stmt};
use foliolab_schemes::Scheme;
use foliolab_sim::ModelRunner;
use foliolab_types::{FolioTruth, Pfn};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A scheme the fuzzer runs: a name and how to make a fresh instance.
#[derive(Clone)]
pub struct SchemeSpec {
    pub name: String,
    make: Arc<dyn Fn() -> Box<dyn Scheme> + Send + Sync>,
}

impl SchemeSpec {
    /// A scheme of this build by name.
    pub fn builtin(name: &str) -> Option<SchemeSpec> {
        let design = foliolab_schemes::registry::design(name)?;
        Some(SchemeSpec {
            name: design.name.to_string(),
            make: Arc::new(move || design.instantiate()),
        })
    }

    /// Every registered scheme.
    pub fn all() -> Vec<SchemeSpec> {
        foliolab_schemes::registry::names()
            .filter_map(SchemeSpec::builtin)
            .collect()
    }

    /// Any scheme (tests: canaries).
    pub fn custom(
        name: &str,
        make: impl Fn() -> Box<dyn Scheme> + Send + Sync + 'static,
    ) -> SchemeSpec {
        SchemeSpec {
            name: name.to_string(),
            make: Arc::new(make),
        }
    }

    pub fn runner(&self) -> ModelRunner {
        ModelRunner::with_scheme((self.make)())
    }

    /// Leaks (and the generator's pin and pipe values) are failures except under a design
    /// whose COW leaks by design (spec 3.5; the registry's `leaks_by_design`).
    pub fn leaks_fail(&self) -> bool {
        !foliolab_schemes::registry::properties(&self.name).leaks_by_design
    }
}

/// Why a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailKind {
    Leak,
    WrongRead,
    /// A generated expectation failed.
    Expect,
    Invariant,
    Oracle,
    Panic,
    /// The model refused a statement: the generator emitted something invalid.
    RunError,
}

impl FailKind {
    pub fn name(self) -> &'static str {
        match self {
            FailKind::Leak => "leak",
            FailKind::WrongRead => "wrong-read",
            FailKind::Expect => "expect",
            FailKind::Invariant => "invariant",
            FailKind::Oracle => "oracle",
            FailKind::Panic => "panic",
            FailKind::RunError => "run-error",
        }
    }
}

/// The first failure of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub scheme: String,
    pub kind: FailKind,
    pub line: u32,
    pub message: String,
}

impl Failure {
    /// What "fails the same way" compares while shrinking: scheme, kind, and the message
    /// with every number replaced (frame numbers and addresses change as statements go).
    pub fn signature(&self) -> (String, FailKind, String) {
        (self.scheme.clone(), self.kind, shape(&self.message))
    }
}

/// The message with runs of digits and hex numbers replaced by `#`.
pub fn shape(message: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for w in message.split_inclusive(|c: char| !c.is_ascii_alphanumeric()) {
        let (word, sep) = w.split_at(
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .len(),
        );
        let numeric = !word.is_empty()
            && (word.bytes().all(|b| b.is_ascii_digit())
                || (word.starts_with("0x") && word[2..].bytes().all(|b| b.is_ascii_hexdigit())));
        if numeric {
            if !in_num {
                out.push('#');
            }
        } else {
            out.push_str(word);
        }
        in_num = numeric && sep.is_empty();
        out.push_str(sep);
    }
    out
}

/// Estimates that disagree with the recount (counted, never failures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disagreements {
    /// Folio-statement pairs where `folio_mapcount` differs from the page tables.
    pub mapcount: u64,
    /// Page-statement pairs where kpagecount's value differs from the page tables.
    pub page_mapcount: u64,
    /// Folio-statement pairs where maybe-shared differs from "mapped by two MMs or more".
    pub maybe_shared: u64,
}

impl Disagreements {
    pub fn add(&mut self, o: Disagreements) {
        self.mapcount += o.mapcount;
        self.page_mapcount += o.page_mapcount;
        self.maybe_shared += o.maybe_shared;
    }
    pub fn sub(&mut self, o: Disagreements) {
        self.mapcount -= o.mapcount;
        self.page_mapcount -= o.page_mapcount;
        self.maybe_shared -= o.maybe_shared;
    }
    pub fn total(&self) -> u64 {
        self.mapcount + self.page_mapcount + self.maybe_shared
    }
}

/// What one run of one scenario under one scheme produced.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Statements performed (a failure does not stop the run; a run error or panic does).
    pub statements: u64,
    pub failure: Option<Failure>,
    /// Problems reported in total (every statement after a bug may report it again).
    pub problems: u64,
    pub disagreements: Disagreements,
    /// FNV-1a over every record rendered as JSON when [`ExecOptions::digest`] asks for it
    /// (otherwise the FNV offset basis).
    pub digest: u64,
}

/// Options of a run.
#[derive(Clone, Copy, Debug)]
pub struct ExecOptions {
    /// Count estimate disagreements after every statement (on the folios it touched).
    pub count_disagreements: bool,
    /// Check every statement in full (`--full-check`) instead of on what it touched.
    pub full_check: bool,
    /// Also check in full every this many statements (0: never) and after the last
    /// statement of each case, so that a touched set that missed something is caught.
    pub full_check_every: u64,
    /// Check both ways after every statement and panic when they disagree (a panic is a
    /// failure of the case): the agreement tests.
    pub check_agreement: bool,
    /// Compute [`RunResult::digest`] (every record rendered as JSON and hashed: a fifth
    /// of a campaign's time, so only tests that compare runs record by record ask for it).
    pub digest: bool,
}

/// Statements between two full checks in a fuzz case by default.
pub const FULL_CHECK_EVERY: u64 = 100;

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            count_disagreements: true,
            full_check: false,
            full_check_every: FULL_CHECK_EVERY,
            check_agreement: false,
            digest: false,
        }
    }
}

/// Runs a validated scenario under `scheme`.
pub fn run_one(scenario: &Scenario, scheme: &SchemeSpec, opts: ExecOptions) -> RunResult {
    let mut inner = scheme.runner();
    inner.check_agreement |= opts.check_agreement;
    let counting = Counting {
        opts,
        statements: 0,
        total: scenario.statements().count() as u64,
        disagreements: Disagreements::default(),
        per_folio: BTreeMap::new(),
        current: Disagreements::default(),
    };
    let mut runner = Hooked::new(inner, counting);
    let mut result = RunResult {
        digest: FNV_OFFSET,
        ..RunResult::default()
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // Page records are read only by the digest: without it none is built.
        let drive = if opts.digest {
            drive
        } else {
            drive_without_page_records
        };
        drive(scenario, &mut runner, &mut |r: &Record| {
            if opts.digest {
                result.digest = fnv(result.digest, foliolab_driver::render_json(r).as_bytes());
            }
            match r {
                Record::Problem(p) => classify(&mut result, scheme, p.line, p.kind, &p.message),
                Record::Expect(e) if e.result == ExpectResult::Fail && scheme.leaks_fail() => {
                    result.problems += 1;
                    result.failure.get_or_insert(Failure {
                        scheme: scheme.name.clone(),
                        kind: FailKind::Expect,
                        line: e.line,
                        message: format!(
                            "{}: expected {}, observed {}",
                            e.text, e.expected, e.observed
                        ),
                    });
                }
                _ => {}
            }
        })
    }));
    let counting = runner.hooks;
    result.statements = counting.statements;
    result.disagreements = counting.disagreements;
    if let Err(payload) = outcome {
        let message = crate::panics::message(payload.as_ref());
        let line = statement_line(scenario, counting.statements);
        result.problems += 1;
        result.failure.get_or_insert(Failure {
            scheme: scheme.name.clone(),
            kind: FailKind::Panic,
            line,
            message,
        });
    }
    result
}

fn statement_line(s: &Scenario, performed: u64) -> u32 {
    s.statements()
        .nth(performed as usize)
        .map_or(0, |st| st.pos.line)
}

fn classify(r: &mut RunResult, scheme: &SchemeSpec, line: u32, kind: ProblemKind, msg: &str) {
    let kind = match kind {
        ProblemKind::Leak if !scheme.leaks_fail() => return,
        ProblemKind::Leak => FailKind::Leak,
        ProblemKind::WrongRead => FailKind::WrongRead,
        ProblemKind::Invariant => FailKind::Invariant,
        ProblemKind::Oracle => FailKind::Oracle,
        // The model never reports a died process; were it to, it is a run that ended.
        ProblemKind::RunError | ProblemKind::Died => FailKind::RunError,
    };
    r.problems += 1;
    r.failure.get_or_insert(Failure {
        scheme: scheme.name.clone(),
        kind,
        line,
        message: msg.to_string(),
    });
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits, continued from `h`.
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h ^= 0xff;
    h.wrapping_mul(0x100_0000_01b3)
}

/// Hooks on the model runner that count statements and estimate disagreements, and choose
/// which statements are checked in full.
struct Counting {
    opts: ExecOptions,
    statements: u64,
    /// Statements in the case.
    total: u64,
    disagreements: Disagreements,
    /// Each mapped folio's disagreements after the last statement (folios with none are
    /// absent), and their sum.
    per_folio: BTreeMap<Pfn, Disagreements>,
    current: Disagreements,
}

impl Counting {
    /// Adds the disagreements of every mapped folio after this statement: re-judges the
    /// folios the statement touched (all of them after a full check), keeps the others'.
    fn count_disagreements(&mut self, inner: &ModelRunner, full: bool) {
        let model = inner.model();
        let fresh;
        let (truth, touched) = match inner.last_truth() {
            Some(t) => (t, (!full).then(|| inner.last_touched())),
            None => {
                fresh =
                    foliolab_oracle::recount(model.processes().map(|(_, p)| &p.aspace), &model.mem);
                (&fresh, None)
            }
        };
        let heads: Vec<Pfn> = match touched {
            Some(t) => t.to_vec(),
            None => {
                self.per_folio.clear();
                self.current = Disagreements::default();
                truth.keys().collect()
            }
        };
        for head in heads {
            if let Some(old) = self.per_folio.remove(&head) {
                self.current.sub(old);
            }
            if let Some(t) = truth.get(&head) {
                let d = folio_disagreements(model, head, &t);
                if d.total() > 0 {
                    self.current.add(d);
                    self.per_folio.insert(head, d);
                }
            }
        }
        self.disagreements.add(self.current);
    }
}

/// One mapped folio's estimates against its truth.
fn folio_disagreements(model: &foliolab_model::Model, head: Pfn, t: &FolioTruth) -> Disagreements {
    let mut d = Disagreements::default();
    let f = model.folio(head);
    if model.folio_mapcount(f) != t.total_entries() as i64 {
        d.mapcount += 1;
    }
    if model.folio_maybe_mapped_shared(f) != t.is_mapped_shared() {
        d.maybe_shared += 1;
    }
    for i in 0..f.nr_pages() {
        let mapped = t.page_mapcount(i as usize) as i64;
        if mapped > 0 && model.kpagecount(f, head.add(i)) != mapped {
            d.page_mapcount += 1;
        }
    }
    d
}

impl StatementHooks<ModelRunner> for Counting {
    fn after_statement(&mut self, inner: &mut ModelRunner, stmt: &Stmt) -> Vec<Problem> {
        self.statements += 1;
        let n = self.statements;
        let every = self.opts.full_check_every;
        let full =
            self.opts.full_check || (every > 0 && n.is_multiple_of(every)) || n == self.total;
        inner.full_check = full;
        let out = inner.after_statement(stmt);
        if self.opts.count_disagreements {
            self.count_disagreements(inner, full);
        }
        out
    }
}

/// Whether the runner can perform `kind` (asked with a one-statement scenario).
pub fn model_supports(kind: foliolab_scenario::StmtKind) -> bool {
    let era = foliolab_model::Era::LINUX_6_18;
    let runner = ModelRunner::new(era.design).expect("the era's design is registered");
    let s = crate::gen::build(vec![kind]);
    foliolab_driver::check_supported(&s, &runner).is_empty()
}

/// The support table for [`crate::ops::OPS`] on the model.
pub fn model_support_table() -> crate::Supported {
    crate::ops::OPS
        .iter()
        .map(|op| model_supports((op.sample)()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn shapes_ignore_numbers() {
        assert_eq!(
            shape("Pfn(4096) (linux-6.18): _large_mapcount 16, page tables map it 32 times"),
            shape("Pfn(512) (linux-6.18): _large_mapcount 3, page tables map it 4 times")
        );
        assert_eq!(shape("read 0x1a00 at 0x10000"), "read # at #");
        assert_ne!(shape("refcount 3"), shape("mapcount 3"));
    }
}
