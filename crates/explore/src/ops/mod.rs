//! Kernel operations as sequences of atomic steps, each with the locks it takes, on the
//! model's memory, page tables and designs. One file per operation family; every step's name
//! is the kernel function (or the line of it) it stands for.
//!
//! Granularity (what one step does, indivisibly):
//! - one page-table update under the PTL (a batch of PTEs cleared or set is one step, as
//!   `clear_full_ptes`/`set_ptes` are for a concurrent walker that takes the PTL, but a
//!   lockless walker can see them one by one: GUP-fast reads a single PTE, so only the PTE it
//!   reads matters);
//! - one rmap call of a design (`folio_remove_rmap_ptes`, the dup at fork), except for the
//!   MM_ID helpers, which `mmid` runs store by store;
//! - one reference-count atomic (`folio_try_get`, `folio_ref_add`, `folio_put_refs`);
//! - one lock acquisition or release.

pub mod fault;
pub mod fork;
pub mod gup;
pub mod mmid;
pub mod reader;
pub mod split;
pub mod wp;
pub mod zap;

use crate::locks::{mm_name, Lock, Mode};
use crate::step::{Flow, Op, Regs, Step, Tid};
use crate::world::World;

/// The thread id setup code runs as (never one of an exploration's threads).
pub const SETUP_TID: Tid = 9;

/// Runs `op` to completion on `w` with no other thread (setup). Panics if a step waits.
pub fn run_alone(w: &mut World, op: &Op) {
    let mut regs = Regs::default();
    let mut i = 0;
    while i < op.steps.len() {
        let s = &op.steps[i];
        if let Some(ready) = &s.ready {
            assert!(ready(w, &regs, SETUP_TID), "setup step {} waits", s.name);
        }
        i = match (s.run)(w, &mut regs, SETUP_TID) {
            Flow::Next => i + 1,
            Flow::EndOp => op.steps.len(),
            Flow::Goto(l) => op
                .steps
                .iter()
                .position(|s| s.label == Some(l))
                .expect("label"),
        };
    }
}

/// A step that takes `lock` in `mode`, waiting while it is unavailable.
pub fn take(lock: Lock, mode: Mode) -> Step {
    let name = match mode {
        Mode::Shared => format!("{lock} (read)"),
        Mode::Exclusive => lock.to_string(),
    };
    Step::guarded(
        format!("take {name}"),
        Box::new(move |w: &World, _: &Regs, t| w.locks.can_take(lock, mode, t)),
        Box::new(move |w: &mut World, _: &mut Regs, t| {
            w.locks.take(lock, mode, t);
            Flow::Next
        }),
    )
}

/// `folio_lock_large_mapcount` on the folio in the registers: waits while another thread
/// holds the bit.
pub fn lock_large_mapcount() -> Step {
    Step::guarded(
        "folio_lock_large_mapcount",
        Box::new(|w: &World, r: &Regs, t| {
            w.locks
                .can_take(Lock::LargeMapcount(r.folio), Mode::Exclusive, t)
        }),
        Box::new(|w: &mut World, r: &mut Regs, t| {
            w.locks
                .take(Lock::LargeMapcount(r.folio), Mode::Exclusive, t);
            Flow::Next
        }),
    )
}

/// A step that releases `lock`.
pub fn release(lock: Lock) -> Step {
    Step::new(
        format!("release {lock}"),
        Box::new(move |w: &mut World, _: &mut Regs, t| {
            w.locks.release(lock, t);
            Flow::Next
        }),
    )
}

/// The page-table lock of MM `mm`'s table over the race's range.
pub fn ptl(mm: u8) -> Lock {
    Lock::Ptl(mm, World::pmd_index())
}

/// An operation's display name with its MM: `zap(B)`.
pub fn named(what: &str, mm: u8) -> String {
    format!("{what}({})", mm_name(mm))
}

/// Whether a step touching `head`'s mapcounts must wait: under an MM_ID design an rmap
/// update takes the large-mapcount lock, so it waits while another thread holds it.
pub fn rmap_blocked(w: &World, head: u64, t: Tid) -> bool {
    w.design.mm_id_reuse() && w.locks.held_by_other(Lock::LargeMapcount(head), t)
}
