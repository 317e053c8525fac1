//! A write fault on a read-only anonymous PTE (`do_wp_page`): reuse the page or copy it.
//!
//! Under the MM_ID designs the large-folio rule is run as 6.15+
//! `__wp_can_reuse_large_anon_folio` does it, one read at a time: large mapcount <= 1 (no),
//! the "maybe mapped shared" bit (no), large mapcount != refcount (no), then under
//! `folio_lock_large_mapcount` the bit and the comparison again. Other designs decide in one
//! step through the design's own rule (5.7's mapcount rule, "never reuse a large folio"
//! before 6.15, vma-count's and rmap-id's rules). The COW copy is `wp_page_copy`, simplified:
//! the PTL is held across the allocation instead of dropped and the PTE re-checked.

use super::zap::deferred_split_step;
use super::{lock_large_mapcount, named, ptl, release, rmap_blocked, take};
use crate::locks::{mm_name, Lock, Mode};
use crate::step::{Flow, Op, Regs, Step, Tid};
use crate::world::{va, World};
use foliolab_mem::{PageFlags, Pte};
use foliolab_types::{Order, Pfn};

/// A store by MM `mm` to page `i`, which write-faults (`do_wp_page`) while the PTE is
/// read-only and retries the store after the fault; a migration entry makes it wait
/// (`migration_entry_wait`).
pub fn wp_fault(mm: u8, i: u64, mm_id_rule: bool, knobs: crate::world::Knobs) -> Op {
    let mut op = Op::new(named("store+do_wp_page", mm), true)
        .step(store_step(mm, i))
        .step(take(Lock::Mmap(mm), Mode::Shared))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(read_step(mm, i));
    op = if mm_id_rule {
        op.steps(mm_id_reuse_steps(knobs))
    } else {
        op.step(design_reuse_step(mm))
    };
    op.step(reuse_step(mm, i))
        .steps(copy_steps(mm, i))
        .step(release(ptl(mm)).labelled("unlock"))
        .step(Step::new(
            format!("release {}, retry the store", Lock::Mmap(mm)),
            Box::new(move |w: &mut World, _: &mut Regs, t: Tid| {
                w.locks.release(Lock::Mmap(mm), t);
                Flow::Goto("store")
            }),
        ))
}

/// The store itself: through a writable PTE it lands; a read-only one faults.
fn store_step(mm: u8, i: u64) -> Step {
    Step::guarded(
        format!("store to page {i}"),
        Box::new(move |w: &World, _: &Regs, _| w.migration_entry(mm, va(i)).is_none()),
        Box::new(move |w: &mut World, _: &mut Regs, _| {
            let pte = w.pte(mm, va(i));
            if !pte.is_present() {
                w.observe("store to an unmapped page (not modelled further)");
                return Flow::EndOp;
            }
            if pte.writable() {
                w.write(mm, va(i));
                return Flow::EndOp;
            }
            Flow::Next
        }),
    )
    .labelled("store")
}

fn read_step(mm: u8, i: u64) -> Step {
    Step::new(
        "read PTE, vm_normal_folio, PageAnonExclusive",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let pte = w.pte(mm, va(i));
            if !pte.is_present() || pte.writable() {
                return Flow::Goto("unlock");
            }
            r.page = pte.pfn().0;
            r.folio = w.mem.folio_of(pte.pfn()).0;
            if w.mem.page(pte.pfn()).flags.has(PageFlags::ANON_EXCLUSIVE) {
                return Flow::Goto("reuse");
            }
            Flow::Next
        }),
    )
}

fn large(w: &World, r: &Regs) -> bool {
    w.folio(Pfn(r.folio)).is_large()
}

fn mapcount_and_ref(w: &World, r: &Regs) -> (i64, i64) {
    let f = w.folio(Pfn(r.folio));
    (w.design.mapcount(f, &w.mem), w.refcount(f.head) as i64)
}

/// `__wp_can_reuse_large_anon_folio`, read by read.
fn mm_id_reuse_steps(knobs: crate::world::Knobs) -> Vec<Step> {
    let mut v = vec![
        Step::new(
            "folio_large_mapcount(folio) <= 1 ?",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if !large(w, r) {
                    let (_, rc) = mapcount_and_ref(w, r);
                    return if rc == 1 {
                        Flow::Goto("reuse")
                    } else {
                        Flow::Goto("copy")
                    };
                }
                match mapcount_and_ref(w, r).0 <= 1 {
                    true => Flow::Goto("copy"),
                    false => Flow::Next,
                }
            }),
        ),
        shared_bit_step("folio_test_large_maybe_mapped_shared ?"),
    ];
    if knobs.reuse_refcount_check {
        v.push(compare_step("folio_large_mapcount != folio_ref_count ?"));
    }
    if knobs.reuse_lock {
        v.push(lock_large_mapcount());
        v.push(shared_bit_step("re-check the shared bit (locked)"));
        if knobs.reuse_refcount_check {
            v.push(compare_step("re-check large mapcount == refcount (locked)"));
        }
        v.push(Step::new(
            "folio_unlock_large_mapcount: exclusive",
            Box::new(|w: &mut World, r: &mut Regs, t: Tid| {
                w.locks.release(Lock::LargeMapcount(r.folio), t);
                Flow::Goto("reuse")
            }),
        ));
    }
    v
}

fn unlock_if_held(w: &mut World, r: &Regs, t: Tid) {
    if w.locks.holds(Lock::LargeMapcount(r.folio), t) {
        w.locks.release(Lock::LargeMapcount(r.folio), t);
    }
}

fn shared_bit_step(name: &'static str) -> Step {
    Step::new(
        name,
        Box::new(|w: &mut World, r: &mut Regs, t: Tid| {
            let f = w.folio(Pfn(r.folio));
            if w.design.maybe_shared(f) {
                unlock_if_held(w, r, t);
                return Flow::Goto("copy");
            }
            Flow::Next
        }),
    )
}

fn compare_step(name: &'static str) -> Step {
    Step::new(
        name,
        Box::new(|w: &mut World, r: &mut Regs, t: Tid| {
            let (mapcount, rc) = mapcount_and_ref(w, r);
            if mapcount != rc {
                unlock_if_held(w, r, t);
                return Flow::Goto("copy");
            }
            Flow::Next
        }),
    )
}

/// Designs other than MM_ID decide in one step with their own rule.
/// Other designs decide in one step with their own rule, under the folio lock taken with
/// `folio_trylock` (a failed trylock copies), as `wp_can_reuse_anon_folio` does for small
/// folios and 5.7's `do_wp_page` did around `reuse_swap_page`.
fn design_reuse_step(mm: u8) -> Step {
    Step::new(
        "folio_trylock + wp_can_reuse_anon_folio (the design's rule)",
        Box::new(move |w: &mut World, r: &mut Regs, t: Tid| {
            let f = w.folio(Pfn(r.folio));
            if !w.locks.can_take(Lock::Folio(f.head.0), Mode::Exclusive, t) {
                return Flow::Goto("copy");
            }
            let rc = w.refcount(f.head) as i64;
            if w.design.can_reuse(f, rc, w.mm_id(mm)) {
                Flow::Next
            } else {
                Flow::Goto("copy")
            }
        }),
    )
}

/// `wp_page_reuse`: the decision is judged against every other MM's reach of the page.
fn reuse_step(mm: u8, i: u64) -> Step {
    Step::new(
        "wp_page_reuse: PTE writable, page exclusive",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let page = Pfn(r.page);
            for other in 0..w.mms.len() as u8 {
                if other == mm {
                    continue;
                }
                if let Some(how) = w.reaches(other, page) {
                    w.violation(format!(
                        "{} reuses page {:#x} while {} can still reach it through {how}: \
                         {} would see {}'s later writes",
                        mm_name(mm),
                        page.0,
                        mm_name(other),
                        mm_name(other),
                        mm_name(mm)
                    ));
                }
            }
            w.observe("COW: reused");
            w.mem
                .page_mut(page)
                .flags
                .set(PageFlags::ANON_EXCLUSIVE, true);
            let pte = w.pte(mm, va(i));
            w.set_pte(mm, va(i), pte.with_write(true).with_dirty(true));
            Flow::Goto("unlock")
        }),
    )
    .labelled("reuse")
}

fn copy_steps(mm: u8, i: u64) -> Vec<Step> {
    vec![
        Step::new(
            "wp_page_copy: alloc, copy, folio_add_new_anon_rmap",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                w.observe("COW: copied");
                let new = w.alloc_folio(Order(0));
                let content = w.mem.content(Pfn(r.page));
                w.mem.set_content(new.head, content);
                w.mem
                    .page_mut(new.head)
                    .flags
                    .set(PageFlags::ANON_EXCLUSIVE, true);
                w.rmap_add_new(new, mm);
                r.new_folio = new.head.0;
                Flow::Next
            }),
        )
        .labelled("copy"),
        Step::new(
            "ptep_clear_flush + set_pte_at(new page)",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                w.set_pte(mm, va(i), Pte::present(Pfn(r.new_folio), true, true));
                Flow::Next
            }),
        ),
        Step::guarded(
            "folio_remove_rmap_pte(old)",
            Box::new(|w: &World, r: &Regs, t| !rmap_blocked(w, r.folio, t)),
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let f = w.folio(Pfn(r.folio));
                r.partial = w.rmap_remove(f, Pfn(r.page), 1, mm);
                Flow::Next
            }),
        ),
        deferred_split_step(),
        Step::new(
            "folio_put(old)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                w.put_refs(Pfn(r.folio), 1);
                Flow::Next
            }),
        ),
    ]
}
