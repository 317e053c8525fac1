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
    /// The kernel: model-only expectations and noisy counters are skipped.
    Kernel,
}

impl SkipPolicy {
    pub fn for_run(scenario: &Scenario, kind: &RunnerKind) -> SkipPolicy {
        match kind {
            RunnerKind::Kernel { .. } => SkipPolicy::Kernel,
            RunnerKind::Model { scheme } if schemes(scenario).contains(scheme) => {
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
            SkipPolicy::Kernel if model_only => Some("kernel"),
            _ => None,
        }
    }

    /// Why `expect stat NAME` is skipped (`scheme`, `kernel`, `noisy`), if it is.
    pub fn skip_stat(self, counter: &str) -> Option<&'static str> {
        match (self, counter_class(counter)) {
            (SkipPolicy::OtherScheme, _) => Some("scheme"),
            (SkipPolicy::Kernel, Some(CounterClass::ModelOnly)) => Some("kernel"),
            (SkipPolicy::Kernel, Some(CounterClass::Noisy)) => Some("noisy"),
            _ => None,
        }
    }
}

/// The schemes the scenario's expectations describe.
pub fn schemes(scenario: &Scenario) -> Vec<String> {
    for st in scenario.statements() {
        if let StmtKind::Schemes { names } = &st.kind {
            return names.clone();
        }
    }
    vec![DEFAULT_SCHEME.to_string()]
}
