//! The touched check of small (order-0) folios, a run at a time: the folios a statement
//! touched at consecutive PFNs (a fork's, an exit's, a write fault's 512 per page table)
//! are checked in a few tight passes over slices of one run: the oracle's entries of the
//! run read in one pass over its PFN index ([`TruthStore::small_entries`]), the live
//! bitmap a word at a time, then one pass with no branch over the run's `struct page`s
//! for the refcount, pin, AnonExclusive and writable rules, the design asked once per run
//! ([`foliolab_schemes::Reporting::small_run_ok`]), and their parts of the statistics
//! kept in one pass over a slice (none changes at a fork or an exit; a design whose
//! mapped pages are the precise ones, [`foliolab_schemes::Queries::small_mapped_pages_precise`],
//! is not asked for them). The verdicts are the per-folio path's
//! ([`Model::small_folio_counts_ok`], `Model::writable_ok` and `Model::part`): debug
//! builds compare the parts folio by folio, and the tests of
//! `crates/sim/tests/small_folio_faults.rs` break each rule inside a run.

use super::parts::{compact, Parts, WIDE};
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
    /// `entries` narrowed to 32 bits ([`narrow_entries`]): the passes over a run's pages
    /// then work in lanes of one width, which the compiler vectorizes.
    narrow: Vec<u32>,
    mapped: Vec<Option<u64>>,
}

/// What the small-folio pass reads once per check: the truth of an unmapped small folio,
/// whether references other than mappings can only be the swap cache's, and whether the
/// design's mapped pages are the precise ones.
pub(super) struct SmallScratch<'a> {
    bufs: SmallBufs,
    unmapped: &'a FolioTruth,
    plain: bool,
    /// The design's mapped pages of small folios are the precise ones.
    precise: bool,
}

impl<'a> SmallScratch<'a> {
    pub(super) fn new(model: &Model, unmapped: &'a FolioTruth, bufs: SmallBufs) -> Self {
        debug_assert_eq!(unmapped, &FolioTruth::new(1));
        let mut bufs = bufs;
        let nr = PMD_ORDER.nr_pages() as usize;
        if bufs.entries.len() < nr {
            bufs.anon.resize(nr, false);
            bufs.entries.resize(nr, 0);
            bufs.narrow.resize(nr, 0);
            bufs.mapped.reserve(nr);
        }
        SmallScratch {
            bufs,
            unmapped,
            plain: model.refs_plain(),
            precise: model.design_small_mapped_pages_precise(),
        }
    }

    /// The buffers, to keep for the next check.
    pub(super) fn into_bufs(self) -> SmallBufs {
        self.bufs
    }
}

/// What the pass over a run's pages reads and writes besides the pages, each slice as long
/// as the pages: the entries mapping each folio, the writable entries mapping each page
/// (`TouchedCheck::writable`), whether each folio is anon (written), and the kept parts
/// with their sums, when the pass keeps them.
struct PagePass<'s> {
    entries: &'s [u32],
    writable: &'s [u32],
    anon: &'s mut [bool],
    /// The kept parts, the run's from `from` (when the pass keeps them), and their sums.
    parts: &'s mut Parts,
    from: usize,
    sums: &'s mut Sums,
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

/// How many of `heads` (sorted, each once) from the first are consecutive PFNs: a prefix,
/// found by bisection (`heads[k] - heads[0] - k` never decreases), in one comparison when
/// they all are.
#[inline]
pub(super) fn consecutive_prefix(heads: &[Pfn]) -> usize {
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
        // A run past 32-bit PFNs or counts (none in practice) is checked folio by folio.
        if room == 0 || !narrow_entries(first, &bufs.entries[..room], &mut bufs.narrow) {
            return (0, true);
        }
        let from = first.0 as usize;
        st.parts.grow_to(from + room - 1);
        grow_to(&mut st.writable, from + room - 1, 0);
        let precise = scratch.precise;
        let TouchedCheck {
            parts,
            sums,
            writable,
            ..
        } = st;
        let pass = PagePass {
            entries: &bufs.narrow[..room],
            writable: &writable[from..from + room],
            anon: &mut bufs.anon[..room],
            parts,
            from,
            sums,
        };
        let refs_ok =
            |f: FolioRef, page: &Page, e: u32| self.small_refs_ok(f, page, e as u64, false);
        let pages = &pages[..room];
        let (n, mut ok) = match (scratch.plain, precise) {
            (true, true) => pages_pass::<true, true>(first, pages, pass, &refs_ok),
            (true, false) => pages_pass::<true, false>(first, pages, pass, &refs_ok),
            (false, true) => pages_pass::<false, true>(first, pages, pass, &refs_ok),
            (false, false) => pages_pass::<false, false>(first, pages, pass, &refs_ok),
        };
        if n == 0 {
            return (0, true);
        }
        let run = SmallRun {
            first,
            anon: &bufs.anon[..n],
            entries: &bufs.narrow[..n],
            truths: truth,
            unmapped: scratch.unmapped,
        };
        ok &= self.design_small_run_ok(run);
        if !precise {
            bufs.mapped.clear();
            self.design_small_run_mapped_pages(run, &mut bufs.mapped);
            keep_small_parts(st, run, &bufs.mapped);
        }
        self.debug_small_parts(st, run);
        (n, ok)
    }

    /// Debug builds: the kept parts of `run`'s folios are [`Model::part`]'s.
    fn debug_small_parts(&self, st: &TouchedCheck, run: SmallRun<'_>) {
        if cfg!(debug_assertions) {
            let from = run.first.0 as usize;
            for (i, &w) in st.parts.words[from..from + run.len()].iter().enumerate() {
                let (f, t) = (run.folio(i), run.truth(i));
                let flags = self.mem.page(f.head).flags;
                let mapped = run.stored(i);
                let want = compact(self.part(f, flags, &t, mapped).pack());
                assert_eq!(w, want, "{:?}", f.head);
            }
        }
    }
}

/// Whether `page`, the `struct page` of `pfn`, is a small folio's
/// ([`Page::is_small_folio`]), without a branch: for loops that fold it.
#[inline(always)]
pub(super) fn small_folio_bits(page: &Page, pfn: u64) -> bool {
    const KIND: u32 = PageFlags::ALLOCATED | PageFlags::HEAD | PageFlags::BUDDY;
    let small = (page.flags.0 & KIND == PageFlags::ALLOCATED) & (page.head().0 == pfn);
    debug_assert_eq!(small, page.is_small_folio(Pfn(pfn)));
    small
}

/// How many of `pages` (from `first`) are small folios' before the first that is not: one
/// pass with no branch when all are.
#[inline]
pub(super) fn small_prefix(first: Pfn, pages: &[Page]) -> usize {
    let all =
        (pages.iter().zip(first.0..)).fold(true, |all, (p, pfn)| all & small_folio_bits(p, pfn));
    if all {
        return pages.len();
    }
    (pages.iter().zip(first.0..))
        .take_while(|&(p, pfn)| small_folio_bits(p, pfn))
        .count()
}

/// The rules of the small folios at `pages` from `first`, up to the first page that is
/// not a small folio's: the reference, pin and AnonExclusive rules
/// ([`Model::small_refs_ok`]; `PLAIN`: nothing but the swap cache can hold a reference,
/// else `refs_ok` answers them), the writable rule of `Model::writable_ok` (no writable
/// entry maps a page of an anon folio that is not AnonExclusive); then (`PARTS`: the
/// design's mapped pages being the precise ones) the folios' parts of the statistics.
/// Writes whether each folio is anon. Returns how many it took and whether they are all
/// fine. One pass with no branch when every page is a small folio's (else a second over
/// those before the first that is not). Out of line: its loop keeps its slices in
/// registers.
#[inline(never)]
fn pages_pass<const PLAIN: bool, const PARTS: bool>(
    first: Pfn,
    pages: &[Page],
    pass: PagePass<'_>,
    refs_ok: &dyn Fn(FolioRef, &Page, u32) -> bool,
) -> (usize, bool) {
    let m = pages.len();
    let (entries, writable) = (&pass.entries[..m], &pass.writable[..m]);
    let (all, bad) = rules::<PLAIN>(first, pages, entries, writable, pass.anon, refs_ok);
    let (n, bad) = match all {
        true => (m, bad),
        false => {
            let n = small_prefix(first, pages);
            let anon = &mut pass.anon[..n];
            let (_, bad) = rules::<PLAIN>(first, &pages[..n], entries, writable, anon, refs_ok);
            (n, bad)
        }
    };
    if PARTS {
        keep_precise_parts(pass.parts, pass.from, &entries[..n], pass.anon, pass.sums);
    }
    (n, !bad)
}

/// [`pages_pass`]'s rules over every page of `pages` (from `first`; the other slices at
/// least as long), with no branch: whether every page is a small folio's, and whether a
/// rule is broken (meaningful when every page is a small folio's).
#[inline(always)]
fn rules<const PLAIN: bool>(
    first: Pfn,
    pages: &[Page],
    entries: &[u32],
    writable: &[u32],
    anon: &mut [bool],
    refs_ok: &dyn Fn(FolioRef, &Page, u32) -> bool,
) -> (bool, bool) {
    if PLAIN {
        return plain_rules(first, pages, entries, writable, anon);
    }
    let m = pages.len();
    let (entries, writable, anon) = (&entries[..m], &writable[..m], &mut anon[..m]);
    let (mut all, mut bad) = (true, false);
    for i in 0..m {
        let (page, e) = (&pages[i], entries[i]);
        all &= small_folio_bits(page, first.0 + i as u64);
        let flags = page.flags;
        let is_anon = flags.has(PageFlags::ANON);
        anon[i] = is_anon;
        if all {
            let f = FolioRef {
                head: first.add(i as u64),
                order: Order(0),
                anon: is_anon,
            };
            bad |= !refs_ok(f, page, e);
        }
        // writable_ok's rule, for a small folio's page.
        bad |= (writable[i] > 0) & is_anon & !flags.has(PageFlags::ANON_EXCLUSIVE);
    }
    (all, bad)
}

/// [`rules`] when nothing but the swap cache can hold a reference: `Model::small_refs_ok`
/// (the refcount is the entries plus one for the swap cache, never 0, and an anon page
/// mapped more than once is not AnonExclusive) and the writable rule, in lanes of 32 bits
/// (the PFNs and entries fit: [`narrow_entries`]), which the compiler vectorizes: the
/// `struct page`s are read four at a time.
#[inline(always)]
fn plain_rules(
    first: Pfn,
    pages: &[Page],
    entries: &[u32],
    writable: &[u32],
    anon: &mut [bool],
) -> (bool, bool) {
    const KIND: u32 = PageFlags::ALLOCATED | PageFlags::HEAD | PageFlags::BUDDY;
    let m = pages.len();
    let (entries, writable, anon) = (&entries[..m], &writable[..m], &mut anon[..m]);
    let first = first.0 as u32;
    // Bits set by a page that is not a small folio's, and by a broken rule.
    let (mut not_small, mut bad) = (0u32, 0u32);
    for i in 0..m {
        let (page, e) = (&pages[i], entries[i]);
        let flags = page.flags.0;
        let head = page.head().0 as u32;
        not_small |=
            ((flags & KIND) ^ PageFlags::ALLOCATED) | (head ^ first.wrapping_add(i as u32));
        let is_anon = (flags & PageFlags::ANON != 0) as u32;
        anon[i] = is_anon != 0;
        let exclusive = (flags & PageFlags::ANON_EXCLUSIVE != 0) as u32;
        let extra = (flags & PageFlags::SWAPCACHE != 0) as u32;
        let refs = page.refcount as u32;
        bad |= refs ^ e.wrapping_add(extra);
        bad |= (refs == 0) as u32 | (is_anon & exclusive & (e > 1) as u32);
        // writable_ok's rule, for a small folio's page.
        bad |= (writable[i] > 0) as u32 & is_anon & (exclusive ^ 1);
    }
    (not_small == 0, bad != 0)
}

/// Narrows the entries `wide` of the run of folios from `first` into `narrow`: whether
/// they and the run's PFNs all fit in 32 bits with room to spare (entries below 2^30,
/// so that a refcount plus one compares exactly), in one pass with no branch.
#[inline]
pub(super) fn narrow_entries(first: Pfn, wide: &[u64], narrow: &mut [u32]) -> bool {
    let narrow = &mut narrow[..wide.len()];
    let mut high = 0u64;
    for (n, &e) in narrow.iter_mut().zip(wide) {
        *n = e as u32;
        high |= e;
    }
    high >> 30 == 0 && first.0 + wide.len() as u64 <= u32::MAX as u64
}

/// Brings the kept parts of a run's folios (from `from`, mapped by `entries` entries, anon
/// or not by `anon`) and their sums up to date when the design's mapped pages are the
/// precise ones (one for a folio an entry maps, none otherwise), in passes with no branch
/// over their compact words: whether any part changed (none did at a fork or an exit); if
/// so, and none is kept wide, the old and the new parts summed field by field.
#[inline(never)]
fn keep_precise_parts(
    parts: &mut Parts,
    from: usize,
    entries: &[u32],
    anon: &[bool],
    sums: &mut Sums,
) {
    let n = entries.len();
    let anon = &anon[..n];
    // 1 for a mapped anon folio, 1 << 16 for a mapped file folio, 0 unmapped: selected by
    // a mask, not shifted by a count per folio, so that the pass vectorizes.
    let new_part = |i: usize| {
        let mapped = (entries[i] != 0) as u32;
        let anon_mask = (anon[i] as u32).wrapping_neg();
        let word = (mapped & anon_mask) | ((mapped << 16) & !anon_mask);
        debug_assert_eq!(
            word,
            compact(Part::pack_small(anon[i], Some(mapped as u64)))
        );
        word
    };
    let kept = &mut parts.words[from..from + n];
    if (0..n).fold(0, |changed, i| changed | (kept[i] ^ new_part(i))) == 0 {
        return;
    }
    if kept.iter().fold(false, |wide, &w| wide | (w == WIDE)) {
        for i in 0..n {
            parts.replace(from + i, new_part(i) as u64, sums);
        }
        return;
    }
    // The new parts are 0, 1 (anon) or 1 << 16 (file): at most a PMD range's worth add up
    // without a carry from one field to the other.
    debug_assert!(n <= 0x7fff);
    sums.remove_compact(kept);
    let mut new_sum = 0u32;
    for (i, slot) in kept.iter_mut().enumerate() {
        *slot = new_part(i);
        new_sum += *slot;
    }
    sums.anon_mapped += (new_sum & 0xffff) as i64;
    sums.file_mapped += (new_sum >> 16) as i64;
}

/// Sets the kept parts of the `n` freed folios from `from` to none, taking them out of
/// `sums`: in passes with no branch over their compact words when none is kept wide.
pub(super) fn clear_parts(parts: &mut Parts, from: usize, n: usize, sums: &mut Sums) {
    let kept = &mut parts.words[from..from + n];
    let any = kept.iter().fold(0, |any, &w| any | w);
    if any == 0 {
        return;
    }
    if kept.iter().fold(false, |wide, &w| wide | (w == WIDE)) {
        for i in from..from + n {
            parts.replace(i, 0, sums);
        }
        return;
    }
    sums.remove_compact(kept);
    kept.fill(0);
}

/// Brings the kept parts of `run`'s folios and their sums up to date when the design says
/// how many pages each folio maps (`mapped`, in order): an unmapped folio maps none,
/// whatever the design would say.
fn keep_small_parts(st: &mut TouchedCheck, run: SmallRun<'_>, mapped: &[Option<u64>]) {
    let from = run.first.0 as usize;
    for (i, &said) in mapped[..run.len()].iter().enumerate() {
        let pages = match run.stored(i) {
            false => Some(0),
            true => said,
        };
        let new = Part::pack_small(run.anon[i], pages);
        st.parts.replace(from + i, new, &mut st.sums);
    }
}
