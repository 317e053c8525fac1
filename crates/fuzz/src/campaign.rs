//! Campaigns: many cases (one generated scenario each, run under every scheme) over all
//! cores, `--shard I/N` selecting the cases whose index is I modulo N so any batch scheduler
//! can spread a campaign over machines. Case `i` of campaign seed `S` is generated from
//! `case_seed(S, i)`, so a case replays alone (`--index i`) and shards never overlap.
//! Results are handed over in index order, whatever order the threads finish in.

use crate::exec::{run_one, ExecOptions, RunResult, SchemeSpec};
use crate::gen::{Gen, Supported};
use crate::prng::{case_seed, Prng, Rng};
use foliolab_scenario::Scenario;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

#[derive(Clone)]
pub struct Campaign {
    pub seed: u64,
    /// Statements per scenario after the preamble.
    pub steps: usize,
    pub schemes: Vec<SchemeSpec>,
    pub support: Supported,
    pub opts: ExecOptions,
    /// Run each case twice and compare everything it outputs.
    pub check_determinism: bool,
    /// `(I, N)`: only indices `i` with `i % N == I`.
    pub shard: (u64, u64),
}

/// One case: its scenario and one result per scheme.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub index: u64,
    pub seed: u64,
    pub scenario: Scenario,
    pub runs: Vec<(String, RunResult)>,
    /// Lines this case outputs (compared by the determinism check).
    pub lines: Vec<String>,
    /// The first line that differed between the two runs of the determinism check.
    pub nondeterminism: Option<String>,
}

impl CaseResult {
    pub fn statements(&self) -> u64 {
        self.runs.iter().map(|(_, r)| r.statements).sum()
    }
    pub fn failed(&self) -> bool {
        self.nondeterminism.is_some() || self.runs.iter().any(|(_, r)| r.failure.is_some())
    }
}

impl Campaign {
    /// The `n`-th index of this shard.
    pub fn shard_index(&self, n: u64) -> u64 {
        let (i, count) = self.shard;
        assert!(count > 0 && i < count, "shard {i}/{count}");
        n * count + i
    }

    /// The scenario of case `index`.
    pub fn scenario(&self, index: u64) -> Scenario {
        let seed = case_seed(self.seed, index);
        Gen::new(Rng::new(Prng::new(seed)), &self.support).scenario(self.steps)
    }

    /// Generates and runs case `index` (twice under the determinism check).
    pub fn case(&self, index: u64) -> CaseResult {
        let mut first = self.case_once(index);
        if self.check_determinism {
            let second = self.case_once(index);
            first.nondeterminism = first_difference(&first.lines, &second.lines);
        }
        first
    }

    fn case_once(&self, index: u64) -> CaseResult {
        let seed = case_seed(self.seed, index);
        let scenario = self.scenario(index);
        let mut lines: Vec<String> = foliolab_scenario::print(&scenario)
            .lines()
            .map(str::to_string)
            .collect();
        let mut runs = Vec::new();
        for spec in &self.schemes {
            let r = run_one(&scenario, spec, self.opts);
            lines.push(format!("{}: {r:?}", spec.name));
            runs.push((spec.name.clone(), r));
        }
        CaseResult {
            index,
            seed,
            scenario,
            runs,
            lines,
            nondeterminism: None,
        }
    }

    /// Runs shard positions `0..` until `count` cases ran (if given) or `stop()` says so,
    /// on `jobs` threads, handing results to `each` in index order.
    pub fn sweep(
        &self,
        jobs: usize,
        count: Option<u64>,
        stop: &(dyn Fn() -> bool + Sync),
        each: &mut dyn FnMut(CaseResult),
    ) {
        let next = AtomicU64::new(0);
        let (tx, rx) = mpsc::channel::<CaseResult>();
        std::thread::scope(|scope| {
            for _ in 0..jobs.max(1) {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || loop {
                    if stop() {
                        return;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if count.is_some_and(|c| n >= c) {
                        return;
                    }
                    if tx.send(self.case(self.shard_index(n))).is_err() {
                        return;
                    }
                });
            }
            drop(tx);
            let mut pending = BTreeMap::new();
            let mut want = 0u64;
            for r in rx {
                pending.insert(r.index, r);
                while let Some(r) = pending.remove(&self.shard_index(want)) {
                    each(r);
                    want += 1;
                }
            }
            for (_, r) in pending {
                each(r);
            }
        });
    }
}

fn first_difference(a: &[String], b: &[String]) -> Option<String> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            return Some(format!("output line {}: {x:?} then {y:?}", i + 1));
        }
    }
    if a.len() != b.len() {
        return Some(format!("{} output lines, then {}", a.len(), b.len()));
    }
    None
}
