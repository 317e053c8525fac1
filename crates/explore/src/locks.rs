//! The locks the modelled kernel paths take, and who holds them. A step that takes a lock is
//! enabled only while the lock is free (for readers: while no writer holds it), so a blocked
//! thread simply is not scheduled; a schedule where every live thread waits is a deadlock.

use crate::step::Tid;
use std::collections::BTreeMap;
use std::fmt;

/// A lock, named as in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lock {
    /// `mm->mmap_lock` of MM `n` (a reader-writer semaphore).
    Mmap(u8),
    /// The page-table lock of MM `n`'s PTE table covering PMD index `pmd`.
    Ptl(u8, u64),
    /// `PG_locked` of the folio with this head PFN (`folio_lock` / `folio_trylock`).
    Folio(u64),
    /// The MM_ID bit spinlock in `_mm_ids` (`folio_lock_large_mapcount`), by head PFN.
    LargeMapcount(u64),
    /// The deferred split queue's `split_queue_lock`.
    SplitQueue,
    /// An RCU read-side critical section (GUP-fast runs with interrupts off): never blocks,
    /// only makes a grace period wait.
    Rcu,
}

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Every lock currently held: (lock, holder thread) -> mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Locks {
    held: BTreeMap<(Lock, Tid), Mode>,
}

impl Locks {
    /// Whether `tid` could take `lock` in `mode` now.
    pub fn can_take(&self, lock: Lock, mode: Mode, tid: Tid) -> bool {
        self.held
            .range((lock, 0)..=(lock, Tid::MAX))
            .all(|(&(_, holder), &m)| {
                holder != tid && (lock == Lock::Rcu || (mode == Mode::Shared && m == Mode::Shared))
            })
    }
    pub fn take(&mut self, lock: Lock, mode: Mode, tid: Tid) {
        assert!(
            self.can_take(lock, mode, tid),
            "thread {tid} takes {lock:?} held by another"
        );
        self.held.insert((lock, tid), mode);
    }
    pub fn release(&mut self, lock: Lock, tid: Tid) {
        let was = self.held.remove(&(lock, tid));
        assert!(
            was.is_some(),
            "thread {tid} releases {lock:?} it does not hold"
        );
    }
    pub fn holds(&self, lock: Lock, tid: Tid) -> bool {
        self.held.contains_key(&(lock, tid))
    }
    /// Whether a thread other than `tid` holds `lock`.
    pub fn held_by_other(&self, lock: Lock, tid: Tid) -> bool {
        self.held
            .range((lock, 0)..=(lock, Tid::MAX))
            .any(|(&(_, holder), _)| holder != tid)
    }
    pub fn any_held(&self, lock: Lock) -> bool {
        self.held
            .range((lock, 0)..=(lock, Tid::MAX))
            .next()
            .is_some()
    }
    /// The locks `tid` holds, for traces.
    pub fn held_by(&self, tid: Tid) -> Vec<(Lock, Mode)> {
        self.held
            .iter()
            .filter(|(&(_, t), _)| t == tid)
            .map(|(&(l, _), &m)| (l, m))
            .collect()
    }
}

/// The short name of MM `n` in traces: A, B, C, ...
pub fn mm_name(n: u8) -> char {
    (b'A' + n) as char
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Lock::Mmap(m) => write!(f, "mmap_lock({})", mm_name(m)),
            Lock::Ptl(m, _) => write!(f, "ptl({})", mm_name(m)),
            Lock::Folio(p) => write!(f, "folio_lock({p:#x})"),
            Lock::LargeMapcount(p) => write!(f, "mm_id_lock({p:#x})"),
            Lock::SplitQueue => write!(f, "split_queue_lock"),
            Lock::Rcu => write!(f, "rcu"),
        }
    }
}
