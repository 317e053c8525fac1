//! Folio split, migration and the deferred split shrinker (`mm/huge_memory.c`,
//! `mm/migrate.c`, `mm/rmap.c`), for a PTE-mapped anonymous folio:
//!
//! - `split_folio` (`__folio_split`): the caller holds a reference and the folio lock;
//!   `can_split_folio` (mapcount == refcount - 1); `unmap_folio` turns every PTE into a
//!   migration entry, MM by MM under each PTL (`try_to_migrate_one`, one rmap removal per
//!   PTE); `folio_ref_freeze(folio, 1)` fails if anyone took a reference meanwhile, and the
//!   entries are then restored; otherwise the memmap is split and every entry is restored
//!   to its new 4K folio (`remap_page`).
//! - `migrate_pages` of one folio: isolate (a reference), lock, unmap to migration entries,
//!   freeze at the isolation reference, copy to a new folio, restore the entries to the copy,
//!   requeue the copy if the original was queued as partially mapped.
//! - `deferred_split_scan`: under `split_queue_lock` take the first queued folio with
//!   `folio_try_get`; a partially mapped one is `folio_trylock`ed and split; one that is not
//!   partially mapped (and, at the default `max_ptes_none`, never underused) leaves the
//!   queue; a failed split puts it back.

use super::zap::deferred_split_step;
use super::{ptl, rmap_blocked};
use crate::locks::{mm_name, Lock, Mode};
use crate::step::{Flow, Op, ReadyFn, Regs, Step, Tid};
use crate::world::{va, Knobs, World, VA_PAGES};
use foliolab_mem::{PageFlags, Pte};
use foliolab_types::{Order, Pfn};

fn lock_of_folio(r: &Regs) -> Lock {
    Lock::Folio(r.folio)
}

/// Takes the lock `which` names for the current locals, waiting while it is held.
fn take_dyn(name: &'static str, which: fn(&Regs) -> Lock, mode: Mode) -> Step {
    let ready: ReadyFn =
        Box::new(move |w: &World, r: &Regs, t: Tid| w.locks.can_take(which(r), mode, t));
    Step::guarded(
        name,
        ready,
        Box::new(move |w: &mut World, r: &mut Regs, t| {
            w.locks.take(which(r), mode, t);
            Flow::Next
        }),
    )
}

fn ptl_of_idx(r: &Regs) -> Lock {
    ptl(r.idx as u8)
}

/// `split_folio` of the race's folio by a caller that takes its own reference first.
pub fn split_folio(k: Knobs) -> Op {
    Op::new("split_folio", true)
        .step(Step::new(
            "folio_try_get (the caller's reference)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                r.folio = w.focus.0;
                if !w.live.contains(&w.focus) || !w.try_get(w.focus) {
                    return Flow::EndOp;
                }
                Flow::Next
            }),
        ))
        .step(take_dyn("folio_lock", lock_of_folio, Mode::Exclusive))
        .steps(split_core(k))
}

/// The split itself, for a caller holding one reference and the folio lock.
fn split_core(k: Knobs) -> Vec<Step> {
    let mut v = vec![Step::new(
        "can_split_folio (mapcount == refcount - 1)",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            let f = w.folio(Pfn(r.folio));
            if w.design.mapcount(f, &w.mem) != w.refcount(f.head) as i64 - 1 {
                w.observe("split: refused by can_split_folio");
                return Flow::Goto("unlock");
            }
            r.idx = 0;
            r.loaded = f.nr_pages() as i64;
            Flow::Next
        }),
    )];
    v.extend(unmap_loop());
    v.push(freeze_step(k, 1, "folio_ref_freeze(folio, 1)"));
    v.push(Step::new(
        "__split_folio_to_order (memmap split, refcounts unfrozen at 1)",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            split_memmap(w, Pfn(r.folio));
            r.idx = 0;
            Flow::Next
        }),
    ));
    v.extend(remap_loop());
    v.push(Step::new(
        "unlock and put the new folios",
        Box::new(|w: &mut World, r: &mut Regs, t| {
            w.locks.release(Lock::Folio(r.folio), t);
            let head = Pfn(r.folio);
            for i in 0..r.loaded as u64 {
                w.put_refs(head.add(i), 1);
            }
            Flow::EndOp
        }),
    ));
    v.extend(fail_steps());
    v
}

/// `unmap_folio` / `try_to_migrate`: MM by MM, every PTE of the folio becomes a migration
/// entry (PTL held), with one rmap removal and one reference dropped per PTE.
fn unmap_loop() -> Vec<Step> {
    vec![
        Step::new(
            "rmap walk: next MM",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if r.idx as usize == w.mms.len() {
                    return Flow::Goto("freeze");
                }
                Flow::Next
            }),
        )
        .labelled("unmap"),
        take_dyn("take ptl", ptl_of_idx, Mode::Exclusive),
        Step::guarded(
            "try_to_migrate_one: PTEs -> migration entries, folio_remove_rmap_pte",
            Box::new(|w: &World, r: &Regs, t| !rmap_blocked(w, r.folio, t)),
            Box::new(|w: &mut World, r: &mut Regs, _| {
                unmap_mm(w, r);
                Flow::Next
            }),
        ),
        deferred_split_step(),
        Step::new(
            "release ptl",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                w.locks.release(ptl(r.idx as u8), t);
                r.idx += 1;
                Flow::Goto("unmap")
            }),
        ),
    ]
}

fn unmap_mm(w: &mut World, r: &mut Regs) {
    let mm = r.idx as u8;
    let f = w.folio(Pfn(r.folio));
    let end = f.head.0 + f.nr_pages();
    for i in 0..VA_PAGES {
        let p = w.pte(mm, va(i));
        if !p.is_present() || p.is_special() || !(f.head.0..end).contains(&p.pfn().0) {
            continue;
        }
        // folio_try_share_anon_rmap_pte: a pinned folio cannot lose PageAnonExclusive.
        w.set_migration_entry(mm, va(i));
        w.mem
            .page_mut(p.pfn())
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, false);
        if w.rmap_remove(f, p.pfn(), 1, mm) {
            r.partial = true;
        }
        w.put_refs(f.head, 1);
    }
}

/// `folio_ref_freeze(folio, expected)`; on failure the entries are restored. Without the
/// freeze (test-only), the folio is split whatever references others hold.
fn freeze_step(k: Knobs, expected: i32, name: &'static str) -> Step {
    Step::new(
        name,
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let head = Pfn(r.folio);
            let rc = w.refcount(head);
            r.idx = 0;
            if rc != expected && k.split_freeze {
                w.observe("split/migrate: refcount freeze failed, entries restored");
                return Flow::Goto("restore");
            }
            w.frozen.insert(head, rc);
            w.mem.page_mut(head).refcount = 0;
            Flow::Next
        }),
    )
    .labelled("freeze")
}

/// Splits the memmap of a frozen folio into 4K folios with refcount 1 each.
fn split_memmap(w: &mut World, head: Pfn) {
    let f = w.folio(head);
    if let Err(e) = w.design.free(f) {
        w.violation(format!("split a folio whose counts are not back to 0: {e}"));
    }
    w.unqueue(f);
    w.mmid.remove(&head);
    w.frozen.remove(&head);
    let anon_flags = w.mem.page(head).flags;
    for small in w.mem.split_folio(head, Order(0)) {
        w.mem.page_mut(small).refcount = 1;
        let s = w.folio(small);
        w.design.prep(s, &mut w.mem);
        w.live.insert(small);
        let fl = &mut w.mem.page_mut(small).flags;
        fl.set(PageFlags::ANON, anon_flags.has(PageFlags::ANON));
    }
}

/// `remap_page` / `remove_migration_ptes`: MM by MM, each migration entry becomes a present
/// PTE again, of the folio the page belongs to now (or of the migration target).
fn remap_loop() -> Vec<Step> {
    vec![
        Step::new(
            "rmap walk: next MM",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                if r.idx as usize == w.mms.len() {
                    return Flow::Goto("remapped");
                }
                Flow::Next
            }),
        )
        .labelled("remap"),
        take_dyn("take ptl", ptl_of_idx, Mode::Exclusive),
        Step::new(
            "remove_migration_pte: restore, folio_add_anon_rmap_pte, folio_get",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                restore_mm(w, r);
                Flow::Next
            }),
        ),
        Step::new(
            "release ptl",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                w.locks.release(ptl(r.idx as u8), t);
                r.idx += 1;
                Flow::Goto("remap")
            }),
        ),
        Step::new(
            "entries restored",
            Box::new(|_: &mut World, r: &mut Regs, _| {
                if r.flag {
                    return Flow::Goto("unlock");
                }
                Flow::Next
            }),
        )
        .labelled("remapped"),
    ]
}

fn restore_mm(w: &mut World, r: &Regs) {
    let mm = r.idx as u8;
    for i in 0..VA_PAGES {
        let Some(old) = w.migration_entry(mm, va(i)) else {
            continue;
        };
        let page = if r.new_folio != 0 {
            Pfn(r.new_folio).add(old.pfn().0 - r.folio)
        } else {
            old.pfn()
        };
        let excl = w.pte(mm, va(i)).swp_exclusive();
        w.migration.remove(&(mm, va(i).0));
        let f = w.folio_of(page);
        w.mem
            .page_mut(page)
            .flags
            .set(PageFlags::ANON_EXCLUSIVE, excl);
        w.mem.ref_add(f.head, 1);
        w.rmap_add(f, page, 1, mm);
        let pte = Pte::present(page, old.writable() && excl, old.dirty());
        w.set_pte(mm, va(i), pte);
    }
}

/// The failure path: restore the entries to the same folio, unlock, drop the reference.
fn fail_steps() -> Vec<Step> {
    let mut v = vec![Step::new(
        "restore the entries to the folio",
        Box::new(|_: &mut World, r: &mut Regs, _| {
            r.idx = 0;
            r.flag = true;
            Flow::Goto("remap")
        }),
    )
    .labelled("restore")];
    v.push(
        Step::new(
            "folio_unlock + folio_put",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                w.locks.release(Lock::Folio(r.folio), t);
                let f = w.folio(Pfn(r.folio));
                // A queued folio the shrinker took off the queue goes back on it.
                if w.is_queued(f) && !w.queue.contains(&f.head) {
                    w.queue.push(f.head);
                }
                w.put_refs(f.head, 1);
                Flow::EndOp
            }),
        )
        .labelled("unlock"),
    );
    v
}

/// `migrate_pages` of the race's folio to a new folio of the same order.
pub fn migrate(k: Knobs) -> Op {
    Op::new("migrate_pages", true)
        .step(Step::new(
            "folio_isolate_lru (a reference)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                r.folio = w.focus.0;
                if !w.live.contains(&w.focus) || !w.try_get(w.focus) {
                    return Flow::EndOp;
                }
                r.idx = 0;
                Flow::Next
            }),
        ))
        .step(take_dyn("folio_lock", lock_of_folio, Mode::Exclusive))
        .steps(unmap_loop())
        .step(freeze_step(
            k,
            1,
            "folio_ref_freeze(src, 1) (__folio_migrate_mapping)",
        ))
        .step(Step::new(
            "allocate and lock dst, copy the contents",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                let src = w.folio(Pfn(r.folio));
                let dst = w.alloc_folio(src.order);
                w.mem.page_mut(dst.head).flags.set(PageFlags::ANON, true);
                for i in 0..src.nr_pages() {
                    let c = w.mem.content(src.head.add(i));
                    w.mem.set_content(dst.head.add(i), c);
                }
                r.new_folio = dst.head.0;
                r.idx = 0;
                // migrate_folio_unmap locks dst too, until the entries point at it.
                w.locks.take(Lock::Folio(dst.head.0), Mode::Exclusive, t);
                Flow::Goto("remap")
            }),
        ))
        .steps(remap_loop())
        .step(migrate_finish_step())
        .steps(fail_steps())
}

fn migrate_finish_step() -> Step {
    Step::new(
        "free src, folio_unlock, putback dst",
        Box::new(|w: &mut World, r: &mut Regs, t| {
            if r.flag {
                return Flow::Goto("unlock");
            }
            let src = Pfn(r.folio);
            w.locks.release(Lock::Folio(r.folio), t);
            w.locks.release(Lock::Folio(r.new_folio), t);
            // migrate_folio_move requeues dst with src's "partially mapped" (the March 2026
            // stable fix): a folio flagged on the way stays flagged once fully mapped again.
            let src_f = w.folio(src);
            let requeue = w.is_queued(src_f)
                && w.mem
                    .page(src.add(1))
                    .flags
                    .has(PageFlags::PARTIALLY_MAPPED);
            w.frozen.remove(&src);
            w.free_folio(src);
            if requeue {
                let dst = w.folio(Pfn(r.new_folio));
                w.queue_partial(dst);
            }
            w.focus = Pfn(r.new_folio);
            w.put_refs(Pfn(r.new_folio), 1);
            Flow::EndOp
        }),
    )
}

/// `deferred_split_scan` of the queue's first folio.
pub fn shrinker(k: Knobs) -> Op {
    Op::new("deferred_split_scan", true)
        .step(take_dyn(
            "take split_queue_lock",
            |_| Lock::SplitQueue,
            Mode::Exclusive,
        ))
        .step(Step::new(
            "first queued folio: folio_try_get, move to the private list",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                w.locks.release(Lock::SplitQueue, t);
                let Some(&head) = w.queue.first() else {
                    return Flow::EndOp;
                };
                w.queue.remove(0);
                if !w.try_get(head) {
                    let f = w.folio(head);
                    w.unqueue(f);
                    return Flow::EndOp;
                }
                r.folio = head.0;
                Flow::Next
            }),
        ))
        .step(Step::new(
            "partially mapped? folio_trylock",
            Box::new(|w: &mut World, r: &mut Regs, t| {
                let f = w.folio(Pfn(r.folio));
                let flagged = w
                    .mem
                    .page(f.head.add(1))
                    .flags
                    .has(PageFlags::PARTIALLY_MAPPED);
                let lock = Lock::Folio(r.folio);
                if !flagged || !w.locks.can_take(lock, Mode::Exclusive, t) {
                    w.observe(if flagged {
                        "shrinker: trylock failed, requeued"
                    } else {
                        "shrinker: not partially mapped, dropped from the queue"
                    });
                    requeue_or_drop(w, f, flagged);
                    w.put_refs(f.head, 1);
                    return Flow::EndOp;
                }
                w.locks.take(lock, Mode::Exclusive, t);
                w.observe("shrinker: splitting a partially mapped folio");
                Flow::Next
            }),
        ))
        .steps(split_core(k))
}

fn requeue_or_drop(w: &mut World, f: foliolab_schemes::FolioRef, flagged: bool) {
    if flagged {
        w.queue.push(f.head);
    } else {
        w.unqueue(f);
    }
}

/// Names a thread that splits, for traces.
pub fn splitter_name(mm: u8) -> String {
    format!("split({})", mm_name(mm))
}
