//! The lockless "is this folio shared?" check of MADV_COLD / MADV_PAGEOUT
//! (`madvise_cold_or_pageout_pte_range`): under the caller's mmap_lock (read) and PTL, but
//! without any lock of the folio, it asks `folio_maybe_mapped_shared` (6.15+) or the era's
//! equivalent and skips the folio if "shared". Under the MM_ID designs the query is two
//! plain loads (`folio_large_mapcount`, then the shared bit) and runs as two steps; other
//! designs answer in one step.
//!
//! The answer is judged against the page tables over the query's window (from the PTE read
//! to the answer): "exclusive" while two or more MMs mapped the folio at every instant of
//! the window is a false negative, a violation for designs that promise none; the other
//! kinds of wrong or stale answers are counted.

use super::{named, ptl, release, take};
use crate::locks::{Lock, Mode};
use crate::step::{Flow, Op, Regs, Step};
use crate::world::{va, World};
use foliolab_types::Pfn;

/// MADV_COLD of MM `mm`'s page `i`.
pub fn cold(mm: u8, i: u64, two_loads: bool) -> Op {
    let mut op = Op::new(named("madvise_cold", mm), false)
        .step(take(Lock::Mmap(mm), Mode::Shared))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(Step::new(
            "read PTE, vm_normal_folio",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let pte = w.pte(mm, va(i));
                if !pte.is_present() || pte.is_special() {
                    return Flow::Goto("unlock");
                }
                r.page = pte.pfn().0;
                r.folio = w.mem.folio_of(pte.pfn()).0;
                let n = w.nr_mms_mapping(w.folio(Pfn(r.folio)));
                r.window = Some((n, n));
                Flow::Next
            }),
        ));
    if two_loads {
        op = op
            .step(Step::new(
                "folio_large_mapcount (lockless load)",
                Box::new(|w: &mut World, r: &mut Regs, _| {
                    let f = w.folio(Pfn(r.folio));
                    if w.design.mapcount(f, &w.mem) <= 1 {
                        r.answer = Some(false);
                        return Flow::Goto("judge");
                    }
                    Flow::Next
                }),
            ))
            .step(Step::new(
                "test_bit(FOLIO_MM_IDS_SHARED_BITNUM) (lockless load)",
                Box::new(|w: &mut World, r: &mut Regs, _| {
                    let f = w.folio(Pfn(r.folio));
                    r.answer = Some(w.design.counters(f).maybe_shared == Some(true));
                    Flow::Next
                }),
            ));
    } else {
        op = op.step(Step::new(
            "folio_maybe_mapped_shared (the design's query)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                let f = w.folio(Pfn(r.folio));
                r.answer = Some(w.design.maybe_shared(f));
                Flow::Next
            }),
        ));
    }
    op.step(judge_step().labelled("judge"))
        .step(release(ptl(mm)).labelled("unlock"))
        .step(release(Lock::Mmap(mm)))
}

fn judge_step() -> Step {
    Step::new(
        "skip the folio if shared",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            let (lo, hi) = r.window.take().unwrap_or((0, 0));
            let shared = r.answer.take().unwrap_or(false);
            judge(w, shared, lo, hi);
            Flow::Next
        }),
    )
}

/// Classifies an answer against the fewest (`lo`) and most (`hi`) MMs that mapped the folio
/// while the query was in flight.
pub(crate) fn judge(w: &mut World, shared: bool, lo: u8, hi: u8) {
    let kind = match (shared, lo, hi) {
        (false, lo, _) if lo >= 2 => {
            if w.design.no_false_exclusive() {
                w.violation(format!(
                    "the lockless check said 'exclusive' while {lo}+ MMs mapped the folio \
                     throughout, and {} promises no false negatives",
                    w.design.name
                ));
            }
            "false exclusive (2+ MMs mapped throughout)"
        }
        (false, _, hi) if hi >= 2 => "stale exclusive (true for part of the window)",
        (true, _, hi) if hi <= 1 => "false shared (at most one MM mapped throughout)",
        (true, lo, _) if lo <= 1 => "stale shared (true for part of the window)",
        (true, _, _) => "right: shared",
        (false, _, _) => "right: exclusive",
    };
    w.observe(format!("lockless check: {kind}"));
}
