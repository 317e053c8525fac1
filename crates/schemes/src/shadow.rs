//! Shadow mode: one scheme drives the model (`linux-6.18`), every other scheme receives the
//! same rmap events through [`FanOut`] and answers the same questions, and each disagreement
//! with the truth is counted by kind in a [`Tally`] per scheme.
//!
//! Truth: at a decision inside an operation (COW reuse, "partially mapped" after a removal)
//! it is the `exact` scheme fed the same events (itself checked against the oracle's recount
//! of the page tables after every statement); for what userspace reads between statements
//! (mapcount, kpagecount, bit 56, "maybe shared", NR_ANON_MAPPED) it is the oracle's
//! `FolioTruth`, shown to [`Scheme::observe`] by the model's observation step after every
//! statement (never by the read-only [`Scheme::check`]). Those are counted once
//! per (statement, folio) observation that has at least one wrong answer of the kind.

use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::exact::Exact;
use crate::scheme::{Queries, Reporting, RmapEvents, Scheme};
use foliolab_types::{FolioTruth, Pfn};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What one shadow scheme got wrong, and what it would have decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub name: String,
    /// Observations: "maybe mapped shared" true / false while one MM / several MMs map it.
    pub maybe_shared_fp: u64,
    pub maybe_shared_fn: u64,
    /// Observations with some page's bit 56 clear while mapped once / set while shared.
    pub bit56_fp: u64,
    pub bit56_fn: u64,
    /// COW decisions: copy where the exact answer reuses / reuse where it copies (a leak).
    pub cow_fp: u64,
    pub cow_fn: u64,
    /// Observations with a wrong folio mapcount / a wrong kpagecount on some page.
    pub mapcount_errors: u64,
    pub kpagecount_errors: u64,
    /// Folios never flagged although partially mapped / removals flagging a folio that is not.
    pub partial_missed: u64,
    pub partial_spurious: u64,
    /// Observations where the folio's NR_ANON_MAPPED or NR_ANON_THPS share, or the PSS its
    /// mappings add up to, is wrong.
    pub stats_errors: u64,
    /// Of those, observations with a wrong PSS (smaps, from kpagecount-style mapcounts).
    pub pss_errors: u64,
    /// COW decisions this scheme would take at the can-reuse points.
    pub cow_copies: u64,
    pub cow_reuses: u64,
    /// Bad page states at free (never expected).
    pub bad_free: u64,
    pub costs: Costs,
    pub layout: Layout,
}

impl Tally {
    pub fn false_shared(&self) -> u64 {
        self.maybe_shared_fp + self.bit56_fp + self.cow_fp
    }
    pub fn false_exclusive(&self) -> u64 {
        self.maybe_shared_fn + self.bit56_fn + self.cow_fn
    }
    pub fn partial_map_errors(&self) -> u64 {
        self.partial_missed + self.partial_spurious
    }
    /// Adds another scenario's tally of the same scheme.
    pub fn merge(&mut self, o: &Tally) {
        let pairs = [
            (&mut self.maybe_shared_fp, o.maybe_shared_fp),
            (&mut self.maybe_shared_fn, o.maybe_shared_fn),
            (&mut self.bit56_fp, o.bit56_fp),
            (&mut self.bit56_fn, o.bit56_fn),
            (&mut self.cow_fp, o.cow_fp),
            (&mut self.cow_fn, o.cow_fn),
            (&mut self.mapcount_errors, o.mapcount_errors),
            (&mut self.kpagecount_errors, o.kpagecount_errors),
            (&mut self.partial_missed, o.partial_missed),
            (&mut self.partial_spurious, o.partial_spurious),
            (&mut self.stats_errors, o.stats_errors),
            (&mut self.pss_errors, o.pss_errors),
            (&mut self.cow_copies, o.cow_copies),
            (&mut self.cow_reuses, o.cow_reuses),
            (&mut self.bad_free, o.bad_free),
        ];
        for (a, b) in pairs {
            *a += b;
        }
        self.costs.merge(&o.costs);
        self.layout = o.layout;
        self.name.clone_from(&o.name);
    }
}

/// The tallies, shared between the fan-out (inside the model) and whoever reads them.
pub type Tallies = Rc<RefCell<Vec<Tally>>>;

struct Shadow {
    s: Box<dyn Scheme>,
    flagged: BTreeSet<Pfn>,
    missed: BTreeSet<Pfn>,
    stat: BTreeMap<Pfn, StatDelta>,
}

/// A scheme that forwards every event to a driver, to `exact` and to the shadows, and
/// answers with the driver.
pub struct FanOut {
    driver: Box<dyn Scheme>,
    exact: Exact,
    shadows: Vec<Shadow>,
    tallies: Tallies,
}

impl FanOut {
    pub fn new(driver: Box<dyn Scheme>, shadows: Vec<Box<dyn Scheme>>) -> (FanOut, Tallies) {
        let rows = shadows
            .iter()
            .map(|s| Tally {
                name: s.name().to_string(),
                layout: s.layout(),
                ..Tally::default()
            })
            .collect();
        let tallies = Rc::new(RefCell::new(rows));
        let shadows = shadows
            .into_iter()
            .map(|s| Shadow {
                s,
                flagged: BTreeSet::new(),
                missed: BTreeSet::new(),
                stat: BTreeMap::new(),
            })
            .collect();
        let f = FanOut {
            driver,
            exact: Exact::new(),
            shadows,
            tallies: tallies.clone(),
        };
        (f, tallies)
    }

    /// Runs `op` on every shadow with its tally; refreshes the tally's costs.
    fn each(&mut self, mut op: impl FnMut(&mut Shadow, &mut Tally)) {
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter_mut().zip(rows.iter_mut()) {
            op(sh, t);
            t.costs = sh.s.costs();
        }
    }

    fn note_stat(sh: &mut Shadow, f: FolioRef, d: StatDelta) {
        let e = sh.stat.entry(f.head).or_default();
        e.nr += d.nr;
        e.nr_pmd += d.nr_pmd;
    }

    fn judge_partial(&self, f: FolioRef, sh: &mut Shadow, t: &mut Tally, r: Removed, truth: bool) {
        if !f.anon || f.order.0 < 2 {
            return;
        }
        if r.partially_mapped {
            t.partial_spurious += !truth as u64;
            sh.flagged.insert(f.head);
        }
        if truth && !sh.flagged.contains(&f.head) && sh.missed.insert(f.head) {
            t.partial_missed += 1;
        }
    }
}

/// A page's PSS in smaps' fixed point (`PAGE_SIZE << PSS_SHIFT`).
const PSS_PAGE: u64 = 4096 << 12;

/// One shadow's answers for a folio against the oracle's truth: smaps charges each mapping
/// of a page `PSS_PAGE / mapcount`, so the folio's mappings add up to one page per mapped
/// page only with the right mapcounts.
fn observe(s: &dyn Scheme, stat: StatDelta, f: FolioRef, truth: &FolioTruth, t: &mut Tally) {
    let total = truth.total_entries();
    t.mapcount_errors += (s.mapcount(f) != total as i64) as u64;
    let (mut kpc, mut fp, mut fneg) = (false, false, false);
    let (mut pss, mut pss_true) = (0u64, 0u64);
    for i in 0..f.nr_pages() {
        let real = truth.page_mapcount(i as usize);
        if real == 0 {
            continue;
        }
        let page = f.head.add(i);
        let mc = s.page_mapcount(f, page);
        kpc |= mc != real as i64;
        pss += real * (PSS_PAGE / mc.max(1) as u64);
        pss_true += real * (PSS_PAGE / real);
        let ex = s.page_mapped_exclusively(f, page);
        fp |= !ex && real == 1;
        fneg |= ex && real > 1;
    }
    t.kpagecount_errors += kpc as u64;
    t.bit56_fp += fp as u64;
    t.bit56_fn += fneg as u64;
    if total > 0 {
        let shared = truth.is_mapped_shared();
        let ms = s.maybe_mapped_shared(f);
        t.maybe_shared_fp += (ms && !shared) as u64;
        t.maybe_shared_fn += (!ms && shared) as u64;
    }
    let pmd = if truth.pmd_maps > 0 {
        f.nr_pages() as i64
    } else {
        0
    };
    let pss_wrong = pss != pss_true;
    t.pss_errors += pss_wrong as u64;
    t.stats_errors +=
        (stat.nr != truth.pages_mapped() as i64 || stat.nr_pmd != pmd || pss_wrong) as u64;
}

impl RmapEvents for FanOut {
    fn prep_folio(&mut self, f: FolioRef) {
        self.driver.prep_folio(f);
        self.exact.prep_folio(f);
        self.each(|sh, _| {
            sh.s.prep_folio(f);
            sh.stat.remove(&f.head);
        });
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        let r = self.driver.free_folio(f);
        let e = self.exact.free_folio(f);
        self.each(|sh, t| {
            t.bad_free += sh.s.free_folio(f).is_err() as u64;
            sh.flagged.remove(&f.head);
            sh.missed.remove(&f.head);
            sh.stat.remove(&f.head);
        });
        r.and(e.map_err(|m| format!("exact: {m}")))
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.exact.add_new_anon(f, ctx);
        self.each(|sh, _| {
            let d = sh.s.add_new_anon(f, ctx);
            FanOut::note_stat(sh, f, d);
        });
        self.driver.add_new_anon(f, ctx)
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.exact.add(f, first, nr, level, ctx);
        self.each(|sh, _| {
            let d = sh.s.add(f, first, nr, level, ctx);
            FanOut::note_stat(sh, f, d);
        });
        self.driver.add(f, first, nr, level, ctx)
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        self.exact.dup(f, first, nr, level, ctx);
        self.each(|sh, _| sh.s.dup(f, first, nr, level, ctx));
        self.driver.dup(f, first, nr, level, ctx)
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.exact.remove(f, first, nr, level, ctx);
        let truth = self.exact.is_partial(f);
        let mut rows = std::mem::take(&mut *self.tallies.borrow_mut());
        let mut shadows = std::mem::take(&mut self.shadows);
        for (sh, t) in shadows.iter_mut().zip(rows.iter_mut()) {
            let r = sh.s.remove(f, first, nr, level, ctx);
            FanOut::note_stat(sh, f, r.stat);
            self.judge_partial(f, sh, t, r, truth);
            t.costs = sh.s.costs();
        }
        self.shadows = shadows;
        *self.tallies.borrow_mut() = rows;
        self.driver.remove(f, first, nr, level, ctx)
    }
}

impl Queries for FanOut {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.driver.mapcount(f)
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.driver.page_mapcount(f, page)
    }
    fn page_mapped_exclusively(&self, f: FolioRef, page: Pfn) -> bool {
        self.driver.page_mapped_exclusively(f, page)
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.driver.maybe_mapped_shared(f)
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let truth = self.exact.can_reuse_large(f, refcount, ctx);
        self.judge_cow(truth, |s| s.can_reuse_large(f, refcount, ctx));
        self.driver.can_reuse_large(f, refcount, ctx)
    }
    fn can_reuse_small(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let truth = self.exact.mapcount(f) == 1 && refcount == 1;
        self.judge_cow(truth, |s| s.can_reuse_small(f, refcount, ctx));
        self.driver.can_reuse_small(f, refcount, ctx)
    }
    fn nr_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        self.driver.nr_mapped_pages(f, truth)
    }
    /// A decision point: the madvise skip is judged like "maybe shared".
    fn madvise_skips_shared(&self, f: FolioRef) -> bool {
        let shared = self.exact.maybe_mapped_shared(f);
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter().zip(rows.iter_mut()) {
            let skip = sh.s.madvise_skips_shared(f);
            t.maybe_shared_fp += (skip && !shared) as u64;
            t.maybe_shared_fn += (!skip && shared) as u64;
        }
        self.driver.madvise_skips_shared(f)
    }
}

impl Reporting for FanOut {
    fn name(&self) -> &'static str {
        self.driver.name()
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        self.driver.counters(f)
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let mut out = self.driver.check(f, truth);
        out.extend(
            self.exact
                .check(f, truth)
                .into_iter()
                .map(|m| format!("exact: {m}")),
        );
        out
    }
    fn wants_observations(&self) -> bool {
        true
    }
    /// Each shadow's answers for the folio against the truth, tallied.
    fn observe(&mut self, f: FolioRef, truth: &FolioTruth) {
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter().zip(rows.iter_mut()) {
            let stat = sh.stat.get(&f.head).copied().unwrap_or_default();
            observe(sh.s.as_ref(), stat, f, truth, t);
        }
    }
    fn costs(&self) -> Costs {
        self.driver.costs()
    }
    fn layout(&self) -> Layout {
        self.driver.layout()
    }
}

impl FanOut {
    fn judge_cow(&self, truth: bool, ask: impl Fn(&dyn Scheme) -> bool) {
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter().zip(rows.iter_mut()) {
            let a = ask(sh.s.as_ref());
            t.cow_reuses += a as u64;
            t.cow_copies += !a as u64;
            t.cow_fp += (!a && truth) as u64;
            t.cow_fn += (a && !truth) as u64;
        }
    }
}
