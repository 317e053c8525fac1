//! Which expectations a run checks (spec 3.5, 3.6).

use crate::runner::RunnerKind;
use foliolab_scenario::{counter_class, CounterClass, ProcOp, Scenario, StmtKind};

/// The scheme expectations describe when a scenario names none.
pub const DEFAULT_SCHEME: &str = "linux-6.18";

/// How a runner relates to the scenario's expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipPolicy {
    /// A model under one of the scenario's schemes: everything is checked.
    CheckAll,
    /// A model under another scheme: only values (`==`, pins, pipes) are checked.
    OtherScheme,
    /// A model of another kernel generation under that generation's design, running a
    /// scenario that names no schemes: what a kernel can see is checked (the scenario
    /// describes a kernel, and `check --kernel K` compares these results with K's), the
    /// model-only expectations, which describe `linux-6.18`'s internals, are `scheme`.
    EraKernel,
    /// The kernel: model-only expectations and noisy counters are skipped.
    Kernel,
}

impl SkipPolicy {
    /// `default` is the design a scenario naming no schemes describes (the runner's kernel
    /// generation's, [`crate::Runner::kernel_design`]).
    pub fn for_run(scenario: &Scenario, kind: &RunnerKind, default: &str) -> SkipPolicy {
        match kind {
            RunnerKind::Kernel { .. } => SkipPolicy::Kernel,
            RunnerKind::Model { scheme }
                if default != DEFAULT_SCHEME && scheme == default && !names_schemes(scenario) =>
            {
                SkipPolicy::EraKernel
            }
            RunnerKind::Model { scheme } if schemes(scenario, default).contains(scheme) => {
                SkipPolicy::CheckAll
            }
            RunnerKind::Model { .. } => SkipPolicy::OtherScheme,
        }
    }

    /// Why a process expectation is skipped (`scheme`, `kernel`), if it is.
    pub fn skip_op(self, op: &ProcOp) -> Option<&'static str> {
        let value = matches!(
            op,
            ProcOp::ExpectValue { .. } | ProcOp::ExpectPin { .. } | ProcOp::ExpectPipe { .. }
        );
        let model_only = matches!(op, ProcOp::ExpectFolio { .. } | ProcOp::ExpectPage { .. });
        match self {
            SkipPolicy::OtherScheme if !value => Some("scheme"),
            SkipPolicy::EraKernel if model_only => Some("scheme"),
            SkipPolicy::Kernel if model_only => Some("kernel"),
            _ => None,
        }
    }

    /// Why `expect stat NAME` is skipped (`scheme`, `kernel`, `noisy`), if it is.
    pub fn skip_stat(self, counter: &str) -> Option<&'static str> {
        match (self, counter_class(counter)) {
            (SkipPolicy::OtherScheme, _) => Some("scheme"),
            (SkipPolicy::EraKernel, Some(CounterClass::ModelOnly)) => Some("scheme"),
            (SkipPolicy::Kernel, Some(CounterClass::ModelOnly)) => Some("kernel"),
            (SkipPolicy::Kernel, Some(CounterClass::Noisy)) => Some("noisy"),
            _ => None,
        }
    }
}

fn names_schemes(scenario: &Scenario) -> bool {
    scenario
        .statements()
        .any(|st| matches!(st.kind, StmtKind::Schemes { .. }))
}

/// The schemes the scenario's expectations describe: those it names, or `default` (the
/// design of the kernel generation run).
pub fn schemes(scenario: &Scenario, default: &str) -> Vec<String> {
    for st in scenario.statements() {
        if let StmtKind::Schemes { names } = &st.kind {
            return names.clone();
        }
    }
    vec![default.to_string()]
}
