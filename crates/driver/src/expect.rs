//! Checking expectations (spec 3.3) and `expect stat` (3.1).

use crate::drive::Driver;
use crate::outcome::Outcome;
use crate::pages;
use crate::record::ExpectResult;
use crate::runner::RunError;
use foliolab_scenario::{ProcOp, Stmt};
use foliolab_types::format_size_bytes;

impl Driver<'_> {
    pub(crate) fn expectation(
        &mut self,
        st: &Stmt,
        proc: &str,
        op: &ProcOp,
    ) -> Result<(), RunError> {
        if let Some(why) = self.policy.skip_op(op) {
            self.record(
                st,
                ExpectResult::Skipped(why.into()),
                String::new(),
                String::new(),
            );
            return Ok(());
        }
        let o = self.outcome(proc, op)?;
        let result = if o.pass {
            ExpectResult::Pass
        } else {
            ExpectResult::Fail
        };
        self.record(st, result, o.expected, o.observed);
        Ok(())
    }

    pub(crate) fn expect_stat(
        &mut self,
        st: &Stmt,
        counter: &str,
        delta: i64,
    ) -> Result<(), RunError> {
        let unshown = (!self.runner.shows_counter(counter)).then_some("kernel");
        if let Some(why) = self.policy.skip_stat(counter).or(unshown) {
            self.record(
                st,
                ExpectResult::Skipped(why.into()),
                String::new(),
                String::new(),
            );
            return Ok(());
        }
        let got = self.runner.stats()?.get(counter).copied().unwrap_or(0);
        let o = Outcome::scalar(delta, got);
        let result = if o.pass {
            ExpectResult::Pass
        } else {
            ExpectResult::Fail
        };
        self.record(st, result, o.expected, o.observed);
        Ok(())
    }

    fn outcome(&mut self, proc: &str, op: &ProcOp) -> Result<Outcome, RunError> {
        Ok(match op {
            ProcOp::ExpectValue { range, value } => {
                let values = self.runner.read(proc, range)?;
                let items = values
                    .iter()
                    .map(|v| (v.offset_bytes, v.value == *value, format!("{:#x}", v.value)))
                    .collect();
                Outcome::per_page(format!("{value:#x}"), items)
            }
            ProcOp::ExpectPin { name, value } | ProcOp::ExpectPipe { name, value } => {
                held(&self.runner.held_values(proc, name)?, *value)
            }
            ProcOp::ExpectFaults { faults } => Outcome::scalar(faults, self.runner.faults(proc)?),
            ProcOp::ExpectRss { kind, pages } => {
                Outcome::scalar(pages, self.runner.rss_pages(proc, *kind)?)
            }
            ProcOp::ExpectSmaps {
                region,
                field,
                size_bytes,
            } => {
                let vmas = self.runner.smaps(proc, region)?;
                let kb: u64 = vmas
                    .iter()
                    .map(|v| v.fields_kb.get(field).copied().unwrap_or(0))
                    .sum();
                let observed = format_size_bytes(kb.saturating_mul(1024));
                Outcome::scalar(format_size_bytes(*size_bytes), observed)
            }
            ProcOp::ExpectSame {
                range,
                snapshot,
                at_bytes,
            } => self.compare_snapshot(proc, range, snapshot, *at_bytes, true)?,
            ProcOp::ExpectNew {
                range,
                snapshot,
                at_bytes,
            } => self.compare_snapshot(proc, range, snapshot, *at_bytes, false)?,
            _ => self.page_outcome(proc, op)?,
        })
    }

    /// Expectations answered from `Runner::pages`.
    fn page_outcome(&mut self, proc: &str, op: &ProcOp) -> Result<Outcome, RunError> {
        let Some(range) = op.range() else {
            return Err(RunError::new("internal: expectation without a range"));
        };
        let obs = self.runner.pages(proc, range)?;
        Ok(match op {
            ProcOp::ExpectState { state, .. } => pages::state(&obs, *state),
            ProcOp::ExpectMapcount { mapcount, .. } => pages::mapcount(&obs, *mapcount),
            ProcOp::ExpectExclusive { exclusive, .. } => pages::exclusive(&obs, *exclusive),
            ProcOp::ExpectPmd { pmd, .. } => pages::pmd(&obs, *pmd),
            ProcOp::ExpectOrder { order, .. } => pages::order(&obs, *order),
            ProcOp::ExpectFolio { field, value, .. } => pages::folio_field(&obs, *field, value),
            ProcOp::ExpectPage { field, value, .. } => pages::page_field(&obs, *field, value),
            _ => return Err(RunError::new("internal: not a page expectation")),
        })
    }
}

/// Every page held by a pin or pipe reads `value` (pages named by their index `#i`).
fn held(values: &[u64], value: u64) -> Outcome {
    let bad: Vec<String> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != value)
        .map(|(i, v)| format!("#{i}: {v:#x}"))
        .collect();
    let pass = !values.is_empty() && bad.is_empty();
    let observed = match (values.is_empty(), pass) {
        (true, _) => "no pages".to_string(),
        (false, true) => format!("{} pages: {value:#x}", values.len()),
        (false, false) => bad.join(", "),
    };
    Outcome {
        pass,
        expected: format!("{value:#x}"),
        observed,
    }
}
