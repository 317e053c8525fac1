//! Observations (spec 3.4): page, smaps and stats records.

use crate::drive::Driver;
use crate::model_fields;
use crate::obs::PageObs;
use crate::record::*;
use crate::runner::RunError;
use foliolab_scenario::{counter_class, CounterClass, Range, Stmt};

impl Driver<'_> {
    pub(crate) fn observe(&mut self, st: &Stmt, proc: &str, range: &Range) -> Result<(), RunError> {
        if !self.page_records {
            return self.each_page(proc, range, &mut |_, _, _| Ok(()));
        }
        self.each_page(proc, range, &mut |d, off, p| {
            let rec = d.page_record(st.pos.line, proc, &range.region, off, &p);
            (d.sink)(&Record::Page(rec));
            Ok(())
        })
    }

    /// Hands every page observation of `range` to `f`, in address order, one runner batch
    /// at a time (never the whole range at once).
    pub(crate) fn each_page(
        &mut self,
        proc: &str,
        range: &Range,
        f: &mut dyn FnMut(&mut Self, u64, PageObs) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let mut done = 0u64;
        loop {
            let batch = self.runner.pages_batch(proc, range, done)?;
            if batch.is_empty() {
                return Ok(());
            }
            done += batch.len() as u64;
            for (off, p) in batch {
                f(self, off, p)?;
            }
        }
    }

    fn page_record(
        &mut self,
        line: u32,
        proc: &str,
        region: &str,
        off: u64,
        p: &PageObs,
    ) -> PageRecord {
        let runner = &mut *self.runner;
        let (frame, folio) = self.names.of_page(p, &mut |raw| runner.frame_epoch(raw));
        PageRecord {
            line,
            proc: proc.to_string(),
            region: region.to_string(),
            offset_bytes: off,
            state: crate::pages::state_of(p).name().to_string(),
            frame,
            folio,
            order: p.order,
            index: p.index,
            mapcount: p.mapcount,
            exclusive: p.exclusive,
            pmd: p.pmd,
            flags: p.flags.clone(),
            model: p.model.as_ref().map(model_fields::to_json),
        }
    }

    pub(crate) fn observe_smaps(
        &mut self,
        st: &Stmt,
        proc: &str,
        region: &str,
    ) -> Result<(), RunError> {
        for vma in self.runner.smaps(proc, region)? {
            let rec = SmapsRecord {
                line: st.pos.line,
                proc: proc.to_string(),
                region: region.to_string(),
                vma_start_bytes: vma.vma_start_bytes,
                vma_end_bytes: vma.vma_end_bytes,
                fields_kb: vma.fields_kb,
            };
            (self.sink)(&Record::Smaps(rec));
        }
        Ok(())
    }

    pub(crate) fn observe_stats(&mut self, st: &Stmt) -> Result<(), RunError> {
        let counters = self
            .runner
            .stats()?
            .into_iter()
            .filter(|(name, delta)| *delta != 0 && counter_class(name) == Some(CounterClass::Exact))
            .collect();
        (self.sink)(&Record::Stats(StatsRecord {
            line: st.pos.line,
            counters,
        }));
        Ok(())
    }
}
