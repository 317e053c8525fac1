//! The folios a statement touched, from the memmap's marks and the heads whose truth the
//! oracle's recount changed: sorted, each once. A fork, an exit, a write fault or a munmap
//! marks the pages of the very folios whose truth changed, so each marked page is first
//! looked for in that list (one forward cursor, no search) and only a head the list lacks
//! is gathered and merged in; `struct page`s are read a PMD-order block's slice at a time,
//! and a small folio (its own head, no tails) or a free page is taken from that one read.

use super::{clear_list, merge_sorted, TouchedCheck};
use crate::model::Model;
use foliolab_mem::{Page, PageFlags};
use foliolab_types::{Pfn, PfnArray, PMD_ORDER};

/// `struct page`s read through the slice of the last PMD-order block read: consecutive
/// PFNs cost an index each, not a section lookup.
struct PageCursor<'a> {
    map: &'a PfnArray<Page>,
    block: u64,
    pages: Option<&'a [Page]>,
}

impl<'a> PageCursor<'a> {
    fn new(map: &'a PfnArray<Page>) -> PageCursor<'a> {
        PageCursor {
            map,
            block: u64::MAX,
            pages: None,
        }
    }

    /// The `struct page` of `pfn` (as [`foliolab_mem::Memory::page`] reads it: a free
    /// page's where its section was never written).
    #[inline]
    fn page(&mut self, pfn: Pfn) -> Page {
        let nr = PMD_ORDER.nr_pages();
        let block = pfn.0 / nr;
        if block != self.block {
            self.block = block;
            self.pages = self.map.range(Pfn(block * nr), nr as usize);
        }
        match self.pages {
            Some(pages) => pages[(pfn.0 % nr) as usize],
            None => Page::default(),
        }
    }
}

/// A sorted list of heads searched with a cursor that only moves forward: heads asked in
/// ascending order cost a comparison or two each; one asked out of order is reported
/// absent (the caller then gathers it, which is only slower).
struct Known<'a> {
    sorted: &'a [Pfn],
    at: usize,
}

impl Known<'_> {
    #[inline]
    fn contains(&mut self, head: Pfn) -> bool {
        while self.at < self.sorted.len() && self.sorted[self.at] < head {
            self.at += 1;
        }
        self.sorted.get(self.at) == Some(&head)
    }
}

impl Model {
    /// Live folios (and freed heads) whose state the statement may have changed: those
    /// whose truth changed (`changed`, sorted, each once), whose pages' metadata was
    /// written (`pages`, the marked PFNs), or whose layout changed; sorted, each once.
    /// Also, from the same walk, whether no tail page of a live folio among the pages
    /// whose metadata or layout changed has a refcount (a page no statement touched keeps
    /// the refcount it had).
    pub(super) fn touched_folios(
        &self,
        st: &mut TouchedCheck,
        changed: &[Pfn],
        pages: &[(Pfn, u64)],
    ) -> (Vec<Pfn>, bool) {
        debug_assert!(changed.windows(2).all(|w| w[0] < w[1]));
        let marks = &self.mem.touched;
        if marks.pages.overflowed() {
            return self.every_folio(changed);
        }
        // The heads the marks name that `changed` lacks, then sorted and merged with it;
        // the lists of the last check, reused: their capacity fits the next statement's.
        let [mut extra, mut spare] = std::mem::take(&mut st.found);
        clear_list(&mut extra);
        let mut cursor = PageCursor::new(&self.mem.map);
        let mut known = Known {
            sorted: changed,
            at: 0,
        };
        let mut tails_ok = self.marked_heads(pages, &mut cursor, &mut known, &mut extra);
        for &(first, nr) in &marks.runs {
            let h = self.run_head(first, nr);
            if changed.binary_search(&h).is_err() {
                extra.push(h);
            }
        }
        let mut known = Known {
            sorted: changed,
            at: 0,
        };
        for &(head, nr_pages) in &marks.layout {
            tails_ok &= self.layout_heads(head, nr_pages, &mut cursor, &mut known, &mut extra);
        }
        let mut out = std::mem::take(&mut st.folios);
        clear_list(&mut out);
        if extra.is_empty() {
            out.extend_from_slice(changed);
        } else {
            // Marks come in ascending PFN order but where a statement walked memory otherwise.
            if !extra.is_sorted() {
                extra.sort_unstable();
            }
            extra.dedup();
            merge_sorted(changed, &extra, &mut out);
        }
        clear_list(&mut spare);
        st.found = [extra, spare];
        (out, tails_ok)
    }

    /// Whether the memmap's marks name exactly the heads in `changed`, in that order: the
    /// marked pages are they, no run of pages was marked, and the layout marks (if any)
    /// are those pages one by one. Then, if each is its own folio's head, they are the
    /// touched folios and no tail needs looking at.
    pub(super) fn marks_are_changed(&self, changed: &[Pfn], pages: &[(Pfn, u64)]) -> bool {
        let marks = &self.mem.touched;
        let layout = &marks.layout;
        !marks.pages.overflowed()
            && marks.runs.is_empty()
            && spans_are(pages, changed)
            && (layout.is_empty()
                || (layout.len() == changed.len()
                    && (layout.iter().zip(changed))
                        .fold(true, |same, (&(h, n), c)| same & (h == *c) & (n == 1))))
    }

    /// The heads of the folios holding the marked `pages` (a free page stands for itself)
    /// that `known` lacks, appended to `extra` (a run of a large folio's pages looks its
    /// head up once); and whether no marked page is a live folio's tail with a refcount.
    fn marked_heads(
        &self,
        pages: &[(Pfn, u64)],
        cursor: &mut PageCursor<'_>,
        known: &mut Known<'_>,
        extra: &mut Vec<Pfn>,
    ) -> bool {
        let mut tails_ok = true;
        let (mut folio, mut h) = (0..0, Pfn(0));
        for pfn in span_pfns(pages) {
            if folio.contains(&pfn.0) {
                tails_ok &= !self.bad_tail(pfn, h);
                continue;
            }
            let page = cursor.page(pfn);
            // A small folio is its own head, and has no tail; so is a free page, which
            // belongs to no folio.
            if page.is_small_folio(pfn) || !page.flags.has(PageFlags::ALLOCATED) {
                if !known.contains(pfn) {
                    extra.push(pfn);
                }
                continue;
            }
            (h, folio) = self.folio_span(pfn);
            if !known.contains(h) {
                extra.push(h);
            }
            tails_ok &= !self.bad_tail(pfn, h);
        }
        tails_ok
    }

    /// The folios (or free heads) of the range of `nr_pages` from `head` whose layout
    /// changed that `known` lacks, appended to `extra`; and whether no live folio's tail
    /// there has a refcount.
    fn layout_heads(
        &self,
        head: Pfn,
        nr_pages: u64,
        cursor: &mut PageCursor<'_>,
        known: &mut Known<'_>,
        extra: &mut Vec<Pfn>,
    ) -> bool {
        // With a swap device every freed page is listed, for the swap-cache rules.
        let each_free_page = self.swap.is_some();
        let mut push = |h: Pfn| {
            if !known.contains(h) {
                extra.push(h);
            }
        };
        let mut tails_ok = true;
        let (mut pfn, end) = (head, head.add(nr_pages));
        while pfn < end {
            let page = cursor.page(pfn);
            if !each_free_page && !page.flags.has(PageFlags::ALLOCATED) {
                // Free memory: only the range's first page can have been a folio the last
                // check saw (a folio freed is marked from its head); any other page with a
                // truth was counted in this statement, so is in `changed`.
                if pfn == head {
                    push(pfn);
                }
                // A freed small folio's range ends here: no buddy block to look for.
                pfn = match end.offset_from(pfn) {
                    1 => end,
                    _ => self.free_block_end(pfn).min(end),
                };
                continue;
            }
            // A small folio is its own head and has no tail.
            if page.is_small_folio(pfn) {
                push(pfn);
                pfn = pfn.add(1);
                continue;
            }
            let h = self.head_or_self(pfn);
            push(h);
            if !self.live.contains(&h) {
                pfn = pfn.add(1);
                continue;
            }
            let next = h.add(self.mem.folio_order(h).nr_pages()).max(pfn.add(1));
            tails_ok &= !(pfn.0..next.0).any(|p| self.bad_tail(Pfn(p), h));
            pfn = next;
        }
        tails_ok
    }
}

/// The PFNs of `spans` (first PFN, pages), one span after another.
#[inline]
pub(super) fn span_pfns(spans: &[(Pfn, u64)]) -> impl Iterator<Item = Pfn> + '_ {
    (spans.iter()).flat_map(|&(first, nr)| (first.0..first.0 + nr).map(Pfn))
}

/// Whether `spans` (first PFN, pages) hold the PFNs of `heads`, in that order: one pass
/// with no branch per span (they almost always do when a statement marked the pages of
/// the folios whose truth it changed).
#[inline]
pub(super) fn spans_are(spans: &[(Pfn, u64)], heads: &[Pfn]) -> bool {
    let mut at = 0;
    for &(first, nr) in spans {
        let Some(run) = heads.get(at..at + nr as usize) else {
            return false;
        };
        if !(run.iter().zip(first.0..)).fold(true, |same, (h, p)| same & (h.0 == p)) {
            return false;
        }
        at += nr as usize;
    }
    at == heads.len()
}

/// Appends the `nr` PFNs from `first` to `spans`, the last span grown when they follow it:
/// each span stays as long as it can be.
#[inline]
pub(super) fn push_span(spans: &mut Vec<(Pfn, u64)>, first: Pfn, nr: u64) {
    match spans.last_mut() {
        Some((run, n)) if run.add(*n) == first => *n += nr,
        _ => spans.push((first, nr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::prng::Prng;

    /// Random PFN lists that step on, stay, step back or jump, a few PFNs at a time.
    fn walks(seed: u64) -> impl Iterator<Item = Vec<(Pfn, u64)>> {
        let mut rng = Prng::new(seed);
        (0..300).map(move |_| {
            let mut pfn = rng.below(64);
            let n = rng.below(40);
            (0..n)
                .map(|_| {
                    let nr = 1 + rng.below(3) * rng.below(2);
                    let at = Pfn(pfn);
                    pfn = match rng.below(6) {
                        0 => pfn,
                        1 => pfn.saturating_sub(1),
                        2 => rng.below(256),
                        _ => pfn + nr,
                    };
                    (at, nr)
                })
                .collect()
        })
    }

    /// Spans pushed with [`push_span`] hold the pushed PFNs in order, each span as long
    /// as it can be, so that two lists of the same PFNs are the same spans.
    #[test]
    fn pushed_spans_hold_the_pfns_pushed() {
        for pushes in walks(0x5eed) {
            let mut spans = Vec::new();
            for &(first, nr) in &pushes {
                push_span(&mut spans, first, nr);
            }
            let want: Vec<Pfn> = span_pfns(&pushes).collect();
            assert!(span_pfns(&spans).eq(want.iter().copied()));
            assert!(spans.windows(2).all(|w| w[0].0.add(w[0].1) != w[1].0));
            let mut one_by_one = Vec::new();
            for &p in &want {
                push_span(&mut one_by_one, p, 1);
            }
            assert_eq!(one_by_one, spans);
        }
    }

    /// [`spans_are`] answers as a comparison of the spans' PFNs with the heads, one by one:
    /// for the same PFNs, and for lists that differ in one PFN, are one longer or shorter.
    #[test]
    fn spans_are_is_a_comparison_pfn_by_pfn() {
        let mut rng = Prng::new(7);
        for spans in walks(9) {
            let flat: Vec<Pfn> = span_pfns(&spans).collect();
            let mut other = flat.clone();
            match rng.below(4) {
                0 => {}
                1 if !other.is_empty() => {
                    let i = rng.below(other.len() as u64) as usize;
                    other[i] = Pfn(other[i].0 ^ (1 + rng.below(4)));
                }
                2 => other.push(Pfn(rng.below(64))),
                _ => drop(other.pop()),
            }
            assert_eq!(
                spans_are(&spans, &other),
                flat == other,
                "{spans:?} {other:?}"
            );
        }
    }
}
