//! What every read must return: the memory each process sees, kept at the level of the
//! program (writes, forks, unmaps), independent of how pages are shared physically.

use foliolab_mem::Content;
use foliolab_types::{VirtAddr, PAGE_SIZE};
use std::collections::BTreeMap;

/// How a read compares with what it must return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadVerdict {
    Ok,
    /// The value came from a write by another process after the fork that separated them.
    Leak {
        writer: u32,
    },
    /// Any other wrong value (a lost write, stale data of the same process).
    Wrong {
        expected: u64,
    },
}

/// Per process (by an id of the caller's choosing), the content of each written page.
#[derive(Clone, Debug, Default)]
pub struct ExpectedMemory {
    procs: BTreeMap<u32, BTreeMap<u64, Content>>,
    /// Write tag to the process that performed the write.
    writers: BTreeMap<u32, u32>,
    /// Child to (parent, last tag before the fork).
    forks: BTreeMap<u32, (u32, u32)>,
    next_tag: u32,
}

impl ExpectedMemory {
    /// Records a write by `proc`; returns the tag to store with the value.
    pub fn write(&mut self, proc: u32, va: VirtAddr, value: u64) -> u32 {
        self.next_tag += 1;
        let tag = self.next_tag;
        self.writers.insert(tag, proc);
        self.procs
            .entry(proc)
            .or_default()
            .insert(va.page_index(), Content { value, tag });
        tag
    }

    /// What a read by `proc` at `va` must return.
    pub fn expected(&self, proc: u32, va: VirtAddr) -> Content {
        self.procs
            .get(&proc)
            .and_then(|m| m.get(&va.page_index()))
            .copied()
            .unwrap_or_default()
    }

    /// Judges a value read.
    pub fn verdict(&self, proc: u32, va: VirtAddr, got: Content) -> ReadVerdict {
        let want = self.expected(proc, va);
        if got.value == want.value {
            return ReadVerdict::Ok;
        }
        match self.held_leak(proc, got) {
            Some(writer) => ReadVerdict::Leak { writer },
            None => ReadVerdict::Wrong {
                expected: want.value,
            },
        }
    }

    /// Judges a value `proc` reads through a page it holds (a pin or a pipe): only a leak is
    /// a problem there, since what the page should hold is the scenario's to say. Returns
    /// the writer when the value was written by another process after the fork that
    /// separated them.
    pub fn held_leak(&self, proc: u32, got: Content) -> Option<u32> {
        match self.writers.get(&got.tag) {
            Some(&w) if w != proc && got.tag > self.fork_point(proc, w) => Some(w),
            _ => None,
        }
    }

    /// The child starts with the parent's view of memory.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let view = self.procs.get(&parent).cloned().unwrap_or_default();
        self.procs.insert(child, view);
        self.forks.insert(child, (parent, self.next_tag));
    }

    /// Pages in [start, end) read zero again (munmap, MADV_DONTNEED, a new mapping).
    pub fn clear(&mut self, proc: u32, start: VirtAddr, end: VirtAddr) {
        if let Some(m) = self.procs.get_mut(&proc) {
            let keys: Vec<u64> = m
                .range(start.page_index()..end.0.div_ceil(PAGE_SIZE))
                .map(|(k, _)| *k)
                .collect();
            for k in keys {
                m.remove(&k);
            }
        }
    }

    /// mremap: what [start, end) held is now at `new`; the old range reads zero.
    pub fn move_range(&mut self, proc: u32, start: VirtAddr, end: VirtAddr, new: VirtAddr) {
        let Some(m) = self.procs.get_mut(&proc) else {
            return;
        };
        let keys: Vec<u64> = m
            .range(start.page_index()..end.0.div_ceil(PAGE_SIZE))
            .map(|(k, _)| *k)
            .collect();
        let moved: Vec<(u64, Content)> = keys
            .iter()
            .filter_map(|k| m.remove(k).map(|c| (*k, c)))
            .collect();
        for (k, c) in moved {
            m.insert(k - start.page_index() + new.page_index(), c);
        }
    }

    pub fn exit(&mut self, proc: u32) {
        self.procs.remove(&proc);
    }

    /// `proc` and its ancestors, each with the write tag current when it was forked.
    fn lineage(&self, proc: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut cur = proc;
        while let Some(&(parent, tag)) = self.forks.get(&cur) {
            out.push((cur, tag));
            cur = parent;
        }
        out.push((cur, 0));
        out
    }

    /// The last write tag `a` and `b` could both see: the earlier of the two forks that
    /// separated their lineages below their common ancestor.
    fn fork_point(&self, a: u32, b: u32) -> u32 {
        let (la, lb) = (self.lineage(a), self.lineage(b));
        for (i, &(pa, _)) in la.iter().enumerate() {
            if let Some(j) = lb.iter().position(|&(pb, _)| pb == pa) {
                let ta = if i > 0 { la[i - 1].1 } else { u32::MAX };
                let tb = if j > 0 { lb[j - 1].1 } else { u32::MAX };
                return ta.min(tb);
            }
        }
        0
    }
}
