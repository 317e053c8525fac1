//! The invariants of [`crate::check`] on what a statement touched. The question asked after
//! every statement is "would the full check find anything?"; it is answered from the folios,
//! PMD ranges, swap slots and VMA sets the statement marked ([`foliolab_mem::dirty`]) and the
//! folios whose truth the oracle's kept recount changed, with sums kept between statements
//! (RSS per PMD range, statistics per folio, writable entries per page, swap PTEs per slot).
//! When the answer is yes, or the last verdict was not clean, the full check runs and its
//! messages are the verdict: the two modes report the same problems in the same order.
//! A sum that drifts can only make the full check run needlessly, never hide a problem the
//! touched set shows; a change that marks nothing is what the agreement tests look for.

use crate::model::{Model, RssCounter};
use crate::stats::{MthpStat, VmStat};
use foliolab_mem::dirty::clear_list;
use foliolab_mem::{AddressSpace, EntryChange, PageFlags, PageTable, PmdEntry};
use foliolab_schemes::FolioRef;
use foliolab_types::{
    FolioTruth, MmId, Order, Pfn, TruthStore, VirtAddr, MAX_ORDER, PMD_ORDER, PMD_SIZE,
};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

mod freed;
mod heads;
mod parts;
use parts::{Part, Parts, Sums};
mod rss;
use rss::added_rss;
mod small;

/// What the touched check keeps between statements.
#[derive(Clone, Debug, Default)]
pub struct TouchedCheck {
    /// Pages mapped per RSS counter (anon, file, shmem, swap entries) by each PMD range.
    range_rss: BTreeMap<(MmId, u64), [i64; 4]>,
    /// Sum of `range_rss` per mm, by pid (with the mm it was for).
    rss: Vec<Option<(MmId, [i64; 4])>>,
    /// Writable entries mapping each PFN (a PMD leaf by its first PFN), by PFN.
    writable: Vec<u32>,
    /// PFNs a writable entry was counted in for since the last check, as runs (first PFN,
    /// pages) in the order the entries came, a run extended by the next entry's pages when
    /// they follow it (a write fault after another at the next page: one run, not a PFN
    /// each).
    new_writable: Vec<(Pfn, u64)>,
    /// The (mm, PMD range) of every entry counted out or in since the last check: the
    /// ranges whose RSS can have changed (sorted by the check).
    rss_keys: Vec<(MmId, u64)>,
    /// Entries counted in since the last check (runs of PTEs, PMD leaves, swap PTEs) but
    /// for flag changes: an mm new since the last check maps exactly these (the recount had
    /// never seen it), so its RSS is read from them instead of recounted from its tables.
    added: Vec<EntryChange>,
    /// What `added` maps per (mm, PMD range) and RSS counter (built by the check, sorted).
    added_rss: Vec<((MmId, u64), [i64; 4])>,
    /// The (mm, PMD range) of every entry counted out since the last check but for flag
    /// changes (sorted by the check): a range with none only gained entries, so its RSS is
    /// its kept one plus what it gained, with no walk of its table.
    out_keys: Vec<(MmId, u64)>,
    /// Swap PTEs per slot, and the slots whose count changed since the last check.
    slot_refs: BTreeMap<u64, u32>,
    slots: Vec<u64>,
    /// The swap cache as the last check saw it, for the slots it looked at.
    cache: BTreeMap<u64, Pfn>,
    /// Each folio's statistics, by head PFN.
    parts: Parts,
    /// The heads the last check's marks named that the changed list lacked, and a spare
    /// list (each reused for its capacity).
    found: [Vec<Pfn>; 2],
    sums: Sums,
    /// The last verdict was not clean: the full check runs until it is.
    unclean: bool,
    /// The folios the last check looked at, unless `folios_changed`.
    folios: Vec<Pfn>,
    /// The folios the last check looked at are the heads whose truth changed (its
    /// `changed`, the recount's list, not copied).
    folios_changed: bool,
    /// The last check found nothing wrong from what it keeps and did not run the full
    /// check.
    alone: bool,
    /// The small-folio pass's buffers, kept for their capacity.
    small: small::SmallBufs,
}

/// What the pass over the touched folios found ([`Model::touched_folios_ok`]).
struct FolioPass {
    /// Every folio is fine.
    ok: bool,
    /// Every head listed is its own folio's head by its `struct page`: a small folio's or
    /// a free page.
    own_heads: bool,
    /// The writable rule was looked at on every listed head's page (a small folio's in its
    /// run; a free page can break none).
    covered: bool,
}

impl TouchedCheck {
    /// Empties the lists kept for one check (a list a statement grew long gives its
    /// memory back: [`clear_list`]).
    fn clear_lists(&mut self) {
        clear_list(&mut self.new_writable);
        clear_list(&mut self.rss_keys);
        clear_list(&mut self.added);
        clear_list(&mut self.out_keys);
        clear_list(&mut self.slots);
    }

    /// The folios the last check looked at (see `ModelRunner::last_touched`), sorted:
    /// `changed`, the heads whose truth changed that the check was given, or a list of its
    /// own.
    pub fn last_folios<'a>(&'a self, changed: &'a [Pfn]) -> &'a [Pfn] {
        match self.folios_changed {
            true => changed,
            false => &self.folios,
        }
    }

    /// Whether the last check answered from what it keeps alone, finding nothing wrong,
    /// without running the full check: after a statement that broke nothing, anything
    /// else means a kept sum drifted (which costs a full check per statement until the
    /// sums agree again, never a verdict).
    pub fn answered_alone(&self) -> bool {
        self.alone
    }

    /// Entries the oracle's recount counted out or in, one or a run (see
    /// [`foliolab_oracle`]'s `Recounter::update`).
    pub fn entry(&mut self, c: EntryChange) {
        let sign: i64 = if c.added { 1 } else { -1 };
        let key = (c.mm, c.va.0 / PMD_SIZE);
        // An entry whose flags alone changed leaves its range's RSS as it was.
        if !c.same_page && self.rss_keys.last() != Some(&key) {
            self.rss_keys.push(key);
        }
        if c.added && !c.same_page {
            self.added.push(c);
        }
        if !c.added && !c.same_page && self.out_keys.last() != Some(&key) {
            self.out_keys.push(key);
        }
        if c.pte.is_swap() && !c.pmd {
            debug_assert_eq!(c.nr, 1, "swap entries come one by one");
            let slot = c.pte.swap_offset();
            let n = self.slot_refs.entry(slot).or_default();
            *n = (*n as i64 + sign) as u32;
            if *n == 0 {
                self.slot_refs.remove(&slot);
            }
            self.slots.push(slot);
        }
        let mapped = !c.pte.is_special() && (c.pmd || c.pte.is_present());
        if mapped && c.pte.writable() {
            let first = c.pte.pfn();
            let pfns = first.0 as usize..first.0 as usize + c.nr as usize;
            grow_to(&mut self.writable, pfns.end - 1, 0);
            for n in &mut self.writable[pfns] {
                *n = (*n as i64 + sign) as u32;
            }
            if c.added {
                heads::push_span(&mut self.new_writable, first, c.nr);
            }
        }
    }
}

/// The RSS counter of a folio whose head's flags are `head_flags` ([`Model::mm_counter`]).
#[inline]
fn counter_of(head_flags: PageFlags) -> RssCounter {
    if head_flags.has(PageFlags::ANON) {
        RssCounter::Anon
    } else if head_flags.has(PageFlags::SWAPBACKED) {
        RssCounter::Shmem
    } else {
        RssCounter::File
    }
}

/// Makes `v[i]` exist, growing `v` (with `fill`) to at least twice its length: one call
/// per doubling when PFNs come in ascending order, as they do from a walk.
#[inline]
fn grow_to<T: Clone>(v: &mut Vec<T>, i: usize, fill: T) {
    if v.len() <= i {
        v.resize((i + 1).max(2 * v.len()), fill);
    }
}

/// The union of `a` and `b` (each sorted, each element once), sorted, appended to `out`.
fn merge_sorted(a: &[Pfn], b: &[Pfn], out: &mut Vec<Pfn>) {
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += (x <= y) as usize;
        j += (y <= x) as usize;
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// No page of a folio's `pages` but its head has a refcount (a speculative reference must
/// never see a tail count).
#[inline]
fn no_tail_refs(pages: &[foliolab_mem::Page]) -> bool {
    pages[1..].iter().all(|p| p.refcount == 0)
}

impl Model {
    /// The invariants after a statement, answered from what it touched (`truth`: the
    /// oracle's kept recount; `changed`: the folios whose truth the statement changed). Its
    /// messages are [`Model::check_invariants`]'s, which it runs when anything is wrong.
    /// Clears the marks.
    pub fn check_touched(
        &mut self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        changed: &[Pfn],
    ) -> Vec<String> {
        let pages = self.mem.touched.pages.spans();
        st.rss_keys.sort_unstable();
        st.rss_keys.dedup();
        st.out_keys.sort_unstable();
        st.out_keys.dedup();
        self.sum_added(st);
        let ranges_ok = self.update_range_rss(st);
        let mut clean = ranges_ok && !st.unclean && self.problems.is_empty();
        clean &= self.touched_structures_ok();
        let (folios_ok, covered) = self.checked_folios(st, truth, changed, pages);
        clean &= folios_ok;
        clean &= self.sums_ok(st);
        clean &= self.writable_ok(st, pages, covered);
        let folios = std::mem::take(&mut st.folios);
        let list = if st.folios_changed { changed } else { &folios };
        clean &= self.touched_swap_ok(st, list);
        st.folios = folios;
        if st.folios_changed {
            clear_list(&mut st.folios);
        }
        st.clear_lists();
        self.clear_touched_of_listed();
        st.alone = clean;
        if clean {
            return Vec::new();
        }
        let out = self.check_invariants(truth);
        st.unclean = !out.is_empty();
        out
    }

    /// Brings the sums of `st` up to date after a statement checked in full (the verdict
    /// is the full check's).
    pub fn keep_touched_sums(
        &mut self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        changed: &[Pfn],
    ) {
        let problems = std::mem::take(&mut self.problems);
        let _ = self.check_touched(st, truth, changed);
        self.problems = problems;
    }

    /// Problems the model recorded during the statement, not yet reported.
    pub fn pending_problems(&self) -> &[String] {
        &self.problems
    }

    /// Puts back problems a check took (to run a second check on the same statement).
    pub fn restore_problems(&mut self, problems: Vec<String>) {
        self.problems = problems;
    }

    /// Forgets what every page table, the memmap, the swap device and the VMA sets marked,
    /// and which processes were touched.
    pub fn clear_touched(&mut self) {
        self.mem.touched.clear();
        for p in self.procs.iter_mut().flatten() {
            p.aspace.pt.touched.clear();
            p.aspace.vmas.touched = false;
        }
        if let Some(dev) = &mut self.swap {
            dev.touched.clear();
        }
        self.touched_procs.clear();
    }

    /// Marks everything touched in the page tables and VMA sets of the processes the
    /// statement touched, the memmap and the swap device, keeping no lists, and says
    /// "every process": between statements of an unchecked run, whose marks nobody reads
    /// (a later checked statement then walks everything once). Costs what the statement
    /// touched: the other processes have no marks to saturate.
    pub fn saturate_touched(&mut self) {
        self.mem.touched.saturate();
        self.each_touched_space(|a| {
            a.pt.touched.saturate();
            a.vmas.touched = true;
        });
        self.touched_procs.saturate();
        if let Some(dev) = &mut self.swap {
            dev.touched.saturate();
        }
    }

    /// Runs `f` on the address space of every listed touched process still alive.
    fn each_touched_space(&mut self, mut f: impl FnMut(&mut AddressSpace)) {
        let Model {
            procs,
            touched_procs,
            ..
        } = self;
        for &(pid, _) in touched_procs.list() {
            if let Some(p) = &mut procs[pid.0 as usize] {
                f(&mut p.aspace);
            }
        }
    }

    /// The processes touched since the checks last looked.
    pub fn touched_procs(&self) -> &crate::touched::TouchedProcs {
        &self.touched_procs
    }

    /// The mms of the processes touched since the checks last looked, each with its
    /// address space (`None`: the process exited), or `None` when every one counts as
    /// touched.
    pub fn touched_spaces(&self) -> Option<Vec<(MmId, Option<&AddressSpace>)>> {
        if self.touched_procs.all() {
            return None;
        }
        let space = |pid| self.is_alive(pid).then(|| &self.proc(pid).aspace);
        Some(
            self.touched_procs
                .list()
                .iter()
                .map(|&(pid, mm)| (mm, space(pid)))
                .collect(),
        )
    }

    /// The address space of the live mm `mm`.
    pub fn space_of(&self, mm: MmId) -> Option<&AddressSpace> {
        self.pid_of_mm(mm).map(|pid| &self.proc(pid).aspace)
    }

    /// The buddy allocator after a change of the folio layout.
    fn touched_structures_ok(&self) -> bool {
        let layout = !self.mem.touched.layout_is_empty() || self.mem.touched.pages.overflowed();
        if layout && self.mem.check_invariants().is_err() {
            return false;
        }
        true
    }

    /// Forgets the marks of the memmap, the swap device and the touched processes (every
    /// process when all count as touched), and the list.
    fn clear_touched_of_listed(&mut self) {
        if self.touched_procs.all() {
            return self.clear_touched();
        }
        self.mem.touched.clear();
        self.each_touched_space(|a| {
            a.pt.touched.clear();
            a.vmas.touched = false;
        });
        self.touched_procs.clear();
        if let Some(dev) = &mut self.swap {
            dev.touched.clear();
        }
    }

    /// Whether `pfn`, a page of the folio at `h`, is a live folio's tail with a refcount.
    #[inline]
    fn bad_tail(&self, pfn: Pfn, h: Pfn) -> bool {
        pfn != h && self.mem.page(pfn).refcount != 0 && self.live.contains(&h)
    }

    /// The head of the folio holding the run of `nr` marked pages from `first` (which lie
    /// in one folio): its tails are looked at in the same pass over the folio's struct
    /// pages as the AnonExclusive rule.
    fn run_head(&self, first: Pfn, nr: u64) -> Pfn {
        let h = self.head_or_self(first);
        debug_assert!((0..nr).all(|i| self.head_or_self(first.add(i)) == h));
        h
    }

    /// [`Model::touched_folios`] when the marks overflowed: every live folio and those in
    /// `changed`, sorted, and whether no live folio's tail page has a refcount.
    fn every_folio(&self, changed: &[Pfn]) -> (Vec<Pfn>, bool) {
        let mut all: Vec<Pfn> = self.live.iter().chain(changed.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        let tails_ok = self.live.iter().all(|h| {
            let n = self.mem.folio_order(h).nr_pages();
            (1..n).all(|i| self.mem.page(h.add(i)).refcount == 0)
        });
        (all, tails_ok)
    }

    /// The end of the free buddy block holding the free page `pfn`, found from the block's
    /// first page (aligned to its order, the only page of the block the buddy allocator
    /// writes): a freed 2M folio is skipped in one step, not 512. `pfn + 1` if no block
    /// holds it.
    fn free_block_end(&self, pfn: Pfn) -> Pfn {
        for o in 0..=MAX_ORDER.0 {
            let start = Pfn(pfn.0 & !((1u64 << o) - 1));
            let p = self.mem.page(start);
            if p.flags.has(PageFlags::BUDDY) {
                let end = start.add(1u64 << p.order());
                return end.max(pfn.add(1));
            }
        }
        pfn.add(1)
    }

    /// The head of the folio holding `pfn` (`pfn` itself when it is free) and the PFNs of
    /// the folio (empty for free memory).
    #[inline]
    fn folio_span(&self, pfn: Pfn) -> (Pfn, std::ops::Range<u64>) {
        let (head, pfns, _) = self.folio_at(pfn);
        (head, pfns)
    }

    /// [`Model::folio_span`] and the flags of the head [`Memory::folio_meta`] finds for
    /// `pfn` (whose counter is every one of the folio's pages'), a small folio's from one
    /// read of its `struct page`.
    ///
    /// [`Memory::folio_meta`]: foliolab_mem::Memory::folio_meta
    #[inline]
    fn folio_at(&self, pfn: Pfn) -> (Pfn, std::ops::Range<u64>, PageFlags) {
        let page = self.mem.page(pfn);
        if page.is_small_folio(pfn) {
            return (pfn, pfn.0..pfn.0 + 1, page.flags);
        }
        let (head, order, head_flags) = self.mem.folio_meta(pfn);
        if !self.mem.page(pfn).flags.has(PageFlags::ALLOCATED) {
            return (pfn, 0..0, head_flags);
        }
        (head, head.0..head.0 + order.nr_pages(), head_flags)
    }

    /// The head of the folio holding `pfn` (`pfn` itself when it is free), from one read of
    /// its `struct page`.
    #[inline]
    fn head_or_self(&self, pfn: Pfn) -> Pfn {
        let page = self.mem.page(pfn);
        if !page.flags.has(PageFlags::ALLOCATED) {
            pfn
        } else if page.flags.has(PageFlags::BUDDY) {
            self.mem.folio_of(pfn)
        } else {
            page.head()
        }
    }

    /// The touched folios ([`Model::touched_folios`]) checked: whether they and their
    /// tails are all fine, and whether the pass looked at the writable rule of every
    /// marked page; the folios are left in `st` ([`TouchedCheck::last_folios`]). When the
    /// marks name exactly the heads whose truth changed (a fork's, an exit's, a write
    /// fault's, a munmap's), those are the folios, provided the pass finds each its own
    /// folio's head (a small folio's or a free page); if one is not, the folios are
    /// gathered the general way and checked again (the pass keeps its sums idempotently).
    fn checked_folios(
        &self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        changed: &[Pfn],
        pages: &[(Pfn, u64)],
    ) -> (bool, bool) {
        if self.marks_are_changed(changed, pages) {
            let pass = self.touched_folios_ok(st, truth, changed);
            if pass.own_heads {
                st.folios_changed = true;
                return (pass.ok, pass.covered);
            }
        }
        let (folios, tails_ok) = self.touched_folios(st, changed, pages);
        let pass = self.touched_folios_ok(st, truth, &folios);
        (st.folios, st.folios_changed) = (folios, false);
        (pass.ok && tails_ok, false)
    }

    /// The per-folio invariants of the touched folios, and their parts of the statistics.
    /// Runs of small folios at consecutive PFNs are checked a run at a time
    /// ([`Model::small_run_ok`]).
    fn touched_folios_ok(
        &self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        folios: &[Pfn],
    ) -> FolioPass {
        let mut pass = FolioPass {
            ok: true,
            own_heads: true,
            covered: true,
        };
        let mut out = Vec::new();
        let unmapped = FolioTruth::new(1);
        let bufs = std::mem::take(&mut st.small);
        let mut scratch = small::SmallScratch::new(self, &unmapped, bufs);
        if let Some(&last) = folios.last() {
            st.parts.grow_to(last.0 as usize);
        }
        let mut i = 0;
        while i < folios.len() {
            let head = folios[i];
            let live = self.live.contains(&head);
            let n = match live {
                true => {
                    let (n, run_ok) = self.small_run_ok(st, truth, &folios[i..], &mut scratch);
                    pass.ok &= run_ok;
                    n
                }
                // Free pages, no truth's head: own heads, no writable rule to break.
                false => self.freed_run(st, truth, &folios[i..]),
            };
            if n > 0 {
                i += n;
                continue;
            }
            i += 1;
            let page = self.mem.page(head);
            let free = !page.flags.has(PageFlags::ALLOCATED);
            // Its own head (the general gathering would name it, and look at no tail for
            // it): free, or a folio's first page (a small folio, a large folio's head).
            pass.own_heads &= free || (page.head() == head && !page.flags.has(PageFlags::BUDDY));
            // A free page has no writable rule to break.
            pass.covered &= free;
            let part = if live {
                let (folio_ok, part) =
                    self.live_folio_ok(head, truth.get(&head).as_deref(), &mut out);
                pass.ok &= folio_ok;
                part
            } else {
                // A freed folio (or free page): no truth, no part.
                pass.ok &= truth.get(&head).is_none();
                Part::default()
            };
            st.parts.replace(head.0 as usize, part.pack(), &mut st.sums);
        }
        st.small = scratch.into_bufs();
        pass.ok &= out.is_empty();
        pass
    }

    /// The per-folio invariants of the live folio at `head` whose truth is `t` (`None`:
    /// unmapped), a large folio's problems in `out`; and its part of the statistics. A
    /// small folio's `struct page` is read once.
    fn live_folio_ok(
        &self,
        head: Pfn,
        t: Option<&FolioTruth>,
        out: &mut Vec<String>,
    ) -> (bool, Part) {
        let unmapped;
        let (mapped, t) = match t {
            Some(t) => (true, t),
            None => {
                unmapped = FolioTruth::new(self.folio(head).nr_pages());
                (false, &unmapped)
            }
        };
        let page = self.mem.page(head);
        if page.flags.has(PageFlags::HEAD) {
            let f = self.folio(head);
            // When the statement marked runs of pages (of large folios), every touched large
            // folio's tails are looked at: a superset of the runs' pages.
            let tails = !self.mem.touched.runs.is_empty();
            let ok = match self.mem.map.range(head, f.nr_pages() as usize) {
                Some(pages) => {
                    self.large_folio_counts_ok(f, pages, t) && (!tails || no_tail_refs(pages))
                }
                None => {
                    self.check_folio(f, t, out);
                    true
                }
            };
            return (ok, self.part(f, page.flags, t, mapped));
        }
        let f = FolioRef {
            head,
            order: Order(0),
            anon: page.flags.has(PageFlags::ANON),
        };
        let ok = self.small_folio_counts_ok(f, page, t);
        (ok, self.part(f, page.flags, t, mapped))
    }

    /// The statistics `f` (its head's flags `head_flags`) contributes.
    fn part(&self, f: FolioRef, head_flags: PageFlags, t: &FolioTruth, mapped: bool) -> Part {
        let pages = if mapped {
            self.design_mapped_pages(f, t)
        } else {
            Some(0)
        };
        let large_anon = f.anon && f.is_large();
        let swapbacked = head_flags.has(PageFlags::SWAPBACKED);
        Part {
            anon_mapped: if f.anon { pages.unwrap_or(0) } else { 0 },
            anon_unknown: f.anon && pages.is_none(),
            file_mapped: if f.anon { 0 } else { pages.unwrap_or(0) },
            file_unknown: !f.anon && pages.is_none(),
            shmem_pmd_pages: if mapped && !f.anon && t.pmd_maps > 0 && swapbacked {
                f.nr_pages() as i64
            } else {
                0
            },
            thp: mapped && f.anon && t.pmd_maps > 0,
            anon_order: if large_anon { f.order.0 } else { 0 },
            flagged: large_anon && self.is_partially_mapped(f),
        }
    }

    /// The conserved statistics against their sums (the messages are the full check's).
    fn sums_ok(&self, st: &TouchedCheck) -> bool {
        let s = &st.sums;
        let conserved = self.rmap.properties().anon_mapped_conserved;
        if conserved && s.anon_unknown == 0 && self.stats.vm(VmStat::NrAnonMapped) != s.anon_mapped
        {
            return false;
        }
        if s.file_unknown == 0
            && (self.stats.vm(VmStat::NrFileMapped) != s.file_mapped
                || self.stats.vm(VmStat::NrShmemPmdmapped) != s.shmem_pmd_pages)
        {
            return false;
        }
        if self.stats.vm(VmStat::NrAnonTransparentHugepages) != s.thps {
            return false;
        }
        (2..=PMD_ORDER.0).all(|o| {
            self.stats.mthp(Order(o), MthpStat::NrAnon) == s.per_order[o as usize]
                && self.stats.mthp(Order(o), MthpStat::NrAnonPartiallyMapped)
                    == s.flagged[o as usize]
        })
    }

    /// Recounts the RSS of every PMD range a page table marked (every range of an mm that
    /// overflowed its marks or is new) in the processes the statement touched (every
    /// process after unchecked statements) and compares their counters with the sums. Also
    /// checks the VMA sets that changed. A process nobody touched kept its counters, its
    /// page tables and its VMAs, so its last verdict stands.
    fn update_range_rss(&self, st: &mut TouchedCheck) -> bool {
        let touched = &self.touched_procs;
        if !touched.all() {
            debug_assert!(
                self.unlisted_unmarked(),
                "a process changed without being listed"
            );
            let mut ok = true;
            for &(pid, mm) in touched.list() {
                ok &= self.update_proc_rss(st, pid, mm);
            }
            return ok;
        }
        let mut ok = true;
        for i in 0..self.procs.len().max(st.rss.len()) {
            let pid = crate::model::Pid(i as u32);
            ok &= match self.procs.get(i).and_then(|p| p.as_ref()) {
                Some(p) => self.update_proc_rss(st, pid, p.aspace.id),
                None => self.update_proc_rss(st, pid, MmId::DUMMY),
            };
        }
        ok
    }

    /// [`Model::update_range_rss`] of one process `pid` (its mm `mm`): forgets the ranges of
    /// the mm it had if it exited or has another mm now.
    fn update_proc_rss(&self, st: &mut TouchedCheck, pid: crate::model::Pid, mm: MmId) -> bool {
        let i = pid.0 as usize;
        if st.rss.len() <= i {
            st.rss.resize(i + 1, None);
        }
        let alive = self.is_alive(pid) && self.mm_id(pid) == mm;
        if let Some((old, _)) = st.rss[i] {
            if !alive || old != mm {
                st.rss[i] = None;
                let mine = (old, 0)..=(old, u64::MAX);
                let keys: Vec<(MmId, u64)> = st.range_rss.range(mine).map(|(k, _)| *k).collect();
                for k in keys {
                    st.range_rss.remove(&k);
                }
            }
        }
        if !alive {
            return true;
        }
        let p = self.proc(pid);
        let pt = &p.aspace.pt;
        let mut ok = true;
        if p.aspace.vmas.touched || !pt.touched.is_empty() {
            ok &= p.aspace.vmas.check_invariants().is_ok();
        }
        let old = st.rss[i].map(|(_, s)| s);
        if old.is_none() && !self.touched_procs.all() {
            // New since the last check, which saw every process then alive: the recount
            // counted its every entry in.
            let sums = self.new_mm_rss(st, mm);
            debug_assert_eq!(sums, self.tables_rss(pt), "{mm:?}: RSS from the entries");
            st.rss[i] = Some((mm, sums));
        } else if old.is_none() || !pt.touched.is_empty() {
            let sums = self.recount_ranges(st, mm, pt, old);
            st.rss[i] = Some((mm, sums));
        }
        let sums = st.rss[i].map(|(_, s)| s).unwrap_or_default();
        ok &= [RssCounter::Anon, RssCounter::File, RssCounter::Shmem]
            .iter()
            .all(|&c| p.rss[c as usize] == sums[c as usize]);
        ok && (self.swap.is_none()
            || p.rss[RssCounter::Swap as usize] == sums[RssCounter::Swap as usize])
    }

    /// No process outside the touched list has marks (debug builds: the hooks are complete).
    fn unlisted_unmarked(&self) -> bool {
        let listed: BTreeSet<u32> = self.touched_procs.list().iter().map(|(p, _)| p.0).collect();
        self.processes().all(|(pid, p)| {
            listed.contains(&pid.0) || (p.aspace.pt.touched.is_empty() && !p.aspace.vmas.touched)
        })
    }

    /// The mm's RSS sums after recounting its marked ranges, from its sums `old` (all of its
    /// ranges when there are none yet, or after an overflow).
    fn recount_ranges(
        &self,
        st: &mut TouchedCheck,
        mm: MmId,
        pt: &PageTable,
        old: Option<[i64; 4]>,
    ) -> [i64; 4] {
        let fresh = old.is_none();
        let all = fresh || pt.touched.overflowed();
        let mine = (mm, 0)..=(mm, u64::MAX);
        // Without an overflow, the ranges whose entries changed (a range's RSS is a function
        // of its entries: the class of a mapped folio does not change while it is mapped).
        let keys: Option<Vec<u64>> = all.then(|| {
            let mut k: BTreeSet<u64> = st.range_rss.range(mine).map(|((_, k), _)| *k).collect();
            k.extend(pt.iter().map(|(va, _)| va.0 / PMD_SIZE));
            k.into_iter().collect()
        });
        let from = st.rss_keys.partition_point(|&(m, _)| m < mm);
        let to = st.rss_keys.partition_point(|&(m, _)| m <= mm);
        let changed: Vec<u64> = st.rss_keys[from..to].iter().map(|&(_, k)| k).collect();
        let mut sums = old.unwrap_or_default();
        for &key in keys.as_deref().unwrap_or(&changed) {
            // One search of the map per range (a fork's 512 write-protected 2M ranges).
            let kept = st.range_rss.entry((mm, key));
            let old = match &kept {
                Entry::Occupied(o) => *o.get(),
                Entry::Vacant(_) => [0; 4],
            };
            // A range that only gained entries (a write fault's) maps what it mapped and
            // what it gained.
            let gained_only = !all && st.out_keys.binary_search(&(mm, key)).is_err();
            let new = match gained_only {
                true => added_rss(&st.added_rss, (mm, key), old),
                false => self.range_rss(pt, key),
            };
            debug_assert_eq!(new, self.range_rss(pt, key), "{mm:?} range {key}");
            let before = if fresh { [0; 4] } else { old };
            for c in 0..4 {
                sums[c] += new[c] - before[c];
            }
            match kept {
                Entry::Occupied(mut o) if new != [0; 4] => *o.get_mut() = new,
                Entry::Occupied(o) => drop(o.remove()),
                Entry::Vacant(v) if new != [0; 4] => drop(v.insert(new)),
                Entry::Vacant(_) => {}
            }
        }
        sums
    }

    /// Pages one PMD range maps per RSS counter, and its swap PTEs (as the full check
    /// counts them).
    fn range_rss(&self, pt: &PageTable, key: u64) -> [i64; 4] {
        let mut rss = [0i64; 4];
        match pt.pmd(VirtAddr(key * PMD_SIZE)) {
            Some(PmdEntry::Leaf(l)) if !l.is_special() => {
                let f = self.folio_of_page(l.pfn());
                rss[self.mm_counter(f) as usize] += PMD_ORDER.nr_pages() as i64;
            }
            Some(PmdEntry::Table(t)) => {
                // The pages of the last folio looked up and its counter: a large folio's
                // PTEs read the memmap once, not once each.
                let (mut pages, mut counter) = (0..0, RssCounter::Anon);
                for pte in t.ptes.iter() {
                    if pte.is_present() && !pte.is_special() {
                        let pfn = pte.pfn();
                        if !pages.contains(&pfn.0) {
                            // A small folio's counter from its one `struct page`, inline.
                            let page = self.mem.page(pfn);
                            (pages, counter) = if page.is_small_folio(pfn) {
                                (pfn.0..pfn.0 + 1, counter_of(page.flags))
                            } else {
                                self.folio_counter(pfn)
                            };
                        }
                        rss[counter as usize] += 1;
                    } else if pte.is_swap() {
                        rss[RssCounter::Swap as usize] += 1;
                    }
                }
            }
            _ => {}
        }
        rss
    }

    /// The PFNs of the allocated folio holding `pfn` (empty for free memory) and the RSS
    /// counter of `pfn` ([`Model::mm_counter`] of its folio, from its head's flags alone),
    /// which is every one of its pages'.
    #[inline]
    fn folio_counter(&self, pfn: Pfn) -> (std::ops::Range<u64>, RssCounter) {
        let (_, pfns, head_flags) = self.folio_at(pfn);
        (pfns, counter_of(head_flags))
    }

    /// No writable entry maps a non-exclusive anon page: the pages a writable entry was
    /// counted in for, and the pages whose flags changed under a writable entry; those of
    /// the marked pages the folio pass looked at already (`covered`: all of them) are not
    /// looked at again.
    fn writable_ok(&self, st: &TouchedCheck, pages: &[(Pfn, u64)], covered: bool) -> bool {
        // A write fault marks the pages it maps writable. Both lists are spans each as
        // long as it can be, so the same PFNs are the same spans.
        let new_is_marked = pages == &st.new_writable[..];
        debug_assert_eq!(
            new_is_marked,
            heads::span_pfns(pages).eq(heads::span_pfns(&st.new_writable))
        );
        let mut new_pfns = heads::span_pfns(&st.new_writable);
        if !(covered && new_is_marked) && new_pfns.any(|p| self.writable_bad(st, p)) {
            return false;
        }
        let marks = &self.mem.touched.pages;
        if marks.overflowed() {
            return !st
                .writable
                .iter()
                .enumerate()
                .any(|(i, &n)| n > 0 && self.writable_bad(st, Pfn(i as u64)));
        }
        // Each marked page looked at once.
        let pages = match covered || new_is_marked {
            true => &[][..],
            false => pages,
        };
        // A run's pages looked at where a writable entry maps one (one slice of the counts).
        let run_bad = |&(first, nr): &(Pfn, u64)| {
            let (i, n) = (first.0 as usize, nr as usize);
            let counts = st.writable.get(i..(i + n).min(st.writable.len()));
            (first.0..)
                .zip(counts.unwrap_or(&[]))
                .any(|(p, &c)| c > 0 && self.writable_bad(st, Pfn(p)))
        };
        !heads::span_pfns(pages).any(|p| self.writable_bad(st, p))
            && !self.mem.touched.runs.iter().any(run_bad)
    }

    /// A writable entry maps `pfn`, a non-exclusive page of an anon folio (a small folio's
    /// one `struct page` read once).
    #[inline]
    fn writable_bad(&self, st: &TouchedCheck, pfn: Pfn) -> bool {
        if st.writable.get(pfn.0 as usize).copied().unwrap_or(0) == 0 {
            return false;
        }
        let page = self.mem.page(pfn);
        let flags = page.flags;
        if !flags.has(PageFlags::ALLOCATED) || flags.has(PageFlags::ANON_EXCLUSIVE) {
            return false;
        }
        if page.head() == pfn && !flags.has(PageFlags::BUDDY) {
            return flags.has(PageFlags::ANON);
        }
        self.folio_of_page(pfn).anon
    }

    /// The swap slots whose count, cache or data changed, and the touched folios' swap
    /// cache state.
    fn touched_swap_ok(&self, st: &mut TouchedCheck, folios: &[Pfn]) -> bool {
        let Some(dev) = &self.swap else {
            return true;
        };
        let mut slots: Vec<u64> = st.slots.clone();
        slots.extend(dev.touched.sorted());
        if dev.touched.overflowed() {
            slots.extend(dev.counted_slots().map(|(s, _)| s));
            slots.extend(dev.cache_entries().map(|(s, _)| s));
            slots.extend(dev.slots_with_state());
            slots.extend(st.cache.keys().copied());
        }
        slots.sort_unstable();
        slots.dedup();
        let mut ok = true;
        let mut pages: Vec<Pfn> = folios.to_vec();
        for &slot in &slots {
            if (1..dev.nr_slots()).contains(&slot)
                && dev.count(slot) != st.slot_refs.get(&slot).copied().unwrap_or(0)
            {
                ok = false;
            }
            if !dev.in_use(slot) && dev.has_state(slot) {
                ok = false;
            }
            let old = match dev.cached(slot) {
                Some(page) => st.cache.insert(slot, page),
                None => st.cache.remove(&slot),
            };
            pages.extend(old);
            pages.extend(dev.cached(slot));
        }
        ok && self.swap_cache_ok(dev, &pages)
    }

    /// The full check's swap-cache rules for the folios of `pages`.
    fn swap_cache_ok(&self, dev: &foliolab_mem::SwapDevice, pages: &[Pfn]) -> bool {
        let mut heads: Vec<Pfn> = pages.iter().map(|&p| self.mem.folio_of(p)).collect();
        heads.sort_unstable();
        heads.dedup();
        let cached_ok = pages.iter().all(|&page| {
            let Some(slot) = dev
                .cache_entries()
                .find(|&(_, p)| p == page)
                .map(|(s, _)| s)
            else {
                return true;
            };
            let head = self.mem.folio_of(page);
            self.live.contains(&head)
                && self.mem.page(head).flags.has(PageFlags::SWAPCACHE)
                && self
                    .folio_slot(self.folio(head))
                    .map(|s| s + page.offset_from(head))
                    == Some(slot)
        });
        cached_ok
            && heads.iter().all(|&head| {
                if !self.live.contains(&head)
                    || !self.mem.page(head).flags.has(PageFlags::SWAPCACHE)
                {
                    return true;
                }
                let f = self.folio(head);
                self.folio_slot(f).is_some_and(|s| {
                    (0..f.nr_pages()).all(|i| dev.cached(s + i) == Some(head.add(i)))
                })
            })
    }
}
