//! A bounded interleaving explorer for the races the mapcount designs are argued over.
//!
//! Every statement of the model is atomic; the linux-mm debate is mostly about what happens
//! between the steps of two operations. Here kernel operations are sequences of atomic
//! steps ([`step`], [`ops`]) with the locks each holds ([`locks`]), acting on the model's
//! memory, page tables and designs ([`world`], [`design`]). A [`races::Race`] names a
//! question from the debate, its cases (a setup and 2-3 threads) and its variants (the
//! kernel's code paths, historical proposals, and test-only unsafe versions).
//!
//! Exploration is exhaustive up to a preemption bound with state-hash reduction ([`dfs`]), or
//! randomized with PCT ([`pct`]). After every step the tail-refcount rule is checked; when no
//! operation that changes mapcounts is half done, the oracle's recount from the page tables
//! judges the design's counters; when every thread is between operations, refcounts are
//! judged too; and decision steps (reuse, GUP-fast's result, the lockless "shared?" answer,
//! deferred split) are judged when they are taken ([`check`]). A violation comes with its
//! schedule, which [`trace::replay`] turns into a readable trace.
//!
//! Pure: no I/O, no clock. `foliolab explore` prints and times.

pub mod check;
pub mod design;
pub mod dfs;
pub mod exec;
mod fingerprint;
pub mod locks;
pub mod mmid;
pub mod ops;
pub mod pct;
pub mod races;
pub mod step;
pub mod trace;
pub mod world;

pub use design::{Design, UnknownDesign, DESIGNS};
pub use dfs::{Found, Limits, Outcome, SearchStats};
pub use exec::Case;
/// The memory types the explorer's world exposes (`World::mem`, its page tables), so that a
/// caller can read them without depending on `foliolab-mem` itself.
pub use foliolab_mem::{Memory, PageFlags, Pte};
pub use races::{Race, Variant};
pub use trace::{ScheduleError, TraceLine};

/// Why an exploration could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    UnknownRace(String),
    UnknownVariant { race: String, variant: String },
    UnknownCase { race: String, case: String },
    UnknownDesign(UnknownDesign),
    Schedule(ScheduleError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::UnknownRace(r) => write!(f, "unknown race {r:?} (see --list)"),
            Error::UnknownVariant { race, variant } => {
                write!(f, "race {race} has no variant {variant:?} (see --list)")
            }
            Error::UnknownCase { race, case } => {
                write!(f, "race {race} has no case {case:?} (see --list)")
            }
            Error::UnknownDesign(d) => d.fmt(f),
            Error::Schedule(s) => s.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<UnknownDesign> for Error {
    fn from(e: UnknownDesign) -> Error {
        Error::UnknownDesign(e)
    }
}
impl From<ScheduleError> for Error {
    fn from(e: ScheduleError) -> Error {
        Error::Schedule(e)
    }
}

/// How to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every interleaving up to the preemption bound.
    Exhaustive(Limits),
    /// PCT random schedules.
    Random(pct::Campaign),
}

/// One case's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub case: &'static str,
    pub design: String,
    pub variant: &'static str,
    pub outcome: Outcome,
    /// Random mode: the run that found the violation.
    pub failing_run: Option<u64>,
}

/// The design a variant runs under: its own test-only design, or `design`.
pub fn design_for<'a>(variant: &Variant, design: &'a str) -> &'a str {
    variant.design.unwrap_or(design)
}

/// Explores the race's cases (all, or the one named) under `design` and `variant`.
pub fn explore(
    race: &Race,
    variant: &Variant,
    design: &str,
    case: Option<&str>,
    mode: Mode,
) -> Result<Vec<CaseResult>, Error> {
    let design = design_for(variant, design);
    let cases = (race.cases)(variant, design);
    if let Some(c) = case {
        if !cases.iter().any(|x| x.name == c) {
            return Err(Error::UnknownCase {
                race: race.name.into(),
                case: c.into(),
            });
        }
    }
    let mut out = Vec::new();
    for c in cases.iter().filter(|c| case.is_none_or(|n| n == c.name)) {
        let (outcome, failing_run) = match mode {
            Mode::Exhaustive(limits) => (dfs::explore(c, design, variant.knobs, limits)?, None),
            Mode::Random(campaign) => {
                let r = pct::random(c, design, variant.knobs, campaign)?;
                (r.outcome, r.failing_run)
            }
        };
        out.push(CaseResult {
            case: c.name,
            design: design.to_string(),
            variant: variant.name,
            outcome,
            failing_run,
        });
    }
    Ok(out)
}

/// Replays `schedule` in one case and returns the trace.
pub fn replay(
    race: &Race,
    variant: &Variant,
    design: &str,
    case: &str,
    schedule: &str,
) -> Result<Vec<TraceLine>, Error> {
    let design = design_for(variant, design);
    let cases = (race.cases)(variant, design);
    let c = cases
        .iter()
        .find(|c| c.name == case)
        .ok_or(Error::UnknownCase {
            race: race.name.into(),
            case: case.into(),
        })?;
    let schedule = trace::decode(schedule)?;
    trace::replay(c, design, variant.knobs, &schedule)
}

/// The command that replays a violation.
pub fn replay_command(race: &Race, r: &CaseResult, schedule: &[step::Tid]) -> String {
    format!(
        "foliolab explore {} --case {} --scheme {} --variant {} --replay {}",
        race.name,
        r.case,
        r.design,
        r.variant,
        trace::encode(schedule)
    )
}
