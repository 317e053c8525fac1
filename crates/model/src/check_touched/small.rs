//! The touched check of small (order-0) folios, a run at a time: the folios a statement
//! touched at consecutive PFNs (a fork's, an exit's, a write fault's 512 per page table)
//! are checked in a few tight passes over slices of one run: the oracle's entries of the
//! run read in one pass over its PFN index ([`TruthStore::small_entries`]), the live
//! bitmap a word at a time, then one pass over the run's `struct page`s for the refcount,
//! pin and AnonExclusive rules, the design asked once per run
//! ([`foliolab_schemes::Reporting::small_run_ok`],
//! [`foliolab_schemes::Queries::small_run_mapped_pages`]), and their parts of the
//! statistics compared with the kept ones in one pass over a slice. The verdicts are the
//! per-folio path's ([`Model::small_folio_counts_ok`] and `Model::part`): debug builds
//! compare them folio by folio.

use super::{grow_to, Part, Sums, TouchedCheck};
use crate::model::Model;
use foliolab_mem::{Page, PageFlags};
use foliolab_schemes::{FolioRef, SmallRun};
use foliolab_types::{FolioTruth, Order, Pfn, TruthStore, PMD_ORDER};

/// The buffers the small-folio pass reuses from run to run and from check to check (a
/// PMD range's worth each, allocated once).
#[derive(Clone, Debug, Default)]
pub(super) struct SmallBufs {
    anon: Vec<bool>,
    entries: Vec<u64>,
    mapped: Vec<Option<u64>>,
}

/// What the small-folio pass reads once per check: the truth of an unmapped small folio,
/// and whether references other than mappings can only be the swap cache's.
pub(super) struct SmallScratch<'a> {
    bufs: SmallBufs,
    unmapped: &'a FolioTruth,
    plain: bool,
}

impl<'a> SmallScratch<'a> {
    pub(super) fn new(model: &Model, unmapped: &'a FolioTruth, bufs: SmallBufs) -> Self {
        debug_assert_eq!(unmapped, &FolioTruth::new(1));
        let mut bufs = bufs;
        let nr = PMD_ORDER.nr_pages() as usize;
        if bufs.entries.len() < nr {
            bufs.anon.resize(nr, false);
            bufs.entries.resize(nr, 0);
            bufs.mapped.reserve(nr);
        }
        SmallScratch {
            bufs,
            unmapped,
            plain: model.refs_plain(),
        }
    }

    /// The buffers, to keep for the next check.
    pub(super) fn into_bufs(self) -> SmallBufs {
        self.bufs
    }
}

/// The bits a small folio's packed part ([`Part::pack`]) can have: its mapped pages and
/// whether the design cannot say.
const SMALL_PART: u64 = 0xffff_ffff | 1 << 52 | 1 << 53;

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

/// Changes of the sums over a run of small folios' parts, applied once per run.
#[derive(Default)]
struct SmallDelta {
    anon_mapped: i64,
    file_mapped: i64,
    anon_unknown: i64,
    file_unknown: i64,
}

impl SmallDelta {
    /// Replaces the kept part `*slot` by `new` (both a small folio's words, [`SMALL_PART`]),
    /// counting the change here; any other word goes to `sums` at once.
    #[inline]
    fn replace(&mut self, sums: &mut Sums, slot: &mut u64, new: u64) {
        let old = *slot;
        if (old | new) & !SMALL_PART != 0 {
            return sums.replace(slot, new);
        }
        let field = |w: u64, shift: u32, mask: u64| ((w >> shift) & mask) as i64;
        self.anon_mapped += field(new, 0, 0xffff) - field(old, 0, 0xffff);
        self.file_mapped += field(new, 16, 0xffff) - field(old, 16, 0xffff);
        self.anon_unknown += field(new, 52, 1) - field(old, 52, 1);
        self.file_unknown += field(new, 53, 1) - field(old, 53, 1);
        *slot = new;
    }

    fn apply(self, sums: &mut Sums) {
        sums.anon_mapped += self.anon_mapped;
        sums.file_mapped += self.file_mapped;
        sums.anon_unknown += self.anon_unknown;
        sums.file_unknown += self.file_unknown;
    }
}

/// How many of `heads` (sorted, each once) from the first are consecutive PFNs: a prefix,
/// found by bisection (`heads[k] - heads[0] - k` never decreases), in one comparison when
/// they all are.
#[inline]
fn consecutive_prefix(heads: &[Pfn]) -> usize {
    let first = heads[0].0;
    let at = |k: usize| heads[k].0 - first == k as u64;
    if at(heads.len() - 1) {
        return heads.len();
    }
    let (mut lo, mut hi) = (1, heads.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if at(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Model {
    /// Checks the small live folios at the start of `heads` (sorted, each once) whose PFNs
    /// are consecutive (up to the end of their PMD-order block) as one run, keeping their
    /// parts of the statistics in `st`. Returns how many heads it took (0 when `heads[0]`
    /// is not a small live folio, or a larger folio's truth covers it: the caller checks it
    /// alone) and whether they are all fine.
    pub(super) fn small_run_ok(
        &self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        heads: &[Pfn],
        scratch: &mut SmallScratch<'_>,
    ) -> (usize, bool) {
        debug_assert!(heads.windows(2).all(|w| w[0] < w[1]));
        let first = heads[0];
        let block = PMD_ORDER.nr_pages();
        let room = (block - first.0 % block).min(heads.len() as u64) as usize;
        let room = consecutive_prefix(&heads[..room]);
        let Some(pages) = self.mem.map.range(first, room) else {
            return (0, true);
        };
        let room = self.live.run_len(first, room);
        let bufs = &mut scratch.bufs;
        let room = truth.small_entries(first, &mut bufs.entries[..room]);
        let (n, mut ok) = self.small_pages_ok(
            first,
            &pages[..room],
            &bufs.entries[..room],
            &mut bufs.anon[..room],
            scratch.plain,
        );
        if n == 0 {
            return (0, true);
        }
        let run = SmallRun {
            first,
            anon: &bufs.anon[..n],
            entries: &bufs.entries[..n],
            truths: truth,
            unmapped: scratch.unmapped,
        };
        ok &= self.design_small_run_ok(run);
        bufs.mapped.clear();
        match self.design_small_run_mapped_pages(run, &mut bufs.mapped) {
            true => keep_precise_parts(st, run),
            false => keep_small_parts(st, run, &bufs.mapped),
        }
        self.debug_small_parts(st, run);
        (n, ok)
    }

    /// The reference, pin and AnonExclusive rules ([`Model::small_refs_ok`]) of the folios
    /// at `pages` from `first` mapped by `entries` entries, in one pass that stops at the
    /// first page that is not a small folio's; writes whether each is anon to `anon`.
    /// Returns how many it took and whether they are all fine.
    #[inline]
    fn small_pages_ok(
        &self,
        first: Pfn,
        pages: &[Page],
        entries: &[u64],
        anon: &mut [bool],
        plain: bool,
    ) -> (usize, bool) {
        let mut ok = true;
        let each = pages.iter().zip(entries).zip(anon.iter_mut());
        for (i, ((page, &e), is_anon)) in each.enumerate() {
            let head = first.add(i as u64);
            if !page.is_small_folio(head) {
                return (i, ok);
            }
            let f = FolioRef {
                head,
                order: Order(0),
                anon: page.flags.has(PageFlags::ANON),
            };
            *is_anon = f.anon;
            ok &= self.small_refs_ok(f, page, e, plain);
        }
        (pages.len(), ok)
    }

    /// Debug builds: the kept parts of `run`'s folios are [`Model::part`]'s.
    fn debug_small_parts(&self, st: &TouchedCheck, run: SmallRun<'_>) {
        if cfg!(debug_assertions) {
            let from = run.first.0 as usize;
            for (i, &w) in st.parts[from..from + run.len()].iter().enumerate() {
                let (f, t) = (run.folio(i), run.truth(i));
                let flags = self.mem.page(f.head).flags;
                let mapped = !std::ptr::eq(t, run.unmapped);
                assert_eq!(w, self.part(f, flags, t, mapped).pack(), "{:?}", f.head);
            }
        }
    }
}

/// Brings the kept parts of `run`'s folios and their sums up to date when the design's
/// mapped pages are the precise ones: one for a folio an entry maps, none otherwise.
#[inline]
fn keep_precise_parts(st: &mut TouchedCheck, run: SmallRun<'_>) {
    let (from, n) = (run.first.0 as usize, run.len());
    grow_to(&mut st.parts, from + n - 1, 0);
    let kept = &mut st.parts[from..from + n];
    let mut delta = SmallDelta::default();
    for ((slot, &e), &anon) in kept.iter_mut().zip(run.entries).zip(run.anon) {
        let mapped = (e > 0) as u64;
        let new = if anon { mapped } else { mapped << 16 };
        debug_assert_eq!(new, Part::pack_small(anon, Some(mapped)));
        if *slot != new {
            delta.replace(&mut st.sums, slot, new);
        }
    }
    delta.apply(&mut st.sums);
}

/// [`keep_precise_parts`] when the design says how many pages each folio maps
/// (`mapped`, in order; `None`: it cannot say): an unmapped folio maps none, whatever the
/// design would say.
fn keep_small_parts(st: &mut TouchedCheck, run: SmallRun<'_>, mapped: &[Option<u64>]) {
    let (from, n) = (run.first.0 as usize, run.len());
    grow_to(&mut st.parts, from + n - 1, 0);
    let kept = &mut st.parts[from..from + n];
    let mut delta = SmallDelta::default();
    for (i, slot) in kept.iter_mut().enumerate() {
        let pages = match std::ptr::eq(run.truth(i), run.unmapped) {
            true => Some(0),
            false => mapped[i],
        };
        let new = Part::pack_small(run.anon[i], pages);
        if *slot != new {
            delta.replace(&mut st.sums, slot, new);
        }
    }
    delta.apply(&mut st.sums);
}
