//! Shared by the explorer's tests.

#![allow(dead_code)]

use foliolab_explore::races::{Race, Variant};
use foliolab_explore::{explore, CaseResult, Limits, Mode};

/// Every case of `race` under `design` and `variant`, exhaustively at the race's bound.
pub fn run(race: &Race, v: &Variant, design: &str) -> Vec<CaseResult> {
    let limits = Limits {
        bound: race.bound,
        state_hashing: true,
    };
    explore(race, v, design, None, Mode::Exhaustive(limits)).expect("explores")
}

/// The designs a variant runs under.
pub fn designs(race: &Race, v: &Variant) -> Vec<&'static str> {
    match v.design {
        Some(d) => vec![d],
        None => race.designs.to_vec(),
    }
}
