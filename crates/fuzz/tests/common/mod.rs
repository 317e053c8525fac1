//! What the canary tests share (a design with a planted bug that the fuzzer must catch): a
//! campaign under that design alone, and the first case it fails within a fixed budget.

use foliolab_fuzz::campaign::{Campaign, CaseResult};
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::{ExecOptions, SchemeSpec};

/// Cases a campaign may run before the planted bug counts as escaped.
pub const CASES_BUDGET: u64 = 64;

/// A campaign of 120-statement cases from `seed` under `scheme` alone; estimate
/// disagreements are not counted (only failures catch a canary).
pub fn canary_campaign(seed: u64, scheme: SchemeSpec) -> Campaign {
    Campaign {
        seed,
        steps: 120,
        schemes: vec![scheme],
        support: model_support_table(),
        opts: ExecOptions {
            count_disagreements: false,
            ..ExecOptions::default()
        },
        check_determinism: false,
        shard: (0, 1),
    }
}

/// The campaign's first failing case within [`CASES_BUDGET`] cases, if any.
pub fn first_failing_case(c: &Campaign) -> Option<CaseResult> {
    let mut caught = None;
    c.sweep(2, Some(CASES_BUDGET), &|| false, &mut |r| {
        if caught.is_none() && r.failed() {
            caught = Some(r);
        }
    });
    caught
}
