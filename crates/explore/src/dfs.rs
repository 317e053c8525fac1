//! Exhaustive exploration of a case's interleavings up to a preemption bound.
//!
//! Stateless depth-first search with replay, as loom does it (`src/rt/path.rs`): an execution
//! follows a recorded branch path from a fresh world, then takes the first option at every
//! new branch point; backtracking advances the deepest branch point with an untried option
//! and replays from the start. Switching away from a thread that could have continued is a
//! preemption; at most `bound` of them per execution (CHESS's iterative context bounding,
//! Musuvathi and Qadeer, PLDI 2007; loom's `LOOM_MAX_PREEMPTIONS`). Switching away from a
//! finished or waiting thread is free.
//!
//! State-hash reduction: after each new step the execution's fingerprint (world and thread
//! states) is looked up with the thread that ran; if that pair was reached before with no
//! more preemptions spent, every continuation from here was explored (or is being explored)
//! from there, and the execution stops. Interleavings of independent steps that reach the
//! same state therefore cost one exploration, which is what makes a bound of 2-3 affordable.

use crate::exec::{Case, Exec};
use crate::step::Tid;
use crate::world::{Event, Knobs};
use std::collections::{BTreeMap, BTreeSet};

/// Search limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Preemptions allowed per execution.
    pub bound: u32,
    /// Merge executions that reach an already explored state.
    pub state_hashing: bool,
}

/// What a search did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Executions run (each from a fresh world).
    pub executions: u64,
    /// Steps run, replays included.
    pub steps: u64,
    /// Distinct states (fingerprints) reached.
    pub states: u64,
    /// Executions cut short because their state was explored before.
    pub pruned: u64,
    /// The longest execution, in steps.
    pub max_depth: u64,
    /// The bound was exhausted (no violation stopped the search early).
    pub complete: bool,
}

/// A violation and the schedule that reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub message: String,
    pub schedule: Vec<Tid>,
}

/// The result of exploring one case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stats: SearchStats,
    pub violation: Option<Found>,
    /// Facts seen (step observations), with how many explored steps saw them.
    pub observations: BTreeMap<String, u64>,
}

/// One branch point: the threads that may run there (the one that ran before first) and how
/// many of them were tried.
struct Frame {
    options: Vec<Tid>,
    tried: usize,
}

struct Search {
    limits: Limits,
    stack: Vec<Frame>,
    visited: BTreeMap<(u64, Tid), u32>,
    fingerprints: BTreeSet<u64>,
    out: Outcome,
}

/// Explores every interleaving of `case` under `design` within `limits`, stopping at the
/// first violation.
pub fn explore(
    case: &Case,
    design: &str,
    knobs: Knobs,
    limits: Limits,
) -> Result<Outcome, crate::Error> {
    let mut s = Search {
        limits,
        stack: Vec::new(),
        visited: BTreeMap::new(),
        fingerprints: BTreeSet::new(),
        out: Outcome::default(),
    };
    let mut worlds = Worlds::default();
    loop {
        let ex = worlds.fresh(case, design, knobs)?;
        let (ex, stop) = s.run(ex);
        worlds.done(ex);
        s.out.stats.executions += 1;
        if stop || !s.backtrack() {
            s.out.stats.complete = s.out.violation.is_none();
            break;
        }
    }
    s.out.stats.states = s.fingerprints.len() as u64;
    Ok(s.out)
}

/// Fresh worlds without fresh pages. Each execution builds a world of a few MiB of memmap
/// sections; freed at the top of the heap, glibc would return them to the kernel and fault
/// them in again for the next one. So the previous world is freed only after the next is
/// built, and a small fence allocated after each world keeps freed worlds off the top.
#[derive(Default)]
pub(crate) struct Worlds<'c> {
    previous: Option<Exec<'c>>,
    // Each fence must be its own allocation, placed after its world: boxed on purpose.
    #[allow(clippy::vec_box)]
    fences: Vec<Box<u64>>,
}

impl<'c> Worlds<'c> {
    pub(crate) fn fresh(
        &mut self,
        case: &'c Case,
        design: &str,
        knobs: Knobs,
    ) -> Result<Exec<'c>, crate::Error> {
        let ex = Exec::new(case, design, knobs)?;
        self.fences.push(Box::new(self.fences.len() as u64));
        drop(self.previous.take());
        Ok(ex)
    }
    pub(crate) fn done(&mut self, ex: Exec<'c>) {
        self.previous = Some(ex);
    }
}

/// The threads that may run next: the previous one first if it can continue, then (if the
/// budget allows a preemption, or the previous one cannot continue) the others.
fn options(enabled: &[Tid], last: Option<Tid>, spent: u32, bound: u32) -> Vec<Tid> {
    match last {
        Some(l) if enabled.contains(&l) => {
            let mut v = vec![l];
            if spent < bound {
                v.extend(enabled.iter().copied().filter(|&t| t != l));
            }
            v
        }
        _ => enabled.to_vec(),
    }
}

impl Search {
    /// Runs one execution along the stack, extending it; returns the execution and whether
    /// the search must stop (a violation).
    fn run<'c>(&mut self, mut ex: Exec<'c>) -> (Exec<'c>, bool) {
        let replayed = self.stack.len().saturating_sub(1);
        let (mut depth, mut spent, mut last) = (0usize, 0u32, None);
        let mut schedule = Vec::new();
        while !ex.finished() {
            let enabled = ex.enabled();
            if enabled.is_empty() {
                let msg = format!("deadlock: every live thread waits ({})", waiting(&ex));
                return (ex, self.found(msg, schedule));
            }
            if depth == self.stack.len() {
                let options = options(&enabled, last, spent, self.limits.bound);
                self.stack.push(Frame { options, tried: 0 });
            }
            let frame = &self.stack[depth];
            let t = frame.options[frame.tried];
            if last.is_some_and(|l| l != t && enabled.contains(&l)) {
                spent += 1;
            }
            let events = ex.step(t);
            schedule.push(t);
            self.out.stats.steps += 1;
            depth += 1;
            last = Some(t);
            let fresh = depth > replayed;
            if let Some(v) = self.absorb(events, fresh) {
                return (ex, self.found(v, schedule));
            }
            if fresh && self.seen(&ex, t, spent) {
                self.out.stats.pruned += 1;
                break;
            }
        }
        self.stack.truncate(depth);
        self.out.stats.max_depth = self.out.stats.max_depth.max(depth as u64);
        (ex, false)
    }

    /// Counts a fresh step's observations; returns its first violation.
    fn absorb(&mut self, events: Vec<Event>, fresh: bool) -> Option<String> {
        let mut violation = None;
        for e in events {
            match e {
                Event::Violation(v) => {
                    violation.get_or_insert(v);
                }
                Event::Observe(o) if fresh => *self.out.observations.entry(o).or_insert(0) += 1,
                Event::Observe(_) => {}
            }
        }
        violation
    }

    /// Whether this state (after thread `t` ran) was reached before with no more
    /// preemptions spent; records it otherwise.
    fn seen(&mut self, ex: &Exec, t: Tid, spent: u32) -> bool {
        let fp = ex.fingerprint();
        self.fingerprints.insert(fp);
        if !self.limits.state_hashing {
            return false;
        }
        match self.visited.get(&(fp, t)) {
            Some(&before) if before <= spent => true,
            _ => {
                self.visited.insert((fp, t), spent);
                false
            }
        }
    }

    fn found(&mut self, message: String, schedule: Vec<Tid>) -> bool {
        self.out.violation = Some(Found { message, schedule });
        true
    }

    /// Advances the deepest branch point with an untried option; false when none is left.
    fn backtrack(&mut self) -> bool {
        while let Some(top) = self.stack.last_mut() {
            if top.tried + 1 < top.options.len() {
                top.tried += 1;
                return true;
            }
            self.stack.pop();
        }
        false
    }
}

fn waiting(ex: &Exec) -> String {
    (0..ex.threads.len())
        .filter(|&t| !ex.threads[t].done)
        .map(|t| format!("{} at {}", ex.case.threads[t].name, ex.next_step_name(t)))
        .collect::<Vec<_>>()
        .join("; ")
}
