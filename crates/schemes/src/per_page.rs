//! The per-page adapter for designs from before rmap batching (6.8/6.9): they got one rmap
//! call per page (`page_add_anon_rmap`, `page_remove_rmap(page, vma, false)`), so a batch
//! event is replayed page by page. The consequence (kernel note 9.4): after the first page of
//! a fully mapped folio is removed the folio looks partially mapped, so it is queued for
//! deferred split even when the rest of the batch unmaps it entirely.

use crate::event::{Removed, StatDelta};
use foliolab_types::Pfn;

/// Calls `one` for each page of `[first, first + nr)`; sums the statistics and reports the
/// folio partially mapped if any single call did.
pub fn each_page(first: Pfn, nr: u64, mut one: impl FnMut(Pfn) -> Removed) -> Removed {
    let mut out = Removed::default();
    for i in 0..nr {
        let r = one(first.add(i));
        out.stat = sum(out.stat, r.stat);
        out.partially_mapped |= r.partially_mapped;
    }
    out
}

fn sum(a: StatDelta, b: StatDelta) -> StatDelta {
    StatDelta {
        nr: a.nr + b.nr,
        nr_pmd: a.nr_pmd + b.nr_pmd,
    }
}
