//! What each scheme's rmap work costs, counted per operation kind ([`Cause`]): atomic
//! read-modify-writes and distinct `struct page` cachelines touched (one 64-byte line per
//! `struct page`, from each scheme's declared field layout), plus its static layout: metadata
//! bytes, the mapping count at which a counter overflows, and whether a field sits where a
//! speculative reference could corrupt it (a tail page's `_refcount`, checked from where
//! the design's words sit: [`Layout::tail_refcount_hazard`]).

use crate::event::Cause;
use foliolab_types::Order;

/// Every cause, in report order.
pub const CAUSES: [Cause; 7] = [
    Cause::Fault,
    Cause::Fork,
    Cause::Zap,
    Cause::Cow,
    Cause::PmdSplit,
    Cause::FolioSplit,
    Cause::Migrate,
];

/// Position of `c` in [`CAUSES`].
#[inline]
pub fn cause_index(c: Cause) -> usize {
    match c {
        Cause::Fault => 0,
        Cause::Fork => 1,
        Cause::Zap => 2,
        Cause::Cow => 3,
        Cause::PmdSplit => 4,
        Cause::FolioSplit => 5,
        Cause::Migrate => 6,
    }
}

/// Short name of a cause for reports.
pub fn cause_name(c: Cause) -> &'static str {
    match c {
        Cause::Fault => "fault",
        Cause::Fork => "fork",
        Cause::Zap => "zap",
        Cause::Cow => "cow",
        Cause::PmdSplit => "pmd-split",
        Cause::FolioSplit => "folio-split",
        Cause::Migrate => "migrate",
    }
}

/// Cost of the rmap calls of one operation kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCost {
    /// rmap calls (a per-page scheme makes one per page).
    pub calls: u64,
    pub atomic_rmw: u64,
    pub cachelines: u64,
}

impl OpCost {
    #[inline]
    pub fn add(&mut self, o: OpCost) {
        self.calls += o.calls;
        self.atomic_rmw += o.atomic_rmw;
        self.cachelines += o.cachelines;
    }
}

/// Costs by operation kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    pub by_cause: [OpCost; 7],
}

impl Costs {
    /// One rmap call of kind `cause` doing `rmw` atomics on `lines` distinct cachelines.
    #[inline]
    pub fn record(&mut self, cause: Cause, rmw: u64, lines: u64) {
        self.by_cause[cause_index(cause)].add(OpCost {
            calls: 1,
            atomic_rmw: rmw,
            cachelines: lines,
        });
    }
    /// `calls` rmap calls of kind `cause` doing `rmw` atomics on `lines` cachelines in all:
    /// what as many [`Costs::record`]s would add up to.
    #[inline]
    pub fn record_calls(&mut self, cause: Cause, calls: u64, rmw: u64, lines: u64) {
        self.by_cause[cause_index(cause)].add(OpCost {
            calls,
            atomic_rmw: rmw,
            cachelines: lines,
        });
    }
    pub fn total(&self) -> OpCost {
        let mut t = OpCost::default();
        self.by_cause.iter().for_each(|c| t.add(*c));
        t
    }
    pub fn merge(&mut self, o: &Costs) {
        for (a, b) in self.by_cause.iter_mut().zip(o.by_cause.iter()) {
            a.add(*b);
        }
    }
}

/// Distinct `struct page` lines touched: pages `[start, start + nr)` of the folio plus the
/// folio-metadata pages `extra` (page indices), each counted once.
pub fn lines(start: u64, nr: u64, extra: &[u64]) -> u64 {
    let outside = |e: u64| e < start || e >= start + nr;
    // An extra page counts once: where it first appears in `extra` (no allocation: this runs
    // on every rmap call).
    let first_seen = |i: usize, e: u64| !extra[..i].contains(&e);
    let counted = extra
        .iter()
        .enumerate()
        .filter(|&(i, &e)| outside(e) && first_seen(i, e))
        .count();
    nr + counted as u64
}

/// Static facts about a scheme's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Mapcount metadata of an order-0 folio, bytes.
    pub small_bytes: u64,
    /// Per-folio metadata of a large folio independent of its size, bytes.
    pub folio_bytes: u64,
    /// Per-page metadata of a large folio, bytes per 4K page.
    pub page_bytes: u64,
    /// Extra bytes per (MM, page) pair mapped (only `exact` has any).
    pub mm_page_bytes: u64,
    /// The counter that overflows first when many MMs map a 2 MiB folio by PTEs.
    pub overflow_counter: &'static str,
    /// How many MMs can each map a 2 MiB folio fully by PTEs before it overflows.
    pub overflow_mms_2m: u64,
    /// Where the folio words sit in the tail pages when not all in page[1] after
    /// `_head_1` (`None`: [`Layout::tail_words`] places `folio_bytes` and `_pincount` there).
    pub tail_placement: Option<[TailWords; 2]>,
}

/// A run of a design's folio words in one tail page of the folio (64-bit `struct page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailWords {
    /// Index of the tail page in the folio (1 = page[1]).
    pub page: u64,
    /// First byte inside that `struct page`.
    pub offset: u64,
    pub bytes: u64,
    pub what: &'static str,
}

/// Bytes of a 64-bit `struct page`.
pub const STRUCT_PAGE_BYTES: u64 = 64;
/// First byte of a tail page free for folio words: after `_flags_N` and `_head_N`.
pub const TAIL_WORDS_START: u64 = 16;
/// `_refcount` in a 64-bit `struct page`: bytes 52..56. In a tail page it must stay 0:
/// GUP-fast and PFN walkers take speculative references with "add unless zero" on what may
/// have become a tail page meanwhile (`FOLIO_MATCH(_refcount, _refcount_1)`; seeds 000).
pub const REFCOUNT_BYTES: std::ops::Range<u64> = 52..56;
/// `_pincount`, the model's, in page[1] beside the design's words on 64-bit.
pub const PINCOUNT_BYTES: u64 = 4;

impl Layout {
    /// The design's folio words in tail pages: its placement, or `folio_bytes` and the
    /// model's `_pincount` in page[1] from [`TAIL_WORDS_START`].
    pub fn tail_words(&self) -> Vec<TailWords> {
        if let Some(p) = self.tail_placement {
            return p.iter().copied().filter(|w| w.bytes > 0).collect();
        }
        let words = TailWords {
            page: 1,
            offset: TAIL_WORDS_START,
            bytes: self.folio_bytes + PINCOUNT_BYTES,
            what: "folio words and _pincount",
        };
        vec![words]
    }

    /// The first run of folio words that overlaps a tail page's `_refcount` (or runs past
    /// its `struct page` into the next one's), if any: a speculative reference would
    /// corrupt it.
    pub fn tail_refcount_hazard(&self) -> Option<TailWords> {
        self.tail_words().into_iter().find(|w| {
            let end = w.offset + w.bytes;
            let overlaps = w.offset < REFCOUNT_BYTES.end && end > REFCOUNT_BYTES.start;
            w.page >= 1 && (overlaps || end > STRUCT_PAGE_BYTES)
        })
    }

    /// Metadata bytes of one folio of `order` mapped by one MM.
    pub fn metadata_bytes(&self, order: Order) -> u64 {
        let n = order.nr_pages();
        if order.0 == 0 {
            return self.small_bytes + self.mm_page_bytes;
        }
        self.folio_bytes + n * (self.page_bytes + self.mm_page_bytes)
    }
}

/// References (and PTE-granular mapcounts) are 32-bit signed: one MM fully PTE-mapping a
/// 2 MiB folio holds 512 of them, so about 2^31 / 512 = 2^22 MMs overflow it (seeds 004).
pub const PTE_REFCOUNT_MMS_2M: u64 = (1u64 << 31) / 512;

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            small_bytes: 4,
            folio_bytes: 0,
            page_bytes: 0,
            mm_page_bytes: 0,
            overflow_counter: "_refcount",
            overflow_mms_2m: PTE_REFCOUNT_MMS_2M,
            tail_placement: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_in_a_tail_refcount_is_flagged() {
        // Peter Xu's idea in seeds 000: keep a total mapcount in page[1]'s `_refcount`.
        let in_refcount = TailWords {
            page: 1,
            offset: 52,
            bytes: 4,
            what: "total mapcount",
        };
        let l = Layout {
            tail_placement: Some([
                in_refcount,
                TailWords {
                    bytes: 0,
                    ..in_refcount
                },
            ]),
            ..Layout::default()
        };
        assert_eq!(l.tail_refcount_hazard(), Some(in_refcount));
        // 33 bytes of words after `_head_1` with `_pincount` reach `_mapcount_1` and
        // `_refcount_1`; 28 (6.18's) end at byte 48.
        let big = Layout {
            folio_bytes: 33,
            ..Layout::default()
        };
        assert!(big.tail_refcount_hazard().is_some());
        let fits = Layout {
            folio_bytes: 28,
            ..Layout::default()
        };
        assert_eq!(fits.tail_refcount_hazard(), None);
        // The head's own `_refcount` is not a tail's.
        let head = TailWords {
            page: 0,
            ..in_refcount
        };
        let l = Layout {
            tail_placement: Some([head, head]),
            ..Layout::default()
        };
        assert_eq!(l.tail_refcount_hazard(), None);
    }

    #[test]
    fn no_registered_design_keeps_data_in_a_tail_refcount() {
        for d in crate::registry::DESIGNS {
            let l = d.instantiate().layout();
            assert_eq!(
                l.tail_refcount_hazard(),
                None,
                "{}: {:?}",
                d.name,
                l.tail_words()
            );
        }
    }
}
