//! Shadow mode: one scheme drives the model (`linux-6.18`), every other scheme receives the
//! same rmap events through [`FanOut`] and answers the same questions, and each disagreement
//! with the truth is counted by kind and call site in a [`Tally`] per scheme, with the
//! magnitudes it reaches (PSS, USS, AnonPages, stranded memory, COW pages) and, on request,
//! each wrong answer's statement and folio ([`Wrong`]).
//!
//! Truth: at a decision inside an operation (COW reuse, the madvise skip, "partially mapped"
//! after a removal) it is the `exact` scheme fed the same events; for what userspace reads
//! between statements (mapcount, kpagecount, bit 56, "maybe shared", NR_ANON_MAPPED, PSS,
//! USS) it is the oracle's `FolioTruth` when the runner recounted the page tables after the
//! statement (checks on), else `exact`'s, which is the same (it is checked against the
//! recount whenever checks are on). The observation step ([`Reporting::end_statement`])
//! re-judges only the folios the statement's events touched ([`observe`]); the sums over
//! all live folios go into the tallies once per statement.

mod explain;
mod observe;
mod tally;

pub use explain::{Site, Wrong};
pub use tally::{Magnitude, Magnitudes, Tally};

use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta, VmaChange};
use crate::exact::Exact;
use crate::scheme::{Queries, Reporting, RmapEvents, Scheme};
use foliolab_types::{FolioTruth, Pfn, TruthStore};
use observe::{judge, turned_wrong, FolioView, Observed};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The tallies, shared between the fan-out (inside the model) and whoever reads them.
pub type Tallies = Rc<RefCell<Vec<Tally>>>;

struct Shadow {
    s: Box<dyn Scheme>,
    flagged: BTreeSet<Pfn>,
    missed: BTreeSet<Pfn>,
    stat: BTreeMap<Pfn, StatDelta>,
    observed: Observed,
}

/// A scheme that forwards every event to a driver, to `exact` and to the shadows, and
/// answers with the driver.
pub struct FanOut {
    driver: Box<dyn Scheme>,
    exact: Exact,
    shadows: Vec<Shadow>,
    tallies: Tallies,
    /// Folios the current statement's events touched (`None`: freed).
    touched: BTreeMap<Pfn, Option<FolioRef>>,
    /// Statements observed so far: the index of the current one.
    stmt: u64,
    /// Keep every wrong answer with its statement and folio.
    explain: bool,
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
                observed: Observed::default(),
            })
            .collect();
        let f = FanOut {
            driver,
            exact: Exact::new(),
            shadows,
            tallies: tallies.clone(),
            touched: BTreeMap::new(),
            stmt: 0,
            explain: false,
        };
        (f, tallies)
    }

    /// Keeps each wrong answer with its statement and folio in [`Tally::wrong`].
    pub fn explain(mut self) -> FanOut {
        self.explain = true;
        self
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

    fn wrong(&self, t: &mut Tally, site: Site, f: FolioRef, detail: String) {
        if self.explain {
            t.wrong.push(Wrong {
                stmt: self.stmt,
                site,
                head: f.head,
                order: f.order,
                detail,
            });
        }
    }

    fn judge_partial(&self, f: FolioRef, sh: &mut Shadow, t: &mut Tally, r: Removed, truth: bool) {
        if !f.anon || f.order.0 < 2 {
            return;
        }
        if r.partially_mapped {
            if !truth {
                t.partial_spurious += 1;
                let d = "flagged partially mapped, but no page or every page is mapped";
                self.wrong(t, Site::DeferredSplit, f, d.into());
            }
            sh.flagged.insert(f.head);
        }
        if truth && !sh.flagged.contains(&f.head) && sh.missed.insert(f.head) {
            t.partial_missed += 1;
            let d = "partially mapped, not flagged for deferred split";
            self.wrong(t, Site::DeferredSplit, f, d.into());
        }
    }

    fn judge_cow(&self, f: FolioRef, truth: bool, ask: impl Fn(&dyn Scheme) -> bool) {
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter().zip(rows.iter_mut()) {
            let a = ask(sh.s.as_ref());
            t.cow_reuses += a as u64;
            t.cow_copies += !a as u64;
            t.cow_fp += (!a && truth) as u64;
            t.cow_fn += (a && !truth) as u64;
            if a != truth {
                let d = if a {
                    "false exclusive: reused a page another MM maps (a leak)"
                } else {
                    "false shared: copied where exact reuses"
                };
                self.wrong(t, Site::Cow, f, d.into());
            }
        }
    }

    fn touch(&mut self, f: FolioRef) {
        self.touched.insert(f.head, Some(f));
    }

    /// Re-judges the touched folios for every shadow, then tallies the statement.
    fn observe_statement(&mut self, oracle: Option<&TruthStore>) {
        let touched = std::mem::take(&mut self.touched);
        let truths: Vec<(Pfn, Option<(FolioRef, FolioTruth)>)> = touched
            .into_iter()
            .map(|(head, f)| {
                let t = f.map(|f| {
                    let t = oracle
                        .map(|o| {
                            o.get(&head)
                                .map(std::borrow::Cow::into_owned)
                                .unwrap_or(FolioTruth::new(f.nr_pages()))
                        })
                        .unwrap_or_else(|| self.exact.tracked(f).to_truth());
                    (f, t)
                });
                (head, t)
            })
            .collect();
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter_mut().zip(rows.iter_mut()) {
            for (head, ft) in &truths {
                let new = ft.as_ref().map(|(f, truth)| {
                    let v = FolioView {
                        f: *f,
                        truth,
                        stat: sh.stat.get(head).copied().unwrap_or_default(),
                        flagged: sh.flagged.contains(head),
                    };
                    (*f, judge(sh.s.as_ref(), &v))
                });
                let old = sh.observed.set(*head, new.map(|n| n.1));
                if let (true, Some((f, n))) = (self.explain, new) {
                    turned_wrong(self.stmt, f, &old, &n, &mut t.wrong);
                }
            }
            sh.observed.tally(t);
        }
        self.stmt += 1;
    }
}

impl RmapEvents for FanOut {
    fn prep_folio(&mut self, f: FolioRef) {
        self.driver.prep_folio(f);
        self.exact.prep_folio(f);
        self.touch(f);
        self.each(|sh, _| {
            sh.s.prep_folio(f);
            sh.stat.remove(&f.head);
        });
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        let r = self.driver.free_folio(f);
        let e = self.exact.free_folio(f);
        self.touched.insert(f.head, None);
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
        self.touch(f);
        self.each(|sh, _| {
            let d = sh.s.add_new_anon(f, ctx);
            FanOut::note_stat(sh, f, d);
        });
        self.driver.add_new_anon(f, ctx)
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.exact.add(f, first, nr, level, ctx);
        self.touch(f);
        self.each(|sh, _| {
            let d = sh.s.add(f, first, nr, level, ctx);
            FanOut::note_stat(sh, f, d);
        });
        self.driver.add(f, first, nr, level, ctx)
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        self.exact.dup(f, first, nr, level, ctx);
        self.touch(f);
        self.each(|sh, _| sh.s.dup(f, first, nr, level, ctx));
        self.driver.dup(f, first, nr, level, ctx)
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.exact.remove(f, first, nr, level, ctx);
        self.touch(f);
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
    /// No mapping changes, but the answers of a design that counts VMAs may: the folio is
    /// re-judged after the statement.
    fn vma_changed(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ch: VmaChange) {
        self.touch(f);
        self.each(|sh, _| sh.s.vma_changed(f, first, nr, level, ch));
        self.driver.vma_changed(f, first, nr, level, ch)
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
        self.judge_cow(f, truth, |s| s.can_reuse_large(f, refcount, ctx));
        self.driver.can_reuse_large(f, refcount, ctx)
    }
    fn can_reuse_small(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        let truth = self.exact.mapcount(f) == 1 && refcount == 1;
        self.judge_cow(f, truth, |s| s.can_reuse_small(f, refcount, ctx));
        self.driver.can_reuse_small(f, refcount, ctx)
    }
    fn nr_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        self.driver.nr_mapped_pages(f, truth)
    }
    /// A decision point of its own: the madvise skip, judged against "mapped shared".
    fn madvise_skips_shared(&self, f: FolioRef) -> bool {
        let shared = self.exact.maybe_mapped_shared(f);
        let mut rows = self.tallies.borrow_mut();
        for (sh, t) in self.shadows.iter().zip(rows.iter_mut()) {
            let skip = sh.s.madvise_skips_shared(f);
            t.madvise_fp += (skip && !shared) as u64;
            t.madvise_fn += (!skip && shared) as u64;
            if skip != shared {
                let d = if skip {
                    "false shared: skipped a folio one MM maps"
                } else {
                    "false exclusive: advised a folio several MMs map"
                };
                self.wrong(t, Site::Madvise, f, d.into());
            }
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
    fn counts_vmas(&self) -> bool {
        self.driver.counts_vmas() || self.shadows.iter().any(|sh| sh.s.counts_vmas())
    }
    fn check_vmas(&self, f: FolioRef, nr_vmas: u64) -> Vec<String> {
        self.driver.check_vmas(f, nr_vmas)
    }
    fn end_statement(&mut self, truth: Option<&TruthStore>) {
        self.observe_statement(truth);
    }
    fn costs(&self) -> Costs {
        self.driver.costs()
    }
    fn layout(&self) -> Layout {
        self.driver.layout()
    }
}
