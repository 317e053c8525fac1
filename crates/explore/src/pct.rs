//! Randomized exploration for runs longer than the exhaustive bound: PCT, "probabilistic
//! concurrency testing" (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010), as
//! shuttle's `PctScheduler` implements it. Each run gives the threads random distinct
//! priorities and picks `depth - 1` random change points among the expected number of
//! steps; the highest-priority thread that can run, runs; at the i-th change point the
//! running thread drops below every initial priority. A bug of depth d is found by one run
//! with probability at least 1/(n k^(d-1)) for n threads and k steps.
//!
//! Every run's seed comes from the campaign seed ([`foliolab_types::prng::case_seed`]), so a
//! violation is reproduced by the campaign seed and run index, and by its schedule string.

use crate::dfs::{Found, Outcome};
use crate::exec::{Case, Exec};
use crate::step::Tid;
use crate::world::{Event, Knobs};
use foliolab_types::prng::{case_seed, Prng};

/// A PCT campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub seed: u64,
    pub runs: u64,
    /// The bug depth PCT targets (number of ordering constraints).
    pub depth: u32,
}

/// The run that found a violation, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PctOutcome {
    pub outcome: Outcome,
    pub failing_run: Option<u64>,
}

/// Runs `c.runs` PCT schedules of `case`; stops at the first violation.
pub fn random(
    case: &Case,
    design: &str,
    knobs: Knobs,
    c: Campaign,
) -> Result<PctOutcome, crate::Error> {
    let mut out = Outcome::default();
    let steps_estimate = case
        .threads
        .iter()
        .map(|t| t.ops.iter().map(|o| o.steps.len()).sum::<usize>())
        .sum::<usize>()
        .max(1) as u64;
    let mut worlds = crate::dfs::Worlds::default();
    for run in 0..c.runs {
        let ex = worlds.fresh(case, design, knobs)?;
        let mut rng = Prng::new(case_seed(c.seed, run));
        let (ex, found) = one_run(ex, &mut rng, c.depth, steps_estimate, &mut out);
        worlds.done(ex);
        out.stats.executions += 1;
        if let Some(f) = found {
            out.violation = Some(f);
            return Ok(PctOutcome {
                outcome: out,
                failing_run: Some(run),
            });
        }
    }
    out.stats.complete = true;
    Ok(PctOutcome {
        outcome: out,
        failing_run: None,
    })
}

fn one_run<'c>(
    mut ex: Exec<'c>,
    rng: &mut Prng,
    depth: u32,
    k: u64,
    out: &mut Outcome,
) -> (Exec<'c>, Option<Found>) {
    let n = ex.threads.len();
    let d = depth.max(1) as u64;
    // Initial priorities d .. d+n-1 in random order; change point i lowers to d-1-i.
    let mut prio: Vec<u64> = (0..n as u64).map(|i| d + i).collect();
    rng.shuffle(&mut prio);
    let changes: Vec<u64> = (1..d).map(|_| 1 + rng.below(k)).collect();
    let mut schedule: Vec<Tid> = Vec::new();
    while !ex.finished() {
        let enabled = ex.enabled();
        let Some(&t) = enabled.iter().max_by_key(|&&t| prio[t]) else {
            let f = Found {
                message: "deadlock: every live thread waits".into(),
                schedule,
            };
            return (ex, Some(f));
        };
        let events = ex.step(t);
        schedule.push(t);
        out.stats.steps += 1;
        for e in events {
            match e {
                Event::Violation(message) => return (ex, Some(Found { message, schedule })),
                Event::Observe(o) => *out.observations.entry(o).or_insert(0) += 1,
            }
        }
        let at = schedule.len() as u64;
        if let Some(i) = changes.iter().position(|&c| c == at) {
            prio[t] = d - 1 - i as u64;
        }
    }
    out.stats.max_depth = out.stats.max_depth.max(schedule.len() as u64);
    (ex, None)
}
