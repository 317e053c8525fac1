//! Which address space (mm) each traced task uses: a fork makes a new mm, a clone with
//! CLONE_VM (a thread, a vfork child) shares its parent's, an exec gives the task a new one.
//! Both passes of the conversion run the same bookkeeping, so mm numbers agree.

use crate::event::Event;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const CLONE_VM: u64 = 0x100;

/// What an event did to the set of address spaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MmChange {
    None,
    /// A new mm by fork of `parent`.
    Forked {
        parent: usize,
        child: usize,
    },
    /// A task exec'd: `old` (if it was traced) lost it, `new` is the fresh mm.
    Exec {
        old: Option<usize>,
        new: usize,
    },
    /// The last task of `mm` exited (or exec'd away from it, reported by `Exec`).
    Gone {
        mm: usize,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct MmInfo {
    /// Exec lineage: an exec starts one, a fork stays in its parent's.
    pub lineage: usize,
    pub users: BTreeSet<i32>,
    pub alive: bool,
    /// The pid that caused the mm (exec'd or forked task) and what it ran.
    pub pid: i32,
    pub filename: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Tasks {
    pub root: i32,
    pub mm_of: BTreeMap<i32, usize>,
    pub mms: Vec<MmInfo>,
    pub lineages: usize,
}

impl Tasks {
    pub fn new(root: i32) -> Tasks {
        Tasks {
            root,
            ..Tasks::default()
        }
    }

    pub fn mm(&self, tid: i32) -> Option<usize> {
        self.mm_of.get(&tid).copied()
    }

    fn new_mm(&mut self, lineage: usize, pid: i32, filename: String) -> usize {
        self.mms.push(MmInfo {
            lineage,
            users: BTreeSet::from([pid]),
            alive: true,
            pid,
            filename,
        });
        self.mm_of.insert(pid, self.mms.len() - 1);
        self.mms.len() - 1
    }

    /// Drops `tid` from its mm; the mm if it has no task left.
    fn leave(&mut self, tid: i32) -> Option<usize> {
        let mm = self.mm_of.remove(&tid)?;
        let info = &mut self.mms[mm];
        info.users.remove(&tid);
        if info.users.is_empty() && info.alive {
            info.alive = false;
            return Some(mm);
        }
        None
    }

    pub fn on_event(&mut self, ev: &Event) -> MmChange {
        match ev {
            Event::NewTask {
                parent,
                child,
                clone_flags,
            } => {
                let Some(pm) = self.mm(*parent) else {
                    return MmChange::None;
                };
                if clone_flags & CLONE_VM != 0 {
                    self.mms[pm].users.insert(*child);
                    self.mm_of.insert(*child, pm);
                    return MmChange::None;
                }
                let (lineage, name) = (self.mms[pm].lineage, self.mms[pm].filename.clone());
                let child = self.new_mm(lineage, *child, name);
                MmChange::Forked { parent: pm, child }
            }
            Event::Exec {
                pid,
                old_pid,
                filename,
            } => {
                let traced = self.mm(*old_pid).is_some() || *old_pid == self.root;
                if !traced {
                    return MmChange::None;
                }
                let gone = self.leave(*old_pid);
                if let Some(m) = (*pid != *old_pid).then(|| self.mm(*pid)).flatten() {
                    self.mms[m].users.remove(pid);
                }
                let lineage = self.lineages;
                self.lineages += 1;
                let new = self.new_mm(lineage, *pid, filename.clone());
                MmChange::Exec { old: gone, new }
            }
            Event::Exit { tid } => match self.leave(*tid) {
                Some(mm) => MmChange::Gone { mm },
                None => MmChange::None,
            },
            _ => MmChange::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(pid: i32) -> Event {
        Event::Exec {
            pid,
            old_pid: pid,
            filename: "/bin/x".into(),
        }
    }

    #[test]
    fn threads_share_forks_copy_exec_replaces() {
        let mut t = Tasks::new(10);
        assert_eq!(t.on_event(&exec(10)), MmChange::Exec { old: None, new: 0 });
        let thread = Event::NewTask {
            parent: 10,
            child: 11,
            clone_flags: CLONE_VM | 0x10000,
        };
        assert_eq!(t.on_event(&thread), MmChange::None);
        assert_eq!(t.mm(11), Some(0));
        let fork = Event::NewTask {
            parent: 11,
            child: 12,
            clone_flags: 0x11,
        };
        assert_eq!(
            t.on_event(&fork),
            MmChange::Forked {
                parent: 0,
                child: 1
            }
        );
        assert_eq!(t.on_event(&Event::Exit { tid: 11 }), MmChange::None);
        assert_eq!(
            t.on_event(&exec(12)),
            MmChange::Exec {
                old: Some(1),
                new: 2
            }
        );
        assert_eq!(t.mms[2].lineage, 1);
        assert_eq!(
            t.on_event(&Event::Exit { tid: 10 }),
            MmChange::Gone { mm: 0 }
        );
        // A vfork child that execs leaves its parent's mm alone.
        let vfork = Event::NewTask {
            parent: 12,
            child: 13,
            clone_flags: CLONE_VM | 0x4000,
        };
        t.on_event(&vfork);
        assert_eq!(t.on_event(&exec(13)), MmChange::Exec { old: None, new: 3 });
        assert!(t.mms[2].alive);
    }
}
