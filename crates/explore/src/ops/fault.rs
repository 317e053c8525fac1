//! `do_anonymous_page` with a new (possibly large) folio, and stores through a PTE.

use super::{named, ptl, release, take};
use crate::locks::{Lock, Mode};
use crate::step::{Flow, Op, Regs, Step};
use crate::world::{va, World};
use foliolab_mem::{PageFlags, Pte};
use foliolab_types::{Order, Pfn};

/// An anonymous fault of MM `mm` at page `first` that maps a new folio of `order` over
/// pages `first..first + 2^order`, writable and exclusive (6.18 `do_anonymous_page`: the
/// folio comes out of the allocator with one reference, `folio_ref_add(nr - 1)`,
/// `folio_add_new_anon_rmap`, `set_ptes`, all under the PTL).
pub fn fault_new(mm: u8, first: u64, order: Order) -> Op {
    let nr = order.nr_pages();
    Op::new(named("do_anonymous_page", mm), true)
        .step(take(Lock::Mmap(mm), Mode::Shared))
        .step(Step::new(
            format!("vma_alloc_folio(order {})", order.0),
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                r.new_folio = w.alloc_folio(order).head.0;
                Flow::Next
            }),
        ))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(Step::new(
            format!("folio_ref_add({})", nr - 1),
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                w.mem.ref_add(Pfn(r.new_folio), nr as i32 - 1);
                Flow::Next
            }),
        ))
        .step(Step::new(
            "folio_add_new_anon_rmap",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let f = w.folio(Pfn(r.new_folio));
                for i in 0..nr {
                    w.mem
                        .page_mut(f.head.add(i))
                        .flags
                        .set(PageFlags::ANON_EXCLUSIVE, true);
                }
                w.rmap_add_new(f, mm);
                Flow::Next
            }),
        ))
        .step(Step::new(
            format!("set_ptes({nr})"),
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                for i in 0..nr {
                    let pte = Pte::present(Pfn(r.new_folio).add(i), true, true);
                    w.set_pte(mm, va(first + i), pte);
                }
                Flow::Next
            }),
        ))
        .step(release(ptl(mm)))
        .step(release(Lock::Mmap(mm)))
}

/// A store by MM `mm` to page `i` (its PTE must be writable: after a fault or a reuse).
pub fn write(mm: u8, i: u64) -> Op {
    Op::new(named("store", mm), false).step(Step::new(
        format!("store to page {i}"),
        Box::new(move |w: &mut World, _: &mut Regs, _| {
            w.write(mm, va(i));
            Flow::Next
        }),
    ))
}
