//! What a statement touched, so that the checks after it cost what it touched: the page
//! tables mark the PMD ranges they hand out for writing, the memmap the pages whose metadata
//! changes and the ranges whose folio layout changes (allocation, free, split), the swap
//! device its slots, a VMA set that it changed. The runner reads the marks after a statement
//! and clears them; nothing in the model reads them.
//!
//! A mark list that nobody clears (a model driven without checks) stops growing at
//! [`Marks::CAP`] and then says "everything" ([`Marks::overflowed`]): readers fall back to a
//! full walk, so a missed clear costs time, never a missed check.

use crate::pte::Pte;
use foliolab_types::{MmId, Pfn, VirtAddr, PAGE_SIZE};

/// Entries a mark list keeps room for when cleared: one a statement grew past this (a
/// write of 1 GiB of 4K pages marks every page and every allocation) gives its memory back
/// rather than hold it to the end of the run.
pub const KEEP_ROOM: usize = 1 << 14;

/// Empties `v`, giving its memory back when it grew past [`KEEP_ROOM`] entries.
#[inline]
pub fn clear_list<T>(v: &mut Vec<T>) {
    match v.capacity() > KEEP_ROOM {
        true => *v = Vec::new(),
        false => v.clear(),
    }
}

/// Keys (PMD indexes, PFNs, swap slots) marked since the last clear, in marking order, a
/// key marked twice in a row kept once.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    list: Vec<u64>,
    overflowed: bool,
}

impl Marks {
    /// Marks kept before the list gives up and means "everything".
    pub const CAP: usize = 1 << 21;

    #[inline]
    pub fn mark(&mut self, key: u64) {
        if self.overflowed || self.list.last() == Some(&key) {
            return;
        }
        if self.list.len() >= Self::CAP {
            self.overflowed = true;
            self.list = Vec::new();
            return;
        }
        self.list.push(key);
    }
    /// Nothing marked (and no overflow).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && !self.overflowed
    }
    /// More was marked than kept: treat everything as touched.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
    /// The marked keys in marking order, possibly repeated (empty after an overflow).
    pub fn raw(&self) -> &[u64] {
        &self.list
    }
    /// The marked keys, sorted, each once (empty after an overflow).
    pub fn sorted(&self) -> Vec<u64> {
        let mut v = self.list.clone();
        v.sort_unstable();
        v.dedup();
        v
    }
    /// Forgets the marks; a list a statement grew past [`KEEP_ROOM`] keys gives its memory
    /// back.
    pub fn clear(&mut self) {
        clear_list(&mut self.list);
        self.overflowed = false;
    }
    /// Says "everything" until the next clear, keeping nothing: what a model driven without
    /// checks sets, so that marks cost no memory (a run of 1 GiB of 4K pages would
    /// otherwise keep a list as long as the pages it wrote).
    pub fn saturate(&mut self) {
        self.list = Vec::new();
        self.overflowed = true;
    }
}

/// PFNs marked since the last clear, in marking order, a PFN marked twice in a row kept
/// once (what a [`Marks`] of PFNs keeps), held as spans of consecutive PFNs (first, pages):
/// a fork's 512 small folios, a write of 1 GiB of 4K pages, is one span, not a PFN each,
/// and a mark that extends the last span costs a comparison and an add.
#[derive(Clone, Debug, Default)]
pub struct PageMarks {
    /// Each span's PFNs ascend by one, and the next span does not start at its end (a
    /// span is as long as it can be): the spans of a list of PFNs are one list.
    spans: Vec<(Pfn, u64)>,
    overflowed: bool,
}

impl PageMarks {
    /// Marks `pfn`: the last span grows by it, or holds it last already, in a few
    /// operations inline; anything else is [`PageMarks::mark_new`]'s.
    #[inline(always)]
    pub fn mark(&mut self, pfn: Pfn) {
        if let Some((first, nr)) = self.spans.last_mut() {
            let end = first.0 + *nr;
            if pfn.0 == end {
                *nr += 1;
                return;
            }
            if pfn.0 + 1 == end {
                return;
            }
        }
        // Saturated marks (a run without checks) cost this test alone.
        if self.overflowed {
            return;
        }
        self.mark_new(pfn);
    }
    /// A span of its own for `pfn` (out of line).
    #[inline(never)]
    fn mark_new(&mut self, pfn: Pfn) {
        if self.spans.len() >= Marks::CAP {
            self.overflowed = true;
            self.spans = Vec::new();
            return;
        }
        self.spans.push((pfn, 1));
    }
    /// Nothing marked (and no overflow).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && !self.overflowed
    }
    /// More was marked than kept: treat everything as touched.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
    /// The marked PFNs in marking order, possibly repeated (not twice in a row), as
    /// spans (first PFN, pages) each as long as it can be; empty after an overflow.
    pub fn spans(&self) -> &[(Pfn, u64)] {
        &self.spans
    }
    /// The marked PFNs, sorted, each once (empty after an overflow).
    pub fn sorted(&self) -> Vec<u64> {
        let mut v: Vec<u64> = (self.spans.iter())
            .flat_map(|&(first, nr)| first.0..first.0 + nr)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    /// Forgets the marks; a list a statement grew past [`KEEP_ROOM`] spans gives its
    /// memory back.
    pub fn clear(&mut self) {
        clear_list(&mut self.spans);
        self.overflowed = false;
    }
    /// Says "everything" until the next clear, keeping nothing (see [`Marks::saturate`]).
    pub fn saturate(&mut self) {
        self.spans = Vec::new();
        self.overflowed = true;
    }
}

/// What the memmap marks: pages whose `struct page` changed and ranges whose folio layout
/// changed (which folio a page belongs to, its order, whether it is allocated).
#[derive(Clone, Debug, Default)]
pub struct MemMarks {
    /// PFNs whose metadata (flags, counts, links) a writer touched.
    pub pages: PageMarks,
    /// Runs of more than one page of one folio whose metadata a writer touched, as (first
    /// PFN, pages): what `pages` would hold page by page (fork's AnonExclusive clear of a
    /// large folio's pages, one mark, not one per page). Empty after an overflow of `pages`.
    pub runs: Vec<(Pfn, u64)>,
    /// First PFNs of larger folios allocated, freed or split, with their page count.
    pub layout: Vec<(Pfn, u64)>,
    /// Small (one-page) folios allocated or freed, in marking order, as spans of
    /// consecutive PFNs (first, folios), a span grown by the next folio when it follows
    /// (a write of 1 GiB of 4K pages allocates one span, not a mark each): with `layout`,
    /// what [`MemMarks::layout_folios`] lists folio by folio.
    pub small_layout: Vec<(Pfn, u64)>,
}

impl MemMarks {
    #[inline]
    pub fn page(&mut self, pfn: Pfn) {
        self.pages.mark(pfn);
    }
    /// [`MemMarks::page`] of the `nr` pages from `first`, which lie in one folio: one run.
    #[inline]
    pub fn pages(&mut self, first: Pfn, nr: u64) {
        if self.pages.overflowed {
            return;
        }
        if nr == 1 {
            return self.page(first);
        }
        if self.runs.len() < Marks::CAP {
            self.runs.push((first, nr));
        } else {
            self.overflow();
        }
    }
    /// "Everything": the page list overflowed.
    fn overflow(&mut self) {
        self.saturate();
    }
    /// The folio of `nr_pages` from `head` was allocated, freed or split.
    #[inline]
    pub fn layout(&mut self, head: Pfn, nr_pages: u64) {
        if self.pages.overflowed {
            return;
        }
        let small = nr_pages == 1;
        if let Some((first, n)) = self.small_layout.last_mut().filter(|_| small) {
            if first.add(*n) == head {
                *n += 1;
                return;
            }
        }
        let list = match small {
            true => &mut self.small_layout,
            false => &mut self.layout,
        };
        if list.len() < Marks::CAP {
            list.push((head, nr_pages));
        } else {
            self.overflow();
        }
    }
    /// The folios allocated, freed or split, each with its page count: the small ones
    /// (from `small_layout`) first, then the larger ones; empty after an overflow.
    pub fn layout_folios(&self) -> impl Iterator<Item = (Pfn, u64)> + '_ {
        let small = (self.small_layout.iter())
            .flat_map(|&(first, n)| (0..n).map(move |i| (first.add(i), 1)));
        small.chain(self.layout.iter().copied())
    }
    /// Whether no folio was allocated, freed or split (nor the marks overflowed).
    pub fn layout_is_empty(&self) -> bool {
        self.layout.is_empty() && self.small_layout.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.runs.is_empty() && self.layout_is_empty()
    }
    pub fn clear(&mut self) {
        self.pages.clear();
        clear_list(&mut self.runs);
        clear_list(&mut self.layout);
        clear_list(&mut self.small_layout);
    }
    /// "Everything" (an overflowed page list) until the next clear, keeping nothing.
    pub fn saturate(&mut self) {
        self.pages.saturate();
        self.runs = Vec::new();
        self.layout = Vec::new();
        self.small_layout = Vec::new();
    }
}

/// Page-table entries an incremental recount counted out (`added: false`: they were there
/// and changed or went) or in (`added: true`), for checks that keep sums over entries: one
/// entry, or a run of present PTEs at consecutive addresses mapping consecutive pages with
/// the same bits (a fork's copy of a range of small folios is one change, not 512).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryChange {
    pub mm: MmId,
    /// Address the first entry maps (a PMD leaf's: its 2 MiB range).
    pub va: VirtAddr,
    /// The first entry; entry `i` of the run is this one mapping `i` pages further (its bits
    /// `pte.0 + i * PAGE_SIZE`).
    pub pte: Pte,
    /// Entries in the run (1 for a PMD leaf and for any entry not present; a run never
    /// leaves its PMD range).
    pub nr: u64,
    /// A PMD leaf rather than a PTE.
    pub pmd: bool,
    pub added: bool,
    /// The entry maps a page (present, not special) and the entry at its place on the
    /// other side of the change maps the same page: only its flags changed (a write-protect,
    /// an accessed bit), so no count, RSS included, changed with it.
    pub same_page: bool,
}

impl EntryChange {
    /// Whether `next` is the entry after this run's last, which the run can take (a PTE's
    /// PFN counts in pages of its bits: the run's entry `i` is `pte.0 + i * PAGE_SIZE`).
    #[inline]
    pub fn extends(&self, next: &EntryChange) -> bool {
        let page = PAGE_SIZE;
        !self.pmd
            && !next.pmd
            && self.pte.is_present()
            && next.pte.0 == self.pte.0 + self.nr * page
            && next.va.0 == self.va.0 + self.nr * page
            && next.mm == self.mm
            && next.added == self.added
            && next.same_page == self.same_page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_collapse_and_sorting_dedups() {
        let mut m = Marks::default();
        for k in [5, 5, 3, 5, 3] {
            m.mark(k);
        }
        assert_eq!(m.sorted(), vec![3, 5]);
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn a_saturated_list_means_everything_and_keeps_nothing() {
        let mut m = MemMarks::default();
        m.page(Pfn(7));
        m.saturate();
        for k in 0..1000 {
            m.page(Pfn(k));
            m.layout(Pfn(k), 1);
        }
        assert!(m.pages.overflowed() && !m.is_empty());
        assert!(m.pages.spans().is_empty() && m.layout.is_empty());
        assert_eq!(m.pages.spans.capacity(), 0, "nothing is kept");
        m.clear();
        assert!(m.is_empty());
        m.page(Pfn(3));
        assert_eq!(m.pages.sorted(), vec![3]);
    }

    /// The spans of a [`PageMarks`] are the PFNs a [`Marks`] keeps for the same marks, in
    /// the same order, each span as long as it can be: random walks of PFNs that step on,
    /// stay, step back or jump.
    #[test]
    fn page_marks_hold_what_a_list_of_pfns_holds() {
        let mut rng = foliolab_types::prng::Prng::new(0x5eed);
        for _ in 0..200 {
            let (mut list, mut spans) = (Marks::default(), PageMarks::default());
            let mut pfn = rng.below(64);
            for _ in 0..rng.below(300) {
                list.mark(pfn);
                spans.mark(Pfn(pfn));
                pfn = match rng.below(8) {
                    0 => pfn,
                    1 => pfn.saturating_sub(1),
                    2 => rng.below(1024),
                    _ => pfn + 1,
                };
            }
            let flat: Vec<u64> = (spans.spans().iter())
                .flat_map(|&(first, nr)| first.0..first.0 + nr)
                .collect();
            assert_eq!(flat, list.raw());
            assert!((spans.spans().windows(2)).all(|w| w[0].0.add(w[0].1) != w[1].0));
            assert_eq!(spans.sorted(), list.sorted());
        }
    }

    /// The layout marks list, folio by folio, what was marked: the small folios in the
    /// order marked (consecutive ones as one span), then the larger ones.
    #[test]
    fn layout_marks_list_each_folio_marked() {
        let mut rng = foliolab_types::prng::Prng::new(11);
        for _ in 0..200 {
            let mut m = MemMarks::default();
            let (mut small, mut large) = (Vec::new(), Vec::new());
            let mut pfn = rng.below(64);
            for _ in 0..rng.below(100) {
                let nr = [1, 1, 1, 4, 512][rng.below(5) as usize];
                m.layout(Pfn(pfn), nr);
                match nr {
                    1 => small.push((Pfn(pfn), 1)),
                    _ => large.push((Pfn(pfn), nr)),
                }
                pfn = match rng.below(4) {
                    0 => rng.below(1024),
                    1 => pfn,
                    _ => pfn + nr,
                };
            }
            let want: Vec<(Pfn, u64)> = small.iter().chain(&large).copied().collect();
            assert!(m.layout_folios().eq(want.iter().copied()));
            assert_eq!(m.layout_is_empty(), want.is_empty());
            let spans = &m.small_layout;
            assert!(spans.windows(2).all(|w| w[0].0.add(w[0].1) != w[1].0));
        }
    }

    #[test]
    fn a_run_of_pages_is_one_mark_and_one_page_a_page_mark() {
        let mut m = MemMarks::default();
        m.pages(Pfn(16), 16);
        m.pages(Pfn(40), 1);
        assert_eq!(m.runs, vec![(Pfn(16), 16)]);
        assert_eq!(m.pages.sorted(), vec![40]);
        m.clear();
        assert!(m.is_empty());
        m.pages(Pfn(32), 4);
        assert!(!m.is_empty());
        m.saturate();
        m.pages(Pfn(48), 16);
        assert!(m.pages.overflowed() && m.runs.is_empty() && m.runs.capacity() == 0);
    }

    #[test]
    fn an_uncleared_list_overflows_into_everything() {
        let mut m = Marks::default();
        for k in 0..=Marks::CAP as u64 {
            m.mark(k);
        }
        assert!(m.overflowed());
        assert!(!m.is_empty());
        assert!(m.sorted().is_empty());
        m.clear();
        assert!(m.is_empty() && !m.overflowed());
    }
}
