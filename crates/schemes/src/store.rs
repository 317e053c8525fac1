//! Per-folio state keyed by the head PFN, created when the folio is prepared and dropped when
//! it is freed. Ordered (`BTreeMap`), as every collection in model state is.

use crate::event::FolioRef;
use foliolab_types::Pfn;
use std::collections::BTreeMap;

/// State a scheme keeps for one folio.
pub trait FolioState: Clone {
    /// The state of a folio fresh from the allocator.
    fn fresh(f: FolioRef) -> Self;
    /// What is not back at its initial value (a "bad page"), if anything.
    fn leftovers(&self) -> Option<String>;
}

/// Every live folio's state.
#[derive(Clone, Debug)]
pub struct Store<T> {
    map: BTreeMap<Pfn, T>,
}

impl<T> Default for Store<T> {
    fn default() -> Store<T> {
        Store {
            map: BTreeMap::new(),
        }
    }
}

impl<T: FolioState> Store<T> {
    pub fn prep(&mut self, f: FolioRef) {
        self.map.insert(f.head, T::fresh(f));
    }
    /// Drops the state; the error names what was left over.
    pub fn free(&mut self, f: FolioRef) -> Result<(), String> {
        match self.map.remove(&f.head).and_then(|s| s.leftovers()) {
            None => Ok(()),
            Some(bad) => Err(format!("bad page state in {:?}: {bad}", f.head)),
        }
    }
    pub fn get_mut(&mut self, f: FolioRef) -> &mut T {
        self.map.entry(f.head).or_insert_with(|| T::fresh(f))
    }
    /// The folio's state, or a fresh one if the scheme never saw it.
    pub fn get(&self, f: FolioRef) -> std::borrow::Cow<'_, T> {
        match self.map.get(&f.head) {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(T::fresh(f)),
        }
    }
}
