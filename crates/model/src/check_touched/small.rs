//! The touched check of small (order-0) folios, a run at a time: the folios a statement
//! touched at consecutive PFNs (a fork's, an exit's, a write fault's 512 per page table)
//! are checked in one pass over their `struct page`s and their truths, the design asked
//! once per run ([`foliolab_schemes::Reporting::small_run_ok`],
//! [`foliolab_schemes::Queries::small_run_mapped_pages`]), and their parts of the
//! statistics compared with the kept ones in one pass over a slice. The verdicts are the
//! per-folio path's ([`Model::small_folio_counts_ok`] and `Model::part`): debug builds
//! compare them folio by folio.

use super::{grow_to, Part, TouchedCheck};
use crate::model::Model;
use foliolab_mem::PageFlags;
use foliolab_schemes::{FolioRef, SmallFolio, SmallRun};
use foliolab_types::{FolioTruth, Order, Pfn, TruthStore, PMD_ORDER};

/// What the small-folio pass reuses from run to run within one check: the run's folios and
/// their mapped pages (at most a PMD range's worth), the truth of an unmapped small folio,
/// and whether references other than mappings can only be the swap cache's.
pub(super) struct SmallScratch<'a> {
    folios: Vec<SmallFolio<'a>>,
    mapped: Vec<Option<u64>>,
    unmapped: &'a FolioTruth,
    plain: bool,
}

impl<'a> SmallScratch<'a> {
    pub(super) fn new(model: &Model, unmapped: &'a FolioTruth) -> SmallScratch<'a> {
        debug_assert_eq!(unmapped, &FolioTruth::new(1));
        SmallScratch {
            folios: Vec::with_capacity(PMD_ORDER.nr_pages() as usize),
            mapped: Vec::with_capacity(PMD_ORDER.nr_pages() as usize),
            unmapped,
            plain: model.refs_plain(),
        }
    }
}

impl Part {
    /// [`Part::small`] packed ([`Part::pack`]), without building it.
    #[inline]
    fn pack_small(anon: bool, pages: Option<u64>) -> u64 {
        let (n, unknown) = match pages {
            Some(n) => (n.min(0xffff), 0),
            None => (0, 1),
        };
        let word = if anon {
            n | unknown << 52
        } else {
            n << 16 | unknown << 53
        };
        debug_assert_eq!(word, Part::small(anon, pages).pack());
        word
    }

    /// The part of a small folio (anon or not) whose design says it maps `pages` (`None`:
    /// the design cannot say): as [`Model::part`] gives it, for no small folio is
    /// PMD-mapped, large or flagged.
    #[inline]
    fn small(anon: bool, pages: Option<u64>) -> Part {
        Part {
            anon_mapped: if anon { pages.unwrap_or(0) } else { 0 },
            anon_unknown: anon && pages.is_none(),
            file_mapped: if anon { 0 } else { pages.unwrap_or(0) },
            file_unknown: !anon && pages.is_none(),
            ..Part::default()
        }
    }
}

impl Model {
    /// Checks the small live folios at the start of `heads` whose PFNs are consecutive
    /// (up to the end of their PMD-order block) as one run, keeping their parts of the
    /// statistics in `st`. Returns how many heads it took (0 when `heads[0]` is not a
    /// small live folio: the caller checks it alone) and whether they are all fine.
    pub(super) fn small_run_ok<'a>(
        &self,
        st: &mut TouchedCheck,
        truth: &'a TruthStore,
        heads: &[Pfn],
        scratch: &mut SmallScratch<'a>,
    ) -> (usize, bool) {
        let first = heads[0];
        let block = PMD_ORDER.nr_pages();
        let room = (block - first.0 % block).min(heads.len() as u64) as usize;
        let Some(pages) = self.mem.map.range(first, room) else {
            return (0, true);
        };
        // The run: consecutive heads of small live folios.
        let n = pages
            .iter()
            .zip(heads)
            .zip(first.0..)
            .take_while(|&((page, &head), pfn)| {
                head.0 == pfn && page.is_small_folio(head) && self.live.contains(&head)
            })
            .count();
        if n == 0 {
            return (0, true);
        }
        let mut ok = true;
        scratch.folios.clear();
        let (unmapped, plain) = (scratch.unmapped, scratch.plain);
        let each = pages[..n].iter().zip(first.0..).map(|(page, pfn)| {
            let head = Pfn(pfn);
            let (t, entries) = match truth.get(&head) {
                Some(t) => (t, t.total_entries()),
                None => (unmapped, 0),
            };
            let anon = page.flags.has(PageFlags::ANON);
            let f = FolioRef {
                head,
                order: Order(0),
                anon,
            };
            ok &= self.small_refs_ok(f, page, entries, plain);
            SmallFolio {
                anon,
                entries,
                truth: t,
            }
        });
        scratch.folios.extend(each);
        let run = SmallRun {
            first,
            folios: &scratch.folios,
        };
        ok &= self.design_small_run_ok(run);
        scratch.mapped.clear();
        let precise = self.design_small_run_mapped_pages(run, &mut scratch.mapped);
        let mapped = (!precise).then_some(&scratch.mapped[..]);
        self.keep_small_parts(st, run, mapped, scratch.unmapped);
        (n, ok)
    }

    /// Brings the kept parts of `run`'s folios (their mapped pages by the design in
    /// `mapped`, `None`: the precise ones; an unmapped folio's truth is `unmapped`) and
    /// their sums up to date.
    fn keep_small_parts(
        &self,
        st: &mut TouchedCheck,
        run: SmallRun<'_>,
        mapped: Option<&[Option<u64>]>,
        unmapped: &FolioTruth,
    ) {
        let (from, n) = (run.first.0 as usize, run.folios.len());
        grow_to(&mut st.parts, from + n - 1, 0);
        let kept = &mut st.parts[from..from + n];
        for (i, (slot, s)) in kept.iter_mut().zip(run.folios).enumerate() {
            let pages = match mapped {
                // The precise pages: one for a folio an entry maps (none when unmapped).
                None => Some((s.entries > 0) as u64),
                // An unmapped folio maps no page, whatever the design would say.
                Some(_) if std::ptr::eq(s.truth, unmapped) => Some(0),
                Some(mapped) => mapped[i],
            };
            let new = Part::pack_small(s.anon, pages);
            if *slot != new {
                st.sums.replace(slot, new);
            }
        }
        debug_assert!(run
            .iter()
            .zip(&st.parts[from..from + n])
            .all(|((f, s), &w)| {
                let flags = self.mem.page(f.head).flags;
                w == self
                    .part(f, flags, s.truth, !std::ptr::eq(s.truth, unmapped))
                    .pack()
            }));
    }
}
