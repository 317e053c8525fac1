//! The recount kept between statements: the truth of every mapped folio, updated from the
//! PMD ranges a statement touched instead of recounted from every page table. For each
//! (mm, PMD range) it keeps a copy of the entries it counted there; an update counts out the
//! old entries that differ from the page table's now and counts in the new ones. Which folio
//! an entry counts for comes from the memmap when it is counted in, so a range of memory
//! whose folio layout changed (allocation, free, split) sends every mm that mapped it there
//! through a full recount of its ranges. Every old entry is counted out before any new one is
//! counted in, so a folio's truth never mixes the old layout with the new.
//!
//! [`Recounter::truth`] equals [`crate::recount`] of the same page tables after every
//! update: the agreement tests check it on every scenario, and a unit test shows that a
//! missed mark makes it differ.

mod counted;
#[cfg(test)]
mod seeded;

use crate::changed::Changed;
use crate::recount::{count_entry, truth_at};
use counted::{runs_match, Counted, PteRun, Spare};
use foliolab_mem::{AddressSpace, EntryChange, Memory, PageFlags, PmdEntry, Pte};
use foliolab_types::{
    FolioTruth, MmId, Pfn, RunShare, SmallStep, TruthStore, VirtAddr, PAGE_SIZE, PMD_NR_PAGES,
    PMD_SIZE,
};
use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::ops::Range;

type Ptes = [Pte; PMD_NR_PAGES as usize];

/// Either side of a range's comparison.
#[derive(Clone, Copy)]
enum View<'a> {
    Leaf(Pte),
    Ptes(&'a Ptes),
}

fn view(e: &PmdEntry) -> View<'_> {
    match e {
        PmdEntry::Leaf(p) => View::Leaf(*p),
        PmdEntry::Table(t) => View::Ptes(&t.ptes),
    }
}

/// Whether two entries at the same place count for the same page (both map it, or neither
/// maps anything): a write-protect or an accessed bit changes no truth.
fn same_count(a: Pte, b: Pte) -> bool {
    let counts = |p: Pte| p.is_present() && !p.is_special();
    match (counts(a), counts(b)) {
        (true, true) => a.pfn() == b.pfn(),
        (false, false) => true,
        _ => false,
    }
}

/// Calls `f(page index in the range, entry, is a PMD leaf, counts as what `b` has there)`
/// for each entry of `a` that `b` does not have at the same place (every entry of `a`
/// when `all`).
fn each_diff(a: Option<View>, b: Option<View>, all: bool, mut f: impl FnMut(u64, Pte, bool, bool)) {
    match (a, b) {
        (None, _) => {}
        (Some(View::Ptes(x)), Some(View::Ptes(y))) if !all => {
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                if p != q && !p.is_none() {
                    f(i as u64, *p, false, same_count(*p, *q));
                }
            }
        }
        // A PMD leaf write-protected (fork) or aged counts for the same folio as before,
        // as a PTE does: its mapping is not counted out and in.
        (Some(View::Leaf(x)), Some(View::Leaf(y))) if !all => {
            if x != y && !x.is_none() {
                f(0, x, true, same_count(x, y));
            }
        }
        (Some(View::Leaf(x)), _) => {
            if !x.is_none() {
                f(0, x, true, false);
            }
        }
        (Some(View::Ptes(x)), _) => {
            for (i, p) in x.iter().enumerate().filter(|(_, p)| !p.is_none()) {
                f(i as u64, *p, false, false);
            }
        }
    }
}
/// The change of `nr` PTEs from `pte` at index `i` of `mm`'s PMD range `key`, as the
/// checks are told of it (not a PMD, not a same-page change: callers set those).
#[inline(always)]
fn entry_change(mm: MmId, key: u64, (i, pte, nr): (u64, Pte, u64), added: bool) -> EntryChange {
    EntryChange {
        mm,
        va: VirtAddr(key * PMD_SIZE + i * PAGE_SIZE),
        pte,
        nr,
        pmd: false,
        added,
        same_page: false,
    }
}

/// Whether an entry counts for a page (present and not special).
fn counts(p: Pte) -> bool {
    p.is_present() && !p.is_special()
}

/// PTEs mapping consecutive pages, counted in or out together when the run ends: a 64K
/// folio's 16 PTEs cost one lookup of its truth and one of its mm's count, not 16.
#[derive(Default)]
struct Run {
    first: Option<Pte>,
    nr: u64,
}

impl Run {
    /// Adds `pte` (which counts) to the run if it maps the next page; else starts a new
    /// run with it and returns the one that ended.
    fn push(&mut self, pte: Pte) -> Option<(Pte, u64)> {
        if let Some(first) = self.first {
            if first.pfn().add(self.nr) == pte.pfn() {
                self.nr += 1;
                return None;
            }
        }
        let ended = self.take();
        (self.first, self.nr) = (Some(pte), 1);
        ended
    }
    /// The run so far (emptied).
    fn take(&mut self) -> Option<(Pte, u64)> {
        let run = self.first.take().map(|first| (first, self.nr));
        self.nr = 0;
        run
    }
}

/// The entries of one range handed to `seen`, runs of them as one change
/// ([`EntryChange::extends`]): a fork's copy of 512 small folios is one call, not 512.
struct Seen<'a> {
    seen: &'a mut dyn FnMut(EntryChange),
    run: Option<EntryChange>,
}

impl<'a> Seen<'a> {
    fn new(seen: &'a mut dyn FnMut(EntryChange)) -> Seen<'a> {
        Seen { seen, run: None }
    }

    #[inline]
    fn push(&mut self, c: EntryChange) {
        if let Some(run) = &mut self.run {
            if run.extends(&c) {
                run.nr += c.nr;
                return;
            }
            (self.seen)(*run);
        }
        self.run = Some(c);
    }

    /// Hands over the run so far (at the end of a range).
    fn flush(&mut self) {
        if let Some(run) = self.run.take() {
            (self.seen)(run);
        }
    }
}

/// The PMD ranges of one mm an update visits, and whether it recounts them whole.
#[derive(Clone)]
struct Plan {
    space: usize,
    /// Its ranges' keys: `keys[range]` of the [`Plans`] holding it.
    range: Range<usize>,
    all: bool,
    /// The mm had nothing counted (no range to count out).
    new: bool,
}

/// What an update visits, in buffers kept between updates (a fork's update costs no
/// allocation of its own for them).
#[derive(Clone, Default)]
struct Plans {
    plans: Vec<Plan>,
    keys: Vec<u64>,
    /// Per key, in plan order: whether its range was unchanged (nothing to count in).
    unchanged: Vec<bool>,
}

/// The oracle's truth kept between statements (see the module documentation).
#[derive(Clone, Default)]
pub struct Recounter {
    truth: TruthStore,
    counted: BTreeMap<MmId, BTreeMap<u64, Counted>>,
    /// Whole table copies for the ranges an update diffs entry by entry.
    spare: Spare,
    /// The plans of the last update (buffers reused).
    plans: Plans,
    changed: Changed,
    /// The mms of the last update, in the order given (most updates only add some).
    last_ids: Vec<MmId>,
    /// `last_ids` is out of date (an update from the touched mms alone came since).
    stale: bool,
}

/// The truth and the list of folios whose truth changed: what counting an entry out or in
/// writes.
struct Tally<'a> {
    truth: &'a mut TruthStore,
    changed: &'a mut Changed,
}

impl Tally<'_> {
    #[inline]
    fn changed(&mut self, head: Pfn) {
        self.changed.push(head);
    }

    /// Counts one entry out of the folio it was counted for.
    fn uncount(&mut self, mm: MmId, pte: Pte, pmd: bool) {
        if !pte.is_present() || pte.is_special() {
            return;
        }
        let pfn = pte.pfn();
        let head = self.truth.update_containing(pfn, |head, t| {
            if pmd {
                t.pmd_maps -= 1;
            } else {
                t.pte_maps_per_page.sub(pfn.offset_from(head) as usize);
            }
            uncount_entries(t, mm, 1)
        });
        match head {
            Some(head) => self.changed(head),
            None => debug_assert!(false, "{pfn:?} was counted in but no folio holds it"),
        }
    }

    /// Counts out `nr` PTEs of `mm` mapping the consecutive pages from `first`'s (present,
    /// not special), folio by folio, as [`Tally::uncount`] of each would: a run of small
    /// folios in one pass ([`TruthStore::each_small`]), any other folio with one lookup of
    /// its truth.
    fn uncount_ptes(&mut self, mm: MmId, first: Pte, nr: u64) {
        let end = first.pfn().add(nr);
        let mut pfn = first.pfn();
        let mut share = RunShare::removing(mm, 1).over(nr);
        while pfn < end {
            let small = self.truth.each_small(
                pfn,
                end.offset_from(pfn),
                |_| false,
                |_, r| {
                    let step = r.count_out(mm);
                    #[cfg(test)]
                    if step == SmallStep::Forget && seeded::seeded(seeded::Fault::OutKeepsFolio) {
                        return SmallStep::Keep;
                    }
                    step
                },
                |_, t| {
                    let last = uncount_small(t, &mut share);
                    #[cfg(test)]
                    let last = last && !seeded::seeded(seeded::Fault::OutKeepsFolio);
                    last
                },
            );
            self.changed.push_pages(pfn, small);
            pfn = pfn.add(small);
            if pfn < end {
                pfn = self.uncount_folio(mm, pfn, end);
            }
        }
        self.settle(&mut share, first.pfn(), end);
    }

    /// Ends the change `share` made to the run of small folios among the pages from
    /// `first` to `end`: if it changed a shared MM array in place but met only some of its
    /// holders, those it met (the run's folios holding it) take what it became.
    fn settle(&mut self, share: &mut RunShare, first: Pfn, end: Pfn) {
        let Some(r) = share.settle() else {
            return;
        };
        #[cfg(test)]
        if seeded::seeded(seeded::Fault::RunKeepsArray) {
            return;
        }
        let mut pfn = first;
        while pfn < end {
            let small = self.truth.each_small(
                pfn,
                end.offset_from(pfn),
                |_| false,
                |_, _| SmallStep::Keep,
                |_, t| {
                    t.entries_per_mm.repoint(&r);
                    false
                },
            );
            pfn = pfn.add(small);
            if pfn < end {
                let past = self.truth.containing(pfn).map(|(h, t)| h.add(t.nr_pages));
                pfn = past.unwrap_or(pfn).max(pfn.add(1));
            }
        }
    }

    /// Counts out the PTEs of `mm` mapping the pages from `pfn` to `end` or the end of the
    /// folio holding `pfn`, whichever comes first: where they ended.
    fn uncount_folio(&mut self, mm: MmId, pfn: Pfn, end: Pfn) -> Pfn {
        let mut upto = pfn.add(1);
        let head = self.truth.update_containing(pfn, |head, t| {
            upto = head.add(t.nr_pages).min(end);
            let (first, nr) = (pfn.offset_from(head), upto.offset_from(pfn));
            t.pte_maps_per_page.sub_pages(first as usize, nr as usize);
            uncount_entries(t, mm, nr as u32)
        });
        match head {
            Some(head) => self.changed(head),
            None => debug_assert!(false, "{pfn:?} was counted in but no folio holds it"),
        }
        upto
    }

    /// Counts in `nr` PTEs of `mm` mapping the consecutive pages from `first`'s (present,
    /// not special), folio by folio (finding or creating its truth as [`count_entry`]
    /// does), as [`count_entry`] of each would: a run of small folios in one pass
    /// ([`TruthStore::each_small`]), any other folio with one lookup of its truth.
    fn count_ptes(&mut self, mm: MmId, first: Pte, nr: u64, mem: &Memory) {
        let end = first.pfn().add(nr);
        let mut pfn = first.pfn();
        let mut share = RunShare::adding(mm, 1).over(nr);
        while pfn < end {
            let small = self.truth.each_small(
                pfn,
                end.offset_from(pfn),
                |p| new_small(mem, p),
                |_, r| {
                    #[cfg(test)]
                    if seeded::seeded(seeded::Fault::InSkipsMm) {
                        return r.count_in(MmId(mm.0 ^ 1));
                    }
                    r.count_in(mm)
                },
                |_, t| {
                    *t.pte_maps_per_page.small_mut() += 1;
                    #[cfg(test)]
                    if seeded::seeded(seeded::Fault::InSkipsMm) {
                        return false;
                    }
                    t.entries_per_mm.add_shared(&mut share);
                    false
                },
            );
            self.changed.push_pages(pfn, small);
            pfn = pfn.add(small);
            if pfn < end {
                pfn = self.count_folio(mm, pfn, end, mem);
            }
        }
        self.settle(&mut share, first.pfn(), end);
    }

    /// Counts in the PTEs of `mm` mapping the pages from `pfn` to `end` or the end of the
    /// folio holding `pfn`, whichever comes first: where they ended.
    fn count_folio(&mut self, mm: MmId, pfn: Pfn, end: Pfn, mem: &Memory) -> Pfn {
        let (head, t) = truth_at(self.truth, mem, pfn);
        let upto = head.add(t.nr_pages).min(end).max(pfn.add(1));
        let (first, nr) = (pfn.offset_from(head), upto.offset_from(pfn));
        t.pte_maps_per_page.add_pages(first as usize, nr as usize);
        t.entries_per_mm.add(mm, nr as u32);
        self.changed(head);
        upto
    }

    /// Counts out the entries of `old` (one mm's PMD range `key`) that `now` does not have
    /// (all of them when `all`). PTEs mapping consecutive pages are counted out together.
    fn uncount_range(
        &mut self,
        mm: MmId,
        key: u64,
        (old, now): (Option<View>, Option<View>),
        all: bool,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        if let (true, Some(View::Ptes(ptes))) = (all, old) {
            return self.uncount_table(mm, key, ptes, seen);
        }
        let mut run = Run::default();
        let mut seen = Seen::new(seen);
        each_diff(old, now, all, |i, pte, pmd, same| {
            seen.push(EntryChange {
                pmd,
                same_page: same && counts(pte),
                ..entry_change(mm, key, (i, pte, 1), false)
            });
            if same {
                return;
            }
            if pmd || !counts(pte) {
                self.uncount(mm, pte, pmd);
            } else if let Some((first, nr)) = run.push(pte) {
                self.uncount_ptes(mm, first, nr);
            }
        });
        if let Some((first, nr)) = run.take() {
            self.uncount_ptes(mm, first, nr);
        }
        seen.flush();
    }

    /// Counts in the entries of `now` that `old` does not have (all of them when `all`).
    fn count_range(
        &mut self,
        mm: MmId,
        key: u64,
        (now, old): (Option<View>, Option<View>),
        all: bool,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        if let (true, Some(View::Ptes(ptes))) = (all, now) {
            self.count_table(mm, key, ptes, mem, seen);
            return;
        }
        let mut run = Run::default();
        let mut seen = Seen::new(seen);
        each_diff(now, old, all, |i, pte, pmd, same| {
            seen.push(EntryChange {
                pmd,
                same_page: same && counts(pte),
                ..entry_change(mm, key, (i, pte, 1), true)
            });
            if same {
                return;
            }
            if pmd || !counts(pte) {
                if let Some(head) = count_entry(self.truth, mem, mm, pte, pmd) {
                    self.changed(head);
                }
            } else if let Some((first, nr)) = run.push(pte) {
                self.count_ptes(mm, first, nr, mem);
            }
        });
        if let Some((first, nr)) = run.take() {
            self.count_ptes(mm, first, nr, mem);
        }
        seen.flush();
    }
}

impl Tally<'_> {
    /// Counts in every entry of the PTE table `ptes` (one mm's PMD range `key`, new to the
    /// recount: a forked child's, or a range recounted whole), run by run: one change for
    /// `seen` and one [`Tally::count_ptes`] per run of present PTEs mapping consecutive
    /// pages with the same bits. What [`Tally::count_range`] of every entry does. What the
    /// range then rests as when it has few runs (gathered in the same pass).
    fn count_table(
        &mut self,
        mm: MmId,
        key: u64,
        ptes: &Ptes,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) -> Option<Counted> {
        let mut runs = Some(Vec::new());
        each_run(ptes, |i, pte, nr| {
            match &mut runs {
                Some(r) if r.len() == counted::MAX_RUNS => runs = None,
                Some(r) => r.push(PteRun {
                    first: pte,
                    at: i as u16,
                    nr: nr as u16,
                }),
                None => {}
            }
            seen(entry_change(mm, key, (i, pte, nr), true));
            if counts(pte) {
                self.count_ptes(mm, pte, nr, mem);
            }
        });
        runs.map(|r| Counted::Runs(r.into_boxed_slice()))
    }

    /// Counts out every entry of the PTE table `ptes` the recount had for one mm's PMD range
    /// `key` (the mm went, or the range is recounted whole), run by run as
    /// [`Tally::count_table`] counts in.
    fn uncount_table(
        &mut self,
        mm: MmId,
        key: u64,
        ptes: &Ptes,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        each_run(ptes, |i, pte, nr| {
            self.uncount_run(mm, key, (i, pte, nr), seen)
        });
    }

    /// [`Tally::uncount_table`] of the table `c` counted (runs or a copy).
    fn uncount_runs(&mut self, mm: MmId, key: u64, c: &Counted, seen: &mut dyn FnMut(EntryChange)) {
        c.each_run(|i, pte, nr| self.uncount_run(mm, key, (i, pte, nr), seen));
    }

    /// Counts out the run of `nr` entries from `pte` at index `i` of range `key`.
    #[inline]
    fn uncount_run(
        &mut self,
        mm: MmId,
        key: u64,
        (i, pte, nr): (u64, Pte, u64),
        seen: &mut dyn FnMut(EntryChange),
    ) {
        seen(entry_change(mm, key, (i, pte, nr), false));
        if counts(pte) {
            self.uncount_ptes(mm, pte, nr);
        }
    }
}

/// Calls `f(index, first entry, entries)` for each run of `ptes` that is not none: present
/// PTEs that count and map consecutive pages with the same bits go together, any other
/// entry alone.
#[inline]
fn each_run(ptes: &Ptes, mut f: impl FnMut(u64, Pte, u64)) {
    let mut i = 0;
    while i < ptes.len() {
        let pte = ptes[i];
        let nr = if counts(pte) { run_len(&ptes[i..]) } else { 1 };
        if !pte.is_none() {
            f(i as u64, pte, nr as u64);
        }
        i += nr;
    }
}

/// Whether two PTE tables are equal, compared a block of [`RUN_BLOCK`] entries at a time
/// without a branch per entry.
#[inline]
fn same_ptes(a: &Ptes, b: &Ptes) -> bool {
    let blocks = a.chunks_exact(RUN_BLOCK).zip(b.chunks_exact(RUN_BLOCK));
    blocks
        .into_iter()
        .all(|(x, y)| x.iter().zip(y).fold(true, |all, (p, q)| all & (p.0 == q.0)))
}

/// PTEs compared at once by [`run_len`].
const RUN_BLOCK: usize = 16;

/// How many entries from `ptes[0]` on are `ptes[0]`'s run: each the one before it mapping
/// the next page with the same bits. Compared a block of [`RUN_BLOCK`] entries at a time
/// (their differences from the run's entries or-ed together, without a branch per entry: a
/// fork's or an exit's table of 512 small folios is a few dozen blocks), then one at a time
/// where a block ends the run.
#[inline]
pub(crate) fn run_len(ptes: &[Pte]) -> usize {
    let first = ptes[0].0;
    let mut nr = 1;
    while nr + RUN_BLOCK <= ptes.len() {
        let base = first + nr as u64 * PAGE_SIZE;
        if run_differs(&ptes[nr..nr + RUN_BLOCK], base) != 0 {
            break;
        }
        nr += RUN_BLOCK;
    }
    while nr < ptes.len() && ptes[nr].0 == first + nr as u64 * PAGE_SIZE {
        nr += 1;
    }
    nr
}

/// Zero when each entry `j` of `ptes` is `first` mapping `j` pages further (bits
/// `first + j * PAGE_SIZE`), else not: every entry read, no branch.
/// Blocks of [`RUN_BLOCK`] entries at a time, each entry less its offset in the block
/// ([`BLOCK_OFFSETS`]) compared with the block's first: a subtraction, a xor and an or a
/// lane.
#[inline]
pub(crate) fn run_differs(ptes: &[Pte], first: u64) -> u64 {
    let from = |block: &[Pte], base: u64| {
        let entries = block.iter().zip(&BLOCK_OFFSETS);
        entries.fold(0, |acc, (p, o)| acc | (p.0.wrapping_sub(*o) ^ base))
    };
    let blocks = ptes.chunks_exact(RUN_BLOCK);
    let rest = blocks.remainder();
    let mut base = first;
    let mut acc = 0;
    for block in blocks {
        acc |= from(block, base);
        base = base.wrapping_add(RUN_BLOCK as u64 * PAGE_SIZE);
    }
    acc | from(rest, base)
}

/// Entry `j` of a run's block is its first mapping `j` pages further: `j * PAGE_SIZE` on.
const BLOCK_OFFSETS: [u64; RUN_BLOCK] = {
    let mut offsets = [0; RUN_BLOCK];
    let mut j = 0;
    while j < RUN_BLOCK {
        offsets[j] = j as u64 * PAGE_SIZE;
        j += 1;
    }
    offsets
};

impl Tally<'_> {
    /// [`Tally::uncount_range`] of a PTE table `mine` (the copy of what was counted in
    /// range `key`) against the table `now`, not all, keeping `mine` what is counted: an
    /// entry counted out becomes none there, and an entry that changed but counts for the
    /// same page as before (a write-protect, an accessed bit) is seen out and in here and
    /// takes its new value, so [`Tally::count_diff`] compares it no more.
    fn uncount_diff(
        &mut self,
        mm: MmId,
        key: u64,
        mine: &mut Ptes,
        now: &Ptes,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        // Outs and the ins of same-page changes, each as runs.
        let (mut outs, mut ins) = (Seen::new(seen), Vec::new());
        let mut i = 0;
        while i < mine.len() {
            let (pte, q) = (mine[i], now[i]);
            if pte == q || pte.is_none() {
                i += 1;
                continue;
            }
            let same = same_count(pte, q);
            let nr = diff_run(mine, now, i, same);
            let range = i..i + nr as usize;
            let change = |pte, added| EntryChange {
                same_page: same && counts(pte),
                ..entry_change(mm, key, (i as u64, pte, nr), added)
            };
            outs.push(change(pte, false));
            if same {
                if !q.is_none() {
                    push_run(&mut ins, change(q, true));
                }
                mine[range.clone()].copy_from_slice(&now[range]);
            } else {
                mine[range].fill(Pte::NONE);
                if counts(pte) {
                    self.uncount_ptes(mm, pte, nr);
                }
            }
            i += nr as usize;
        }
        outs.flush();
        ins.into_iter().for_each(|c| (outs.seen)(c));
    }

    /// [`Tally::count_range`] of the PTE table `now` after [`Tally::uncount_diff`] left
    /// `mine` equal to it but where an entry was counted out (none): counts in what `now`
    /// has there and copies it, so `mine` ends as `now` without a copy of the table.
    fn count_diff(
        &mut self,
        mm: MmId,
        key: u64,
        mine: &mut Ptes,
        now: &Ptes,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        let mut run = Run::default();
        let mut seen = Seen::new(seen);
        for (i, (p, &q)) in mine.iter_mut().zip(now.iter()).enumerate() {
            if *p == q {
                continue;
            }
            debug_assert!(p.is_none(), "uncount_diff left a different entry");
            *p = q;
            seen.push(entry_change(mm, key, (i as u64, q, 1), true));
            if !counts(q) {
                continue;
            }
            if let Some((first, nr)) = run.push(q) {
                self.count_ptes(mm, first, nr, mem);
            }
        }
        if let Some((first, nr)) = run.take() {
            self.count_ptes(mm, first, nr, mem);
        }
        seen.flush();
    }
}

/// The entries from `i` on that [`Tally::uncount_diff`] takes as one run with entry `i`
/// (which differs between `mine` and `now`, is not none, and counts for the same page on
/// both sides when `same`): entries of `mine` mapping the next pages, each counting for
/// the same page as `now`'s there when `same` (then `now`'s map the next pages too) and
/// for another or none when not. Any entry that does not count for a page is alone.
#[inline]
fn diff_run(mine: &Ptes, now: &Ptes, i: usize, same: bool) -> u64 {
    let (p, q) = (mine[i], now[i]);
    if !counts(p) {
        return 1;
    }
    let mut nr = 1;
    while i + nr < mine.len() {
        let step = nr as u64 * PAGE_SIZE;
        let (pj, qj) = (mine[i + nr], now[i + nr]);
        let along = if same {
            qj.0 == q.0 + step
        } else {
            !same_count(pj, qj)
        };
        #[cfg(test)]
        let along = along || seeded::seeded(seeded::Fault::DiffRunOverreach);
        if pj.0 != p.0 + step || !along {
            break;
        }
        nr += 1;
    }
    nr as u64
}

/// Appends `c` to `runs`, as part of the last run when it extends it.
fn push_run(runs: &mut Vec<EntryChange>, c: EntryChange) {
    match runs.last_mut() {
        Some(run) if run.extends(&c) => run.nr += c.nr,
        _ => runs.push(c),
    }
}

impl Recounter {
    /// Truth for every folio some page table maps, as [`crate::recount`] gives it.
    pub fn truth(&self) -> &TruthStore {
        &self.truth
    }

    /// Folios (by the head they were counted under) whose truth the last update changed,
    /// sorted, each once; a folio whose last mapping went is here but not in the truth.
    pub fn changed(&self) -> &[Pfn] {
        self.changed.heads()
    }

    fn tally(
        &mut self,
    ) -> (
        Tally<'_>,
        &mut BTreeMap<MmId, BTreeMap<u64, Counted>>,
        &mut Spare,
    ) {
        (
            Tally {
                truth: &mut self.truth,
                changed: &mut self.changed,
            },
            &mut self.counted,
            &mut self.spare,
        )
    }

    /// Brings the truth up to date with `spaces` (every live address space) after a
    /// statement, from the marks the page tables and the memmap kept (they are not cleared
    /// here). `seen` gets every entry counted out or in, outs first but for an entry that
    /// changed and counts for the same page (seen out, then in, during the outs), runs of
    /// entries as one change ([`EntryChange::nr`]).
    pub fn update<'a>(
        &mut self,
        spaces: impl IntoIterator<Item = &'a AddressSpace>,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        self.changed.clear();
        // Sized once from the iterator's bound: no regrowth per statement with many mms.
        let spaces = spaces.into_iter();
        let mut all = Vec::with_capacity(spaces.size_hint().1.unwrap_or(0));
        all.extend(spaces);
        let spaces: Vec<&AddressSpace> = all;
        // Spaces past `known` are new unless an mm went (then every one is looked up).
        let same = |(s, id): (&&AddressSpace, &MmId)| s.id == *id;
        let known = if !self.stale
            && spaces.len() >= self.last_ids.len()
            && spaces.iter().zip(&self.last_ids).all(same)
        {
            let known = self.last_ids.len();
            self.last_ids.extend(spaces[known..].iter().map(|s| s.id));
            known
        } else {
            self.last_ids = spaces.iter().map(|s| s.id).collect();
            self.stale = false;
            self.forget_gone(seen);
            0
        };
        let (everyone, rescan) = self.remapped(mem);
        let mut plans = std::mem::take(&mut self.plans);
        self.plan(&spaces, (known, everyone, &rescan), &mut plans);
        self.apply(&spaces, &mut plans, mem, seen);
        self.plans = plans;
    }

    /// [`Recounter::update`] from the mms a statement touched alone: `touched` lists each
    /// with its address space (`None`: it went), every other mm kept its page tables and
    /// marks nothing; `space_of` finds a live mm's space (an mm mapping memory whose folio
    /// layout changed is recounted whole). Costs what the statement touched, however many
    /// mms there are. Needs the memmap's marks (not overflowed: then use `update`).
    pub fn update_touched<'a>(
        &mut self,
        touched: &[(MmId, Option<&'a AddressSpace>)],
        space_of: &dyn Fn(MmId) -> Option<&'a AddressSpace>,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        debug_assert!(
            !mem.touched.pages.overflowed(),
            "update_touched needs the marks"
        );
        self.changed.clear();
        self.stale = true;
        for &(mm, space) in touched {
            if space.is_none() {
                self.forget(mm, seen);
            }
        }
        let (everyone, rescan) = self.remapped(mem);
        let mut spaces: Vec<&AddressSpace> = touched.iter().filter_map(|(_, s)| *s).collect();
        spaces.extend(rescan.iter().filter_map(|&mm| space_of(mm)));
        spaces.sort_unstable_by_key(|s| s.id);
        spaces.dedup_by_key(|s| s.id);
        let mut plans = std::mem::take(&mut self.plans);
        self.plan(&spaces, (0, everyone, &rescan), &mut plans);
        self.apply(&spaces, &mut plans, mem, seen);
        self.plans = plans;
    }

    /// Counts out, then in, the ranges `plans` names.
    fn apply(
        &mut self,
        spaces: &[&AddressSpace],
        plans: &mut Plans,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        // Ranges whose counted copy equals the page table (marked, unchanged): nothing to
        // count in either. A new mm's have nothing to count out.
        let Plans {
            plans,
            keys,
            unchanged,
        } = plans;
        unchanged.clear();
        for plan in plans.iter() {
            let space = spaces[plan.space];
            for &key in &keys[plan.range.clone()] {
                unchanged.push(!plan.new && self.count_out(space, key, plan.all, seen));
            }
        }
        let mut unchanged = unchanged.iter();
        for plan in plans.iter() {
            let space = spaces[plan.space];
            for &key in &keys[plan.range.clone()] {
                if unchanged.next() != Some(&true) {
                    self.count_in(space, key, plan.all, mem, seen);
                }
            }
        }
        self.changed.finish();
    }

    /// Counts out every range of `mm`, which no longer exists.
    fn forget(&mut self, mm: MmId, seen: &mut dyn FnMut(EntryChange)) {
        let ranges = self.counted.remove(&mm).unwrap_or_default();
        let (mut tally, _, spare) = self.tally();
        for (key, c) in ranges {
            match c {
                Counted::Leaf(_) => {
                    tally.uncount_range(mm, key, (Some(c.view()), None), true, seen)
                }
                _ => tally.uncount_runs(mm, key, &c, seen),
            }
            c.drop_into(spare);
        }
    }

    /// Counts out every range of the mms that no longer exist.
    fn forget_gone(&mut self, seen: &mut dyn FnMut(EntryChange)) {
        let live: BTreeSet<MmId> = self.last_ids.iter().copied().collect();
        let gone: Vec<MmId> = self
            .counted
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        for mm in gone {
            self.forget(mm, seen);
        }
    }

    /// What to visit in each live mm: the marked ranges, or every range (counted before or
    /// present now) of an mm that is new, overflowed its marks or mapped memory whose folio
    /// layout changed.
    fn plan(
        &self,
        spaces: &[&AddressSpace],
        (known, everyone, rescan): (usize, bool, &[MmId]),
        out: &mut Plans,
    ) {
        out.plans.clear();
        out.keys.clear();
        for (i, s) in spaces.iter().enumerate() {
            let rescan = rescan.binary_search(&s.id).is_ok();
            let quiet = s.pt.touched.is_empty() && !everyone && !rescan;
            if quiet && i < known {
                continue;
            }
            let present = || s.pt.iter().map(|(va, _)| va.0 / PMD_SIZE);
            let old = self.counted.get(&s.id);
            let from = out.keys.len();
            // An mm with nothing counted (new, or mapping nothing before): its present
            // ranges, in one walk of its page table.
            if old.is_none() {
                out.keys.extend(present());
            }
            let all = everyone || rescan || s.pt.touched.overflowed() || out.keys.len() > from;
            match old {
                _ if !all => push_sorted(&mut out.keys, s.pt.touched.raw()),
                None => {}
                Some(o) => {
                    let mut k: BTreeSet<u64> = o.keys().copied().collect();
                    k.extend(present());
                    out.keys.extend(k);
                }
            }
            if out.keys.len() > from {
                out.plans.push(Plan {
                    space: i,
                    range: from..out.keys.len(),
                    all,
                    new: old.is_none(),
                });
            }
        }
    }

    /// The mms mapping memory whose folio layout changed (all of them after an overflow),
    /// sorted, each once.
    fn remapped(&self, mem: &Memory) -> (bool, Vec<MmId>) {
        let mut mms = Vec::new();
        if mem.touched.pages.overflowed() {
            return (true, mms);
        }
        for &(head, nr_pages) in &mem.touched.layout {
            self.mms_mapping(head, head.add(nr_pages), &mut mms);
        }
        // One-page folios, consecutive ones as a span (a write's allocations, a munmap's
        // frees).
        for &(first, nr) in &mem.touched.small_layout {
            self.mms_mapping_larger(first, first.add(nr), &mut mms);
        }
        mms.sort_unstable();
        mms.dedup();
        (false, mms)
    }

    /// Appends the mms of the stored folios holding pages of [start, end).
    fn mms_mapping(&self, start: Pfn, end: Pfn, mms: &mut Vec<MmId>) {
        let mut pfn = start;
        while pfn < end {
            pfn = match self.truth.containing(pfn) {
                Some((h, t)) => {
                    push_mms(&t, mms);
                    h.add(t.nr_pages).max(pfn.add(1))
                }
                None => pfn.add(1),
            };
        }
    }

    /// Appends the mms of the stored folios of more than one page holding pages of
    /// [start, end), pages each marked alone (a one-page folio allocated or freed). A page
    /// the truth holds as a one-page folio, or not at all, changed no layout the truth
    /// knows: an entry still mapping it (none, but for a model bug) counts for the same
    /// one-page folio as a recount would count it for. A larger folio the truth holds
    /// there is stale (freed or split, which marks it whole, or still mapped after its free
    /// by a model bug): its mms are recounted. The pages are read a PMD block at a time
    /// ([`TruthStore::small_entries`]), without a lookup of each.
    fn mms_mapping_larger(&self, start: Pfn, end: Pfn, mms: &mut Vec<MmId>) {
        let mut entries = [0u64; PMD_NR_PAGES as usize];
        let mut pfn = start;
        while pfn < end {
            let block = PMD_NR_PAGES - pfn.0 % PMD_NR_PAGES;
            let nr = end.offset_from(pfn).min(block) as usize;
            let small = self.truth.small_entries(pfn, &mut entries[..nr]);
            pfn = pfn.add(small as u64);
            if small < nr {
                // The first page a larger stored folio covers (or any the index stopped at).
                pfn = match self.truth.containing(pfn) {
                    Some((h, t)) if t.nr_pages > 1 => {
                        push_mms(&t, mms);
                        h.add(t.nr_pages).max(pfn.add(1))
                    }
                    _ => pfn.add(1),
                };
            }
        }
    }

    /// Counts out the entries of range `key` of `s` that its page table no longer has
    /// (all of them when `all`); whether the range was unchanged (nothing to count in).
    fn count_out(
        &mut self,
        s: &AddressSpace,
        key: u64,
        all: bool,
        seen: &mut dyn FnMut(EntryChange),
    ) -> bool {
        let (mut tally, counted, spare) = self.tally();
        let Some(old) = counted.get_mut(&s.id).and_then(|m| m.get_mut(&key)) else {
            return false;
        };
        let now = s.pt.pmd(VirtAddr(key * PMD_SIZE));
        match (&mut *old, now) {
            // A range marked but unchanged (a fork's parent whose entries were
            // write-protected already): one comparison, for both passes.
            (Counted::Runs(runs), Some(PmdEntry::Table(t)))
                if !all && runs_match(runs, &t.ptes) =>
            {
                return true;
            }
            // The table went (munmap, exit): every entry counted out, as all would.
            (Counted::Runs(_) | Counted::Table(_), None) => {
                tally.uncount_runs(s.id, key, old, seen);
                return false;
            }
            _ => {}
        }
        old.expand(spare);
        match (&mut *old, now) {
            (Counted::Table(mine), Some(PmdEntry::Table(t))) if !all => {
                if same_ptes(mine, &t.ptes) {
                    old.settle(&t.ptes, spare);
                    return true;
                }
                tally.uncount_diff(s.id, key, mine, &t.ptes, seen);
                // Only flags changed (a fork's write-protect): nothing to count in.
                if same_ptes(mine, &t.ptes) {
                    old.settle(&t.ptes, spare);
                    return true;
                }
            }
            _ => tally.uncount_range(s.id, key, (Some(old.view()), now.map(view)), all, seen),
        }
        false
    }

    fn count_in(
        &mut self,
        s: &AddressSpace,
        key: u64,
        all: bool,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        let now = s.pt.pmd(VirtAddr(key * PMD_SIZE));
        let (mut tally, counted, spare) = self.tally();
        let ranges = counted.entry(s.id).or_default();
        // One search of the range's copy, kept for the update below.
        let mut kept = ranges.entry(key);
        match (&mut kept, now) {
            (btree_map::Entry::Occupied(o), Some(PmdEntry::Table(t))) if !all => {
                let c = o.get_mut();
                c.expand(spare);
                if let Counted::Table(mine) = c {
                    if !same_ptes(mine, &t.ptes) {
                        tally.count_diff(s.id, key, mine, &t.ptes, mem, seen);
                    }
                    return c.settle(&t.ptes, spare);
                }
            }
            // A range counted for the first time: every entry counted in, in one pass.
            (btree_map::Entry::Vacant(_), Some(PmdEntry::Table(t))) => {
                let runs = tally.count_table(s.id, key, &t.ptes, mem, seen);
                ranges.insert(
                    key,
                    runs.unwrap_or_else(|| Counted::of_ptes(&t.ptes, spare)),
                );
                return;
            }
            _ => {}
        }
        if let btree_map::Entry::Occupied(o) = &mut kept {
            o.get_mut().expand(spare);
        }
        let old = match &kept {
            btree_map::Entry::Occupied(o) => Some(o.get().view()),
            btree_map::Entry::Vacant(_) => None,
        };
        tally.count_range(s.id, key, (now.map(view), old), all, mem, seen);
        match (now, kept) {
            (Some(e), btree_map::Entry::Occupied(mut o)) => o.get_mut().copy_from(e, spare),
            (Some(e), btree_map::Entry::Vacant(v)) => drop(v.insert(Counted::of(e, spare))),
            (None, btree_map::Entry::Occupied(o)) => o.remove().drop_into(spare),
            (None, btree_map::Entry::Vacant(_)) => {}
        }
        if ranges.is_empty() {
            counted.remove(&s.id);
        }
    }
}

/// Appends `marks` to `keys` sorted, each once, as [`foliolab_mem::Marks::sorted`] gives
/// them (without sorting when they came in order, as one PMD range's mark does).
fn push_sorted(keys: &mut Vec<u64>, marks: &[u64]) {
    if marks.windows(2).all(|w| w[0] < w[1]) {
        return keys.extend_from_slice(marks);
    }
    let mut sorted = marks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    keys.extend(sorted);
}

/// Appends the mms mapping the folio whose truth is `t` (each once when `mms` is sorted
/// and deduplicated later).
#[inline]
fn push_mms(t: &FolioTruth, mms: &mut Vec<MmId>) {
    for mm in t.entries_per_mm.keys() {
        if mms.last() != Some(&mm) {
            mms.push(mm);
        }
    }
}

/// Whether the folio [`truth_at`] stores for `pfn`, which no stored folio holds, is the
/// one page `pfn`: a small folio's, or a page no folio holds (a model bug the checks report).
#[inline]
fn new_small(mem: &Memory, pfn: Pfn) -> bool {
    if !mem.page(pfn).flags.has(PageFlags::ALLOCATED) {
        return true;
    }
    let (head, order, _) = mem.folio_meta(pfn);
    head == pfn && order.0 == 0
}

/// [`uncount_entries`] of one PTE of `mm` from the truth `t` of a one-page folio, its
/// page's count lowered here.
#[inline]
fn uncount_small(t: &mut FolioTruth, share: &mut RunShare) -> bool {
    let n = t.pte_maps_per_page.small_mut();
    *n -= 1;
    if *n == 0 && t.pmd_maps == 0 {
        debug_assert!(
            t.entries_per_mm.len() == 1 && t.entries_per_mm.get(&share.mm()) == Some(1),
            "the last entry of a small folio is {:?}'s: {:?}",
            share.mm(),
            t.entries_per_mm
        );
        return true;
    }
    t.entries_per_mm.sub_shared(share);
    t.entries_per_mm.is_empty()
}

/// Counts out `nr` entries of `mm` from the folio truth `t` (its per-page or PMD counts
/// already lowered), forgetting the mm once it maps none of the folio; says whether no mm
/// maps the folio any more (the caller then forgets the folio). The folio's last entries
/// going (no PTE or PMD left) leave its mms as they are, for the folio is forgotten whole.
#[inline]
fn uncount_entries(t: &mut FolioTruth, mm: MmId, nr: u32) -> bool {
    if t.pmd_maps == 0 && t.pte_maps_per_page.sum() == 0 {
        debug_assert!(
            t.entries_per_mm.len() == 1 && t.entries_per_mm.get(&mm) == Some(nr),
            "the last entries of a folio are {mm:?}'s {nr}: {:?}",
            t.entries_per_mm
        );
        return true;
    }
    t.entries_per_mm.sub(mm, nr);
    t.entries_per_mm.is_empty()
}
