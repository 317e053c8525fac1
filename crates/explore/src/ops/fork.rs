//! fork()'s copy of present anonymous PTEs (`copy_present_ptes`, 6.9+ batched): under the
//! parent's mmap_lock (write) and both page-table locks, per batch `folio_ref_add(nr)`, then
//! `folio_try_dup_anon_rmap_ptes` (clears PageAnonExclusive, the design's dup), then the
//! parent's PTEs are write-protected and the child's set; `flush_tlb_mm` at the end.

use super::{ptl, release, rmap_blocked, take};
use crate::locks::{mm_name, Lock, Mode};
use crate::step::{Flow, Op, Regs, Step};
use crate::world::{va, World};
use foliolab_mem::PageFlags;
use foliolab_types::Pfn;

/// A fork of `parent` into `child` that has taken `parent`'s mmap lock and both page-table
/// locks (copy_page_range's order); its copy steps follow.
pub fn fork_locked(parent: u8, child: u8) -> Op {
    Op::new(
        format!("fork({}->{})", mm_name(parent), mm_name(child)),
        true,
    )
    .step(take(Lock::Mmap(parent), Mode::Exclusive))
    .step(take(ptl(parent), Mode::Exclusive))
    .step(take(ptl(child), Mode::Exclusive))
}

/// Copies `parent`'s PTEs of pages `first..first + nr` into `child` (an empty MM).
pub fn fork_copy(parent: u8, child: u8, first: u64, nr: u64) -> Op {
    let end = first + nr;
    fork_locked(parent, child)
        .step(batch_step(parent, child, first, end))
        .step(Step::new(
            "folio_ref_add(nr)",
            Box::new(|w: &mut World, r: &mut Regs, _| {
                w.mem.ref_add(Pfn(r.folio), r.batch.1 as i32);
                Flow::Next
            }),
        ))
        .step(Step::guarded(
            "folio_try_dup_anon_rmap_ptes",
            Box::new(|w: &World, r: &Regs, t| !rmap_blocked(w, r.folio, t)),
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let f = w.folio(Pfn(r.folio));
                for j in 0..r.batch.1 as u64 {
                    let p = Pfn(r.page).add(j);
                    w.mem
                        .page_mut(p)
                        .flags
                        .set(PageFlags::ANON_EXCLUSIVE, false);
                }
                w.rmap_dup(f, Pfn(r.page), r.batch.1 as u64, child);
                Flow::Next
            }),
        ))
        .step(Step::new(
            "wrprotect_ptes(parent) + set_ptes(child)",
            Box::new(move |w: &mut World, r: &mut Regs, _| {
                let (start, len, _) = r.batch;
                for j in start as u64..(start + len) as u64 {
                    let ro = w.pte(parent, va(j)).with_write(false);
                    w.set_pte(parent, va(j), ro);
                    w.set_pte(child, va(j), ro.with_dirty(false));
                }
                Flow::Goto("batch")
            }),
        ))
        .step(release(ptl(child)).labelled("done"))
        .step(release(ptl(parent)))
        .step(release(Lock::Mmap(parent)))
}

fn batch_step(parent: u8, child: u8, first: u64, end: u64) -> Step {
    Step::new(
        "copy_nonpresent_pte (migration entries) + folio_pte_batch",
        Box::new(move |w: &mut World, r: &mut Regs, _| {
            let from = first.max(r.idx as u64);
            copy_migration_entries(w, parent, child, from, end);
            let Some((start, len, page)) = super::zap::next_batch(w, parent, from, end) else {
                return Flow::Goto("done");
            };
            r.batch = (start as u32, len as u32, 0);
            r.idx = (start + len) as u32;
            r.page = page.0;
            r.folio = w.mem.folio_of(page).0;
            Flow::Next
        }),
    )
    .labelled("batch")
}

/// `copy_nonpresent_pte` for migration entries: the child gets the same (read-only) entry,
/// which `remove_migration_ptes` will restore like the parent's.
fn copy_migration_entries(w: &mut World, parent: u8, child: u8, from: u64, end: u64) {
    for i in from..end {
        if let Some(old) = w.migration_entry(parent, va(i)) {
            let entry = w.pte(parent, va(i)).with_swp_exclusive(false);
            w.set_pte(parent, va(i), entry);
            w.set_pte(child, va(i), entry);
            w.migration.insert((child, va(i).0), old.with_write(false));
            let old_ro = old.with_write(false);
            w.migration.insert((parent, va(i).0), old_ro);
        }
    }
}

/// fork() as setup: copies pages `first..first + nr` of `parent` into `child` at once.
pub fn setup_fork(w: &mut World, parent: u8, child: u8, first: u64, nr: u64) {
    super::run_alone(w, &fork_copy(parent, child, first, nr));
}

/// Unmap as setup.
pub fn setup_zap(w: &mut World, mm: u8, first: u64, nr: u64) {
    super::run_alone(
        w,
        &super::zap::zap(mm, first, nr, crate::world::ZapOrder::RmapFirst),
    );
}
