//! What every read must return: the memory each process sees, kept at the level of the
//! program (writes, forks, unmaps), independent of how pages are shared physically.

use crate::bindings::Bindings;
use crate::runs::PageRuns;
use foliolab_mem::Content;
use foliolab_types::{VirtAddr, PAGE_SIZE};
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Where the data of a page of a file mapping lives (`file` is an id of the caller's
/// choosing, `index` a page index in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub file: u32,
    pub index: u64,
    /// A shared mapping writes to the file; a private one keeps its writes to itself.
    pub shared: bool,
}

/// Per process (by an id of the caller's choosing), the content of each written page, and
/// the file pages its file mappings show until it writes them privately.
#[derive(Clone, Debug, Default)]
pub struct ExpectedMemory {
    /// Per process, the content of each page it wrote: shared with its forks until one of
    /// them changes it (a fork costs nothing, the first change after it one copy).
    procs: BTreeMap<u32, Arc<PageRuns>>,
    /// Per process, the file page behind each page of its file mappings.
    bindings: BTreeMap<u32, Bindings>,
    /// Per file, the content of each written page.
    files: BTreeMap<u32, BTreeMap<u64, Content>>,
    /// Which process performed each write: runs of consecutive tags by one writer, as
    /// (first tag, writer), in tag order ([`NO_WRITER`]: writes to shared file pages).
    writers: Vec<(u32, u32)>,
    /// Child to (parent, last tag before the fork).
    forks: BTreeMap<u32, (u32, u32)>,
    next_tag: u32,
}

impl ExpectedMemory {
    /// Records a write by `proc`; returns the tag to store with the value. A write through
    /// a shared file mapping goes to the file, where every mapping of it sees it (so it is
    /// never a leak).
    pub fn write(&mut self, proc: u32, va: VirtAddr, value: u64) -> u32 {
        self.next_tag += 1;
        let tag = self.next_tag;
        let content = Content { value, tag };
        if let Some(b) = self.binding(proc, va).filter(|b| b.shared) {
            self.files
                .entry(b.file)
                .or_default()
                .insert(b.index, content);
            self.note_writer(tag, NO_WRITER);
            return tag;
        }
        self.note_writer(tag, proc);
        Arc::make_mut(self.procs.entry(proc).or_default()).set(va.page_index(), content);
        tag
    }

    fn note_writer(&mut self, tag: u32, proc: u32) {
        if self.writers.last().is_none_or(|&(_, w)| w != proc) {
            self.writers.push((tag, proc));
        }
    }

    /// The process that performed write `tag` (none for shared file writes and tag 0).
    fn writer(&self, tag: u32) -> Option<u32> {
        if tag == 0 || tag > self.next_tag {
            return None;
        }
        let i = self.writers.partition_point(|&(first, _)| first <= tag);
        let (_, w) = self.writers[i.checked_sub(1)?];
        (w != NO_WRITER).then_some(w)
    }

    fn binding(&self, proc: u32, va: VirtAddr) -> Option<Binding> {
        self.bindings.get(&proc)?.get(va.page_index())
    }

    /// What a read by `proc` at `va` must return: its own write, else the file page its
    /// mapping shows, else zero.
    pub fn expected(&self, proc: u32, va: VirtAddr) -> Content {
        if let Some(c) = self.procs.get(&proc).and_then(|m| m.get(va.page_index())) {
            return c;
        }
        self.binding(proc, va)
            .and_then(|b| self.files.get(&b.file)?.get(&b.index).copied())
            .unwrap_or_default()
    }

    /// A new file mapping of [start, end) showing `file` from page `first_index`.
    pub fn map_file(
        &mut self,
        proc: u32,
        start: VirtAddr,
        end: VirtAddr,
        file: u32,
        first_index: u64,
        shared: bool,
    ) {
        self.clear(proc, start, end);
        let (first, last) = (start.page_index(), end.0.div_ceil(PAGE_SIZE));
        let binding = Binding {
            file,
            index: first_index,
            shared,
        };
        let m = self.bindings.entry(proc).or_default();
        m.insert(first, last.saturating_sub(first), binding);
    }

    /// Pages in [start, end) lose what `proc` wrote privately (MADV_DONTNEED): anonymous
    /// memory reads zero again, a private file mapping the file.
    pub fn discard(&mut self, proc: u32, start: VirtAddr, end: VirtAddr) {
        if let Some(m) = self.procs.get_mut(&proc) {
            remove_range(m, start, end);
        }
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
        match self.writer(got.tag) {
            Some(w) if w != proc && got.tag > self.fork_point(proc, w) => Some(w),
            _ => None,
        }
    }

    /// The child starts with the parent's view of memory.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let view = self.procs.get(&parent).cloned().unwrap_or_default();
        self.procs.insert(child, view);
        let files = self.bindings.get(&parent).cloned().unwrap_or_default();
        self.bindings.insert(child, files);
        self.forks.insert(child, (parent, self.next_tag));
    }

    /// Pages in [start, end) are no longer mapped (munmap, a new mapping over them): they
    /// read zero if mapped anonymously again.
    pub fn clear(&mut self, proc: u32, start: VirtAddr, end: VirtAddr) {
        if let Some(m) = self.procs.get_mut(&proc) {
            remove_range(m, start, end);
        }
        if let Some(m) = self.bindings.get_mut(&proc) {
            m.remove(start.page_index(), end.0.div_ceil(PAGE_SIZE));
        }
    }

    /// mremap: what [start, end) held is now at `new`; the old range reads zero.
    pub fn move_range(&mut self, proc: u32, start: VirtAddr, end: VirtAddr, new: VirtAddr) {
        if let Some(m) = self.procs.get_mut(&proc) {
            move_entries(m, start, end, new);
        }
        if let Some(m) = self.bindings.get_mut(&proc) {
            m.move_range(
                start.page_index(),
                end.0.div_ceil(PAGE_SIZE),
                new.page_index(),
            );
        }
    }

    pub fn exit(&mut self, proc: u32) {
        self.procs.remove(&proc);
        self.bindings.remove(&proc);
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

/// Writer of tags that went to shared file pages (never a leak).
const NO_WRITER: u32 = u32::MAX;

/// Removes the pages of [start, end) (copied first if shared and something is removed).
fn remove_range(m: &mut Arc<PageRuns>, start: VirtAddr, end: VirtAddr) {
    let (first, last) = (start.page_index(), end.0.div_ceil(PAGE_SIZE));
    if m.any_in(first, last) {
        Arc::make_mut(m).remove(first, last);
    }
}

/// Moves the pages of [start, end) to `new`.
fn move_entries(m: &mut Arc<PageRuns>, start: VirtAddr, end: VirtAddr, new: VirtAddr) {
    let (first, last) = (start.page_index(), end.0.div_ceil(PAGE_SIZE));
    if m.any_in(first, last) {
        Arc::make_mut(m).move_range(first, last, new.page_index());
    }
}
