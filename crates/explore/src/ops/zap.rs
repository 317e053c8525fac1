//! Unmapping a range (munmap): `zap_pte_range` with PTE batching, the mmu_gather and the
//! orderings argued over for MMU_GATHER_NO_GATHER (s390).
//!
//! - 6.9+ (`zap_present_folio_ptes`): clear the batch, `folio_remove_rmap_ptes`, then
//!   `__tlb_remove_folio_pages`; references go after the TLB flush (`tlb_finish_mmu`), or at
//!   once on NO_GATHER, where clearing the PTE already flushed it.
//! - June 2023 batched zap (Ryan Roberts, "mm: Batch-zap large anonymous folio PTE
//!   mappings"): per page clear + `__tlb_remove_page` (on NO_GATHER that drops the page's
//!   reference at once), then one rmap removal for the batch, bracketed by `folio_get` /
//!   `folio_put` so the folio cannot be freed while still in the rmap.

use super::{named, ptl, release, rmap_blocked, take};
use crate::locks::{Lock, Mode};
use crate::step::{Flow, Op, Regs, Step};
use crate::world::{va, World, ZapOrder};
use foliolab_mem::PageFlags;
use foliolab_types::Pfn;

/// The next batch in MM `mm`'s pages `from..end`: (first index, length, first page).
pub(crate) fn next_batch(w: &World, mm: u8, from: u64, end: u64) -> Option<(u64, u64, Pfn)> {
    let start = (from..end).find(|&i| {
        let p = w.pte(mm, va(i));
        p.is_present() && !p.is_special()
    })?;
    let first = w.pte(mm, va(start)).pfn();
    let f = w.folio_of(first);
    let folio_end = f.head.0 + f.nr_pages();
    let mut len = 1;
    while start + len < end {
        let p = w.pte(mm, va(start + len));
        let pfn = first.0 + len;
        if !p.is_present() || p.is_special() || p.pfn().0 != pfn || pfn >= folio_end {
            break;
        }
        len += 1;
    }
    Some((start, len, first))
}

/// munmap of MM `mm`'s pages `first..first + nr`, with the given zap ordering.
pub fn zap(mm: u8, first: u64, nr: u64, order: ZapOrder) -> Op {
    let end = first + nr;
    let mut op = Op::new(named("munmap", mm), true)
        .step(take(Lock::Mmap(mm), Mode::Exclusive))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(find_batch_step(mm, first, end, order));
    op = match order {
        ZapOrder::RmapFirst => op.steps(rmap_first_steps(mm)),
        ZapOrder::RyanV1 { extra_get } => op.steps(ryan_v1_steps(mm, extra_get)),
        ZapOrder::RmapBeforeClear => op.steps(rmap_before_clear_steps(mm)),
    };
    op.step(release(ptl(mm)).labelled("unlock"))
        .step(Step::new(
            "tlb_finish_mmu: flush the TLB",
            Box::new(move |w: &mut World, _: &mut Regs, _| {
                w.flush_tlb(mm);
                Flow::Next
            }),
        ))
        .step(Step::new(
            "tlb_finish_mmu: free_pages_and_swap_cache",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                for (head, refs) in std::mem::take(&mut r.gather) {
                    w.put_refs(Pfn(head), refs);
                }
                Flow::Next
            }),
        ))
        .step(release(Lock::Mmap(mm)))
}

fn find_batch_step(mm: u8, first: u64, end: u64, order: ZapOrder) -> Step {
    let clears = order == ZapOrder::RmapFirst;
    let name = if clears {
        "folio_pte_batch + clear_full_ptes"
    } else {
        "folio_pte_batch"
    };
    Step::new(
        name,
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let from = first.max(r.idx as u64);
            let Some((start, len, page)) = next_batch(w, mm, from, end) else {
                return Flow::Goto("unlock");
            };
            r.batch = (start as u32, len as u32, 0);
            r.idx = (start + len) as u32;
            r.page = page.0;
            r.folio = w.mem.folio_of(page).0;
            if clears {
                for i in start..start + len {
                    w.clear_pte(mm, va(i));
                }
            }
            Flow::Next
        }),
    )
    .labelled("batch")
}

/// `folio_remove_rmap_ptes` for the current batch (waits for the large-mapcount lock).
fn remove_rmap_step(mm: u8, name: &'static str) -> Step {
    Step::guarded(
        name,
        Box::new(|w: &World, r: &Regs, t| !rmap_blocked(w, r.folio, t)),
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let f = w.folio(Pfn(r.folio));
            r.partial = w.rmap_remove(f, Pfn(r.page), r.batch.1 as u64, mm);
            Flow::Next
        }),
    )
}

/// `deferred_split_folio` when the removal reported a partial mapping.
pub fn deferred_split_step() -> Step {
    Step::new(
        "deferred_split_folio",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            let f = w.folio(Pfn(r.folio));
            if w.live.contains(&f.head) && r.partial {
                let flagged = f.order.0 >= 2
                    && w.mem
                        .page(f.head.add(1))
                        .flags
                        .has(PageFlags::PARTIALLY_MAPPED);
                if !flagged {
                    w.queue_partial(f);
                }
            }
            r.partial = false;
            Flow::Next
        }),
    )
}

fn tlb_remove_folio_pages_step() -> Step {
    Step::new(
        "__tlb_remove_folio_pages",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            let refs = r.batch.1 as i32;
            if w.knobs.no_gather {
                w.put_refs(Pfn(r.folio), refs);
            } else {
                r.gather.push((r.folio, refs));
            }
            Flow::Goto("batch")
        }),
    )
}

fn rmap_first_steps(mm: u8) -> Vec<Step> {
    vec![
        remove_rmap_step(mm, "folio_remove_rmap_ptes"),
        deferred_split_step(),
        tlb_remove_folio_pages_step(),
    ]
}

fn rmap_before_clear_steps(mm: u8) -> Vec<Step> {
    vec![
        remove_rmap_step(mm, "folio_remove_rmap_ptes (before the PTEs are cleared)"),
        deferred_split_step(),
        Step::new(
            "clear_full_ptes",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let (start, len, _) = r.batch;
                for i in start..start + len {
                    w.clear_pte(mm, va(i as u64));
                }
                Flow::Next
            }),
        ),
        tlb_remove_folio_pages_step(),
    ]
}

fn ryan_v1_steps(mm: u8, extra_get: bool) -> Vec<Step> {
    let mut v = Vec::new();
    if extra_get {
        v.push(Step::new(
            "folio_get (keep the folio while in the rmap)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                w.mem.ref_add(Pfn(r.folio), 1);
                Flow::Next
            }),
        ));
    }
    v.push(
        Step::new(
            "ptep_get_and_clear_full + __tlb_remove_page",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let (start, len, done) = r.batch;
                w.clear_pte(mm, va((start + done) as u64));
                if w.knobs.no_gather {
                    w.put_refs(Pfn(r.folio), 1);
                } else {
                    r.gather.push((r.folio, 1));
                }
                r.batch.2 = done + 1;
                if done + 1 < len {
                    Flow::Goto("clear")
                } else {
                    Flow::Next
                }
            }),
        )
        .labelled("clear"),
    );
    v.push(remove_rmap_step(mm, "folio_remove_rmap_range"));
    v.push(deferred_split_step());
    v.push(Step::new(
        if extra_get { "folio_put" } else { "next batch" },
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            if extra_get {
                w.put_refs(Pfn(r.folio), 1);
            }
            Flow::Goto("batch")
        }),
    ));
    v
}
