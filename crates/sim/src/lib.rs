//! Runs scenarios on the model: [`ModelRunner`] implements the report crate's `Runner`
//! trait, so the shared driver checks expectations exactly as it does on the kernel. After
//! every statement the runner checks the model's invariants and the scheme's counters
//! against the oracle's recount of the page tables, and every read against the oracle's
//! expected memory (leaks).

mod address;
mod gup;
mod observe;
pub mod place;
mod placed;
mod runner;
mod support;
mod thp;
mod vma_check;

pub use runner::{check_agreement_by_default, full_check_by_default, ModelRunner, Peaks};

use foliolab_driver::{drive, Record, SummaryRecord};
use foliolab_scenario::Scenario;

/// Runs a validated scenario under `scheme`; `None` for an unknown scheme.
pub fn run_scenario(
    scenario: &Scenario,
    scheme: &str,
    sink: &mut dyn FnMut(&Record),
) -> Option<SummaryRecord> {
    let mut runner = ModelRunner::new(scheme)?;
    Some(drive(scenario, &mut runner, sink))
}

/// Names of the schemes the model can run under.
pub fn scheme_names() -> Vec<&'static str> {
    foliolab_schemes::registry::names().collect()
}

/// docs/schemes/adding-a-design.md, whose code rebuilds the `exact` design and checks it
/// against the registered one: run by `cargo test -p foliolab-sim --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/schemes/adding-a-design.md")]
mod adding_a_design {}
