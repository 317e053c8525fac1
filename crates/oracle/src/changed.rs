//! [`Changed`]: the heads of the folios whose truth an update of the kept recount changed,
//! handed to the model's touched check sorted and each once.

use foliolab_types::Pfn;

/// Heads in the order the update met them: a walk of page tables in address order meets
/// the folios of a run of PTEs in PFN order, so the list is mostly sorted as it grows and
/// is sorted at the end only when a head came out of order.
#[derive(Clone, Default)]
pub(crate) struct Changed {
    heads: Vec<Pfn>,
    /// A head came below the one before it (the list needs sorting and deduplicating).
    unordered: bool,
}

impl Changed {
    pub(crate) fn clear(&mut self) {
        self.heads.clear();
        self.unordered = false;
    }

    /// Adds `head` (nothing when it is the last one added).
    #[inline]
    pub(crate) fn push(&mut self, head: Pfn) {
        if let Some(&last) = self.heads.last() {
            if last == head {
                return;
            }
            self.unordered |= head < last;
        }
        self.heads.push(head);
    }

    /// Adds the `nr` heads from `first` on (consecutive one-page folios, a run of PTEs
    /// walked): one comparison with the last head, not one per head.
    #[inline]
    pub(crate) fn push_pages(&mut self, first: Pfn, nr: u64) {
        if nr == 0 {
            return;
        }
        self.push(first);
        self.heads.extend((1..nr).map(|i| first.add(i)));
    }

    /// Sorted, each once (after [`Changed::finish`]).
    pub(crate) fn heads(&self) -> &[Pfn] {
        &self.heads
    }

    /// Sorts and deduplicates the list if a head came out of order.
    pub(crate) fn finish(&mut self) {
        if self.unordered {
            self.heads.sort_unstable();
            self.heads.dedup();
            self.unordered = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_sorted_and_once_however_they_came() {
        let mut c = Changed::default();
        for h in [3, 3, 4, 9, 9] {
            c.push(Pfn(h));
        }
        c.finish();
        assert_eq!(c.heads(), &[Pfn(3), Pfn(4), Pfn(9)]);
        for h in [1, 5, 2, 5, 1] {
            c.push(Pfn(h));
        }
        c.finish();
        let want: Vec<Pfn> = [1, 2, 3, 4, 5, 9].into_iter().map(Pfn).collect();
        assert_eq!(c.heads(), &want[..]);
        c.clear();
        c.push(Pfn(7));
        c.push_pages(Pfn(7), 3);
        c.push_pages(Pfn(12), 0);
        c.finish();
        assert_eq!(c.heads(), &[Pfn(7), Pfn(8), Pfn(9)]);
        c.push_pages(Pfn(2), 2);
        c.finish();
        assert_eq!(c.heads(), &[Pfn(2), Pfn(3), Pfn(7), Pfn(8), Pfn(9)]);
        c.clear();
        c.push(Pfn(7));
        c.finish();
        assert_eq!(c.heads(), &[Pfn(7)]);
    }
}
