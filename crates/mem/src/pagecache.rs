//! The page cache of tmpfs files (memfd and shared anonymous memory are tmpfs files too):
//! for each file, its size and the folios it caches, keyed by the file index of their first
//! page. State only: the references the cache holds (one per page of a cached folio) are
//! taken and dropped by the model.

use foliolab_types::{Pfn, PfnSet};
use std::collections::BTreeMap;

/// A file of the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// One cached folio: its head and the number of pages it spans in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cached {
    pub index: u64,
    pub head: Pfn,
    pub nr_pages: u64,
}

/// A tmpfs inode and its `address_space`.
#[derive(Clone, Debug, Default)]
pub struct CachedFile {
    pub size_pages: u64,
    folios: BTreeMap<u64, Cached>,
}

impl CachedFile {
    /// The cached folio holding file page `index`.
    pub fn lookup(&self, index: u64) -> Option<Cached> {
        self.folios
            .range(..=index)
            .next_back()
            .map(|(_, c)| *c)
            .filter(|c| index < c.index + c.nr_pages)
    }
    /// Whether any page of [start, end) is cached.
    pub fn any_cached(&self, start: u64, end: u64) -> bool {
        self.lookup(start).is_some() || self.folios.range(start..end).next().is_some()
    }
    /// Cached folios overlapping [start, end), in index order.
    pub fn folios_in(&self, start: u64, end: u64) -> Vec<Cached> {
        let mut out: Vec<Cached> = self.lookup(start).into_iter().collect();
        out.extend(self.folios.range(start..end).map(|(_, c)| *c));
        out.dedup();
        out
    }
    fn insert(&mut self, c: Cached) {
        debug_assert!(!self.any_cached(c.index, c.index + c.nr_pages));
        self.folios.insert(c.index, c);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Cached> {
        self.folios.values()
    }
}

/// Every file of the run.
#[derive(Clone, Debug, Default)]
pub struct PageCache {
    files: BTreeMap<FileId, CachedFile>,
    /// Heads of every cached folio.
    heads: PfnSet,
    next: u32,
}

impl PageCache {
    pub fn create(&mut self, size_pages: u64) -> FileId {
        self.next += 1;
        let id = FileId(self.next);
        self.files.insert(
            id,
            CachedFile {
                size_pages,
                folios: BTreeMap::new(),
            },
        );
        id
    }
    pub fn file(&self, id: FileId) -> &CachedFile {
        &self.files[&id]
    }
    /// Adds a folio to file `id`'s cache.
    pub fn insert(&mut self, id: FileId, c: Cached) {
        self.files.get_mut(&id).expect("file").insert(c);
        self.heads.insert(c.head);
    }
    /// Every cached folio of every file.
    pub fn all(&self) -> impl Iterator<Item = (FileId, &Cached)> {
        self.files
            .iter()
            .flat_map(|(id, f)| f.iter().map(move |c| (*id, c)))
    }
    /// Whether `head` is a folio of the page cache.
    pub fn holds(&self, head: Pfn) -> bool {
        self.heads.contains(&head)
    }
    /// Whether [`PageCache::holds`] is false for every folio (checks then skip the lookup).
    pub fn holds_none(&self) -> bool {
        self.heads.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_folio_spanning_an_index() {
        let mut pc = PageCache::default();
        let id = pc.create(64);
        pc.insert(
            id,
            Cached {
                index: 16,
                head: Pfn(0x2000),
                nr_pages: 16,
            },
        );
        assert!(pc.holds(Pfn(0x2000)));
        let f = pc.file(id);
        assert_eq!(f.lookup(20).map(|c| c.head), Some(Pfn(0x2000)));
        assert!(f.lookup(32).is_none());
        assert!(f.any_cached(0, 17));
        assert!(!f.any_cached(0, 16));
        assert_eq!(f.folios_in(18, 40).len(), 1);
    }
}
