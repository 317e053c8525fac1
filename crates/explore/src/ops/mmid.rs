//! Operations whose MM_ID updates run store by store on the folio's step-by-step words
//! ([`crate::mmid::MmIdWords`]): an unmap (`folio_sub_return_large_mapcount`), a fork's dup
//! (`folio_add_return_large_mapcount`), each under `folio_lock_large_mapcount` unless the
//! test-only variant drops the lock; and the lockless reader (`folio_maybe_mapped_shared`:
//! two plain loads). The design applies the same call atomically when the helper unlocks,
//! so at quiescent points the step-by-step words must equal the design's.

use super::reader::judge;
use super::{lock_large_mapcount, named, ptl, release, take};
use crate::locks::{mm_name, Lock, Mode};
use crate::mmid::MmIdWords;
use crate::step::{Flow, Op, Regs, Step, Tid};
use crate::world::{va, World};
use foliolab_mem::PageFlags;
use foliolab_types::Pfn;

fn words(w: &mut World, r: &Regs) -> MmIdWords {
    w.mmid.get(&Pfn(r.folio)).copied().unwrap_or_default()
}
fn store(w: &mut World, r: &Regs, words: MmIdWords) {
    w.mmid.insert(Pfn(r.folio), words);
}

/// The helper's stores; `diff` pages of MM `mm`, add or sub; `apply` is the design's call.
fn helper_steps(add: bool, mm: u8, lock: bool, apply: fn(&mut World, &Regs, u8)) -> Vec<Step> {
    let which = if add { "add" } else { "sub" };
    let mut v = Vec::new();
    if lock {
        v.push(lock_large_mapcount());
    }
    v.push(Step::new(
        "atomic_read(&_large_mapcount)",
        Box::new(|w: &mut World, r: &mut Regs, _| {
            r.loaded = words(w, r).large();
            Flow::Next
        }),
    ));
    v.push(Step::new(
        format!("atomic_set(&_large_mapcount, {which}ed)"),
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let mut wd = words(w, r);
            let diff = r.batch.1 as i64;
            r.loaded = wd.store_large(r.loaded, if add { diff } else { -diff });
            store(w, r, wd);
            Flow::Next
        }),
    ));
    v.push(Step::new(
        format!("_mm_id_mapcount[] of {} ({which})", mm_name(mm)),
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let mut wd = words(w, r);
            let (id, diff) = (w.mm_id(mm), r.batch.1 as i32);
            r.flag = if add {
                wd.add_slot(id, diff, r.loaded)
            } else {
                wd.sub_slot(id, diff)
            };
            store(w, r, wd);
            Flow::Next
        }),
    ));
    v.push(Step::new(
        if add {
            "_mm_ids |= SHARED"
        } else {
            "re-check: clear SHARED if one slot owns all"
        },
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let mut wd = words(w, r);
            match (r.flag, add) {
                (true, true) => wd.mark_shared(),
                (true, false) => wd.recheck_shared(r.loaded),
                _ => {}
            }
            store(w, r, wd);
            Flow::Next
        }),
    ));
    v.push(Step::new(
        if lock {
            "folio_unlock_large_mapcount"
        } else {
            "helper done (no lock held)"
        },
        Box::new(move |w: &mut World, r: &mut Regs, t: Tid| {
            if lock {
                w.locks.release(Lock::LargeMapcount(r.folio), t);
            }
            apply(w, r, mm);
            Flow::Next
        }),
    ));
    v
}

/// munmap of MM `mm`'s pages `first..first + nr` (one folio, one batch), with the rmap
/// removal's MM_ID stores step by step.
pub fn zap_mmid(mm: u8, first: u64, nr: u64, lock: bool) -> Op {
    Op::new(named("munmap", mm), true)
        .step(take(Lock::Mmap(mm), Mode::Exclusive))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(Step::new(
            "clear_full_ptes",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let page = w.pte(mm, va(first)).pfn();
                r.page = page.0;
                r.folio = w.mem.folio_of(page).0;
                r.batch = (first as u32, nr as u32, 0);
                for i in first..first + nr {
                    w.clear_pte(mm, va(i));
                }
                Flow::Next
            }),
        ))
        .steps(helper_steps(false, mm, lock, |w, r, mm| {
            let f = w.folio(Pfn(r.folio));
            w.rmap_remove(f, Pfn(r.page), r.batch.1 as u64, mm);
        }))
        .step(release(ptl(mm)))
        .step(Step::new(
            "tlb_finish_mmu: flush, free_pages_and_swap_cache",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                w.flush_tlb(mm);
                w.put_refs(Pfn(r.folio), r.batch.1 as i32);
                Flow::Next
            }),
        ))
        .step(release(Lock::Mmap(mm)))
}

/// fork's copy of `parent`'s pages `first..first + nr` (one batch) into `child`, with the
/// dup's MM_ID stores step by step.
pub fn fork_mmid(parent: u8, child: u8, first: u64, nr: u64, lock: bool) -> Op {
    super::fork::fork_locked(parent, child)
        .step(Step::new(
            "folio_pte_batch + folio_ref_add(nr)",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let page = w.pte(parent, va(first)).pfn();
                r.page = page.0;
                r.folio = w.mem.folio_of(page).0;
                r.batch = (first as u32, nr as u32, 0);
                w.mem.ref_add(Pfn(r.folio), nr as i32);
                for i in 0..nr {
                    w.mem
                        .page_mut(page.add(i))
                        .flags
                        .set(PageFlags::ANON_EXCLUSIVE, false);
                }
                Flow::Next
            }),
        ))
        .steps(helper_steps(true, child, lock, |w, r, mm| {
            let f = w.folio(Pfn(r.folio));
            w.rmap_dup(f, Pfn(r.page), r.batch.1 as u64, mm);
        }))
        .step(Step::new(
            "wrprotect_ptes(parent) + set_ptes(child)",
            Box::new(move |w: &mut World, _: &mut Regs, _| {
                for i in first..first + nr {
                    let ro = w.pte(parent, va(i)).with_write(false);
                    w.set_pte(parent, va(i), ro);
                    w.set_pte(child, va(i), ro.with_dirty(false));
                }
                Flow::Next
            }),
        ))
        .step(release(ptl(child)))
        .step(release(ptl(parent)))
        .step(release(Lock::Mmap(parent)))
}

/// The lockless `folio_maybe_mapped_shared` of MM `mm`'s page `i` on the step-by-step words.
pub fn reader_mmid(mm: u8, i: u64) -> Op {
    Op::new(named("madvise_cold", mm), false)
        .step(take(Lock::Mmap(mm), Mode::Shared))
        .step(take(ptl(mm), Mode::Exclusive))
        .step(Step::new(
            "read PTE, folio; folio_large_mapcount (lockless load)",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let pte = w.pte(mm, va(i));
                r.folio = w.mem.folio_of(pte.pfn()).0;
                let n = w.nr_mms_mapping(w.folio(Pfn(r.folio)));
                r.window = Some((n, n));
                r.loaded = words(w, r).large();
                Flow::Next
            }),
        ))
        .step(Step::new(
            "test_bit(FOLIO_MM_IDS_SHARED_BITNUM) (lockless load)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                let shared = r.loaded > 1 && words(w, r).shared();
                let (lo, hi) = r.window.take().unwrap_or((0, 0));
                judge(w, shared, lo, hi);
                Flow::Next
            }),
        ))
        .step(release(ptl(mm)))
        .step(release(Lock::Mmap(mm)))
}

/// Seeds the step-by-step words of `head` from the design's counters (end of setup).
pub fn seed_words(w: &mut World, head: Pfn) {
    let c = w.design.counters(w.folio(head));
    let l = c
        .large_mapcount
        .expect("an MM_ID design reports the large mapcount");
    let mut wd = MmIdWords {
        large_mapcount: l as i32 - 1,
        ..MmIdWords::default()
    };
    for (k, slot) in [c.slot0, c.slot1].into_iter().enumerate() {
        if let Some(Some((id, n))) = slot {
            wd.set_slot(k, id, n as i32);
        }
    }
    let one_owns_all = [c.slot0, c.slot1]
        .iter()
        .any(|s| matches!(s, Some(Some((_, n))) if *n == l));
    if (l >= 2 && c.maybe_shared == Some(true)) || (l < 2 && l != 0 && !one_owns_all) {
        wd.mark_shared();
    }
    w.mmid.insert(head, wd);
}
