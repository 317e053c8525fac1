//! `remember`, `same`, `new`: raw frames recorded per region offset.

use crate::drive::Driver;
use crate::outcome::{Outcome, PerPage};
use crate::pages::state_of;
use crate::runner::RunError;
use foliolab_scenario::{PageState, Range, RangeForm};
use std::collections::BTreeMap;

/// The frames a `remember` saw: region offset to (raw frame, frame epoch).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub frames: BTreeMap<u64, (u64, Option<u64>)>,
}

/// The first offset of a range.
pub fn range_start(form: RangeForm) -> u64 {
    match form {
        RangeForm::Whole => 0,
        RangeForm::Page { offset_bytes } => offset_bytes,
        RangeForm::Span { start_bytes, .. } | RangeForm::Len { start_bytes, .. } => start_bytes,
    }
}

impl Driver<'_> {
    pub(crate) fn remember(
        &mut self,
        proc: &str,
        name: &str,
        range: &Range,
    ) -> Result<(), RunError> {
        let mut snap = Snapshot::default();
        self.each_page(proc, range, &mut |d, off, p| {
            if let (PageState::Present, Some(frame)) = (state_of(&p), p.frame) {
                snap.frames
                    .insert(off, (frame, d.runner.frame_epoch(frame)));
            }
            Ok(())
        })?;
        self.snapshots.insert(name.to_string(), snap);
        Ok(())
    }

    /// `same` (`want_same`) or `new` against snapshot `name`.
    pub(crate) fn compare_snapshot(
        &mut self,
        proc: &str,
        range: &Range,
        name: &str,
        at: Option<u64>,
        want_same: bool,
    ) -> Result<Outcome, RunError> {
        let snap = self.snapshots.get(name).cloned().unwrap_or_default();
        let start = range_start(range.form);
        let mut acc = PerPage::default();
        self.each_page(proc, range, &mut |d, off, p| {
            let key = at.map_or(off, |a| a.saturating_add(off.saturating_sub(start)));
            match (state_of(&p), p.frame, snap.frames.get(&key)) {
                (PageState::Present, Some(frame), Some(&(old, epoch))) => {
                    // A frame freed since `remember` only matters when it is the frame the
                    // page has now: "same" cannot be told from reuse; another frame is new.
                    if frame == old && epoch.is_some() && d.runner.frame_epoch(old) != epoch {
                        let why = format!("snapshot {name} refers to freed memory");
                        return Err(RunError::new(why));
                    }
                    let same = frame == old;
                    acc.push(off, same == want_same, if same { "same" } else { "new" });
                }
                (PageState::Present, _, None) => acc.push(off, false, "not in snapshot"),
                (state, _, _) => acc.push(off, false, state.name()),
            }
            Ok(())
        })?;
        let expected = if want_same {
            format!("same as {name}")
        } else {
            format!("new, not {name}")
        };
        Ok(acc.finish(expected))
    }
}
