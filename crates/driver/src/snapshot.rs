//! `remember`, `same`, `new`: raw frames recorded per region offset.

use crate::drive::Driver;
use crate::outcome::Outcome;
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
        let pages = self.runner.pages(proc, range)?;
        let mut snap = Snapshot::default();
        for (off, p) in pages {
            if let (PageState::Present, Some(frame)) = (state_of(&p), p.frame) {
                snap.frames
                    .insert(off, (frame, self.runner.frame_epoch(frame)));
            }
        }
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
        let pages = self.runner.pages(proc, range)?;
        let snap = self.snapshots.get(name).cloned().unwrap_or_default();
        let start = range_start(range.form);
        let mut items = Vec::new();
        for (off, p) in pages {
            let key = at.map_or(off, |a| a.saturating_add(off.saturating_sub(start)));
            let item = match (state_of(&p), p.frame, snap.frames.get(&key)) {
                (PageState::Present, Some(frame), Some(&(old, epoch))) => {
                    if epoch.is_some() && self.runner.frame_epoch(old) != epoch {
                        let why = format!("snapshot {name} refers to freed memory");
                        return Err(RunError::new(why));
                    }
                    let same = frame == old;
                    (
                        off,
                        same == want_same,
                        if same { "same" } else { "new" }.to_string(),
                    )
                }
                (PageState::Present, _, None) => (off, false, "not in snapshot".to_string()),
                (state, _, _) => (off, false, state.name().to_string()),
            };
            items.push(item);
        }
        let expected = if want_same {
            format!("same as {name}")
        } else {
            format!("new, not {name}")
        };
        Ok(Outcome::per_page(expected, items))
    }
}
