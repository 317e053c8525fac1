//! Checking expectations (spec 3.3) and `expect stat` (3.1).

use crate::drive::Driver;
use crate::outcome::Outcome;
use crate::pages::PageCheck;
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
            self.skipped(st, why);
            return Ok(());
        }
        let o = self.outcome(proc, op)?;
        self.judged(st, o);
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
            self.skipped(st, why);
            return Ok(());
        }
        let got = self.runner.stats()?.get(counter).copied().unwrap_or(0);
        let o = Outcome::scalar(delta, got);
        self.judged(st, o);
        Ok(())
    }

    /// The record of an expectation skipped for `why`.
    fn skipped(&mut self, st: &Stmt, why: &str) {
        let result = ExpectResult::Skipped(why.into());
        self.record(st, result, String::new(), String::new());
    }

    /// The record of an expectation checked: pass or fail, with both sides.
    fn judged(&mut self, st: &Stmt, o: Outcome) {
        let result = if o.pass {
            ExpectResult::Pass
        } else {
            ExpectResult::Fail
        };
        self.record(st, result, o.expected, o.observed);
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

    /// Expectations answered from the page observations, checked batch by batch.
    fn page_outcome(&mut self, proc: &str, op: &ProcOp) -> Result<Outcome, RunError> {
        let (Some(range), Some(mut check)) = (op.range(), PageCheck::new(op)) else {
            return Err(RunError::new("internal: not a page expectation"));
        };
        self.each_page(proc, range, &mut |_, off, p| {
            check.push(off, &p);
            Ok(())
        })?;
        Ok(check.finish())
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
