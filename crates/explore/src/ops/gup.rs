//! GUP-fast (`gup_fast_pte_range` and `try_grab_folio_fast`, `mm/gup.c`): a lockless walk
//! with interrupts off (an RCU read-side section for page-table freeing), a speculative
//! reference with `folio_try_get` on the folio the page belonged to when the walker looked,
//! then two re-checks: `page_folio(page)` is still that folio (it may have been freed and
//! its memory reused), and the PTE still holds the value read (it may have been zapped).
//! FOLL_GET, as vmsplice takes it; the reference is held until released.

use super::{named, release, take};
use crate::locks::{mm_name, Lock, Mode};
use crate::step::{Flow, Op, Regs, Step};
use crate::world::{va, Hold, World};
use foliolab_mem::Pte;
use foliolab_types::Pfn;

/// GUP-fast of MM `mm`'s page `i`; `recheck`: the kernel's two re-checks (false: the
/// test-only variant without them).
pub fn gup_fast(mm: u8, i: u64, recheck: bool) -> Op {
    let mut op = Op::new(named("gup_fast", mm), false)
        .step(take(Lock::Rcu, Mode::Shared))
        .step(read_pte_step(mm, i))
        .step(try_get_step(mm, i));
    if recheck {
        op = op.steps(recheck_steps(mm, i));
    }
    op.step(Step::new(
        "GUP-fast returns the page",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            if !r.flag {
                w.violation(format!(
                    "GUP-fast in {} took a reference on {:#x} when its PTE no longer mapped \
                     that page of that folio: it hands out memory it does not own",
                    mm_name(mm),
                    r.page
                ));
            }
            w.holds.push(Hold {
                mm,
                page: Pfn(r.page),
            });
            Flow::Next
        }),
    ))
    .step(release(Lock::Rcu))
    .step(Step::new(
        "GUP-fast done",
        Box::new(|_: &mut World, _: &mut Regs, _| Flow::EndOp),
    ))
    .step(release(Lock::Rcu).labelled("fail"))
}

fn read_pte_step(mm: u8, i: u64) -> Step {
    Step::new(
        "ptep_get (lockless) + page_folio",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let pte = w.pte(mm, va(i));
            r.pte = pte.0;
            if !pte.is_present() || pte.is_special() {
                return Flow::Goto("fail");
            }
            r.page = pte.pfn().0;
            r.folio = w.mem.folio_of(pte.pfn()).0;
            Flow::Next
        }),
    )
}

fn try_get_step(mm: u8, i: u64) -> Step {
    Step::new(
        "folio_try_get (add unless zero)",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            if !w.try_get(Pfn(r.folio)) {
                return Flow::Goto("fail");
            }
            // The reference is sound if, at this instant, the PTE still maps the page and
            // the page still belongs to the folio the reference was taken on.
            r.flag = w.pte(mm, va(i)).0 == r.pte && w.mem.folio_of(Pfn(r.page)).0 == r.folio;
            Flow::Next
        }),
    )
}

fn recheck_steps(mm: u8, i: u64) -> Vec<Step> {
    vec![
        Step::new(
            "re-check page_folio(page) == folio",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if w.mem.folio_of(Pfn(r.page)).0 != r.folio {
                    w.put_refs(Pfn(r.folio), 1);
                    return Flow::Goto("fail");
                }
                Flow::Next
            }),
        ),
        Step::new(
            "re-check the PTE (pte_val unchanged)",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                if w.pte(mm, va(i)) != Pte(r.pte) {
                    w.put_refs(Pfn(r.folio), 1);
                    return Flow::Goto("fail");
                }
                r.flag = true;
                Flow::Next
            }),
        ),
    ]
}

/// Reading through the reference GUP-fast took (a pipe's reader, a device): seeing another
/// MM's store from during the race is a leak.
pub fn read_held(mm: u8) -> Op {
    Op::new(named("read pipe", mm), false).step(Step::new(
        "read through the GUP reference",
        Box::new(move |w: &mut World, _: &mut Regs, _| {
            let pages: Vec<Pfn> = w
                .holds
                .iter()
                .filter(|h| h.mm == mm)
                .map(|h| h.page)
                .collect();
            for p in pages {
                w.read(mm, p, "its GUP reference");
            }
            Flow::Next
        }),
    ))
}

/// `put_page` of every reference MM `mm` holds.
pub fn release_held(mm: u8) -> Op {
    Op::new(named("put_page", mm), false).step(Step::new(
        "put_page (release the GUP references)",
        Box::new(move |w: &mut World, _: &mut Regs, _| {
            let mine: Vec<Hold> = w.holds.iter().copied().filter(|h| h.mm == mm).collect();
            w.holds.retain(|h| h.mm != mm);
            for h in mine {
                let head = w.mem.folio_of(h.page);
                w.put_refs(head, 1);
            }
            Flow::Next
        }),
    ))
}

/// A PFN walker (compaction, memory-failure, /proc/kpage*): from a PFN, `page_folio`, a
/// speculative `folio_try_get`, a re-check that the page still belongs to that folio, a look
/// at the folio, `folio_put`.
pub fn pfn_walker(window_index: usize) -> Op {
    Op::new("pfn_walker", false)
        .step(Step::new(
            "pfn_to_page + page_folio",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let page = w.window[window_index];
                r.page = page.0;
                r.folio = w.mem.folio_of(page).0;
                Flow::Next
            }),
        ))
        .step(Step::new(
            "folio_try_get (add unless zero)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if !w.try_get(Pfn(r.folio)) {
                    return Flow::EndOp;
                }
                Flow::Next
            }),
        ))
        .step(Step::new(
            "re-check page_folio(page) == folio",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if w.mem.folio_of(Pfn(r.page)).0 != r.folio {
                    w.put_refs(Pfn(r.folio), 1);
                    return Flow::EndOp;
                }
                Flow::Next
            }),
        ))
        .step(Step::new(
            "folio_put",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                w.put_refs(Pfn(r.folio), 1);
                Flow::Next
            }),
        ))
}
