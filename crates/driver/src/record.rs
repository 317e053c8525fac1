//! The records a run produces (spec 4.1). Human output and JSON lines are two renderings of
//! the same records.

use foliolab_scenario::SmapsField;
use std::collections::BTreeMap;

/// One output record; `line` is the scenario line (0 for the summary).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Page(PageRecord),
    Smaps(SmapsRecord),
    Stats(StatsRecord),
    Expect(ExpectRecord),
    /// A problem the model found (broken invariant, leak, oracle disagreement) or a run
    /// error; not an expectation.
    Problem(ProblemRecord),
    Summary(SummaryRecord),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PageRecord {
    pub line: u32,
    pub proc: String,
    pub region: String,
    pub offset_bytes: u64,
    /// `present`, `zeropage`, `swapped`, `none`.
    pub state: String,
    /// Canonical frame name (`p1`, `zero`, `hzero`).
    pub frame: Option<String>,
    /// Canonical folio name (`f1`, `zero`, `hzero`).
    pub folio: Option<String>,
    pub order: Option<u8>,
    pub index: Option<u64>,
    pub mapcount: Option<u64>,
    pub exclusive: Option<bool>,
    pub pmd: Option<bool>,
    pub flags: Vec<String>,
    /// Model-only fields as a JSON object (model runs only).
    pub model: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmapsRecord {
    pub line: u32,
    pub proc: String,
    pub region: String,
    pub vma_start_bytes: u64,
    pub vma_end_bytes: u64,
    pub fields_kb: BTreeMap<SmapsField, u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StatsRecord {
    pub line: u32,
    /// Counter name to its change since just before the first `spawn`; zero changes omitted.
    pub counters: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectResult {
    Pass,
    Fail,
    /// `skipped(kernel)`, `skipped(scheme)`, `skipped(noisy)`.
    Skipped(String),
}

impl ExpectResult {
    pub fn text(&self) -> String {
        match self {
            ExpectResult::Pass => "pass".into(),
            ExpectResult::Fail => "fail".into(),
            ExpectResult::Skipped(why) => format!("skipped({why})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExpectRecord {
    pub line: u32,
    /// The statement in canonical form.
    pub text: String,
    pub result: ExpectResult,
    pub expected: String,
    pub observed: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A read returned data another process wrote after the fork that separated them.
    Leak,
    /// A read returned a value the oracle says is wrong (not a leak).
    WrongRead,
    /// A state invariant (kernel note section 14) does not hold.
    Invariant,
    /// An exact counter disagrees with the oracle.
    Oracle,
    /// The statement could not run (exit 2).
    RunError,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProblemRecord {
    pub line: u32,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRecord {
    /// `model:<scheme>` or `kernel:<release>`.
    pub runner: String,
    pub pass: u64,
    pub fail: u64,
    pub skipped: u64,
    pub leaks: u64,
    pub exit: i32,
}
