//! The checks after every statement catch a scheme that miscounts: a linux-6.18 that forgets
//! the fork-time dup of large folios must be reported as disagreeing with the oracle.

use foliolab_driver::{drive, ProblemKind, Record};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::event::{Ctx, FolioCounters, FolioRef, Level, Removed, Span, StatDelta};
use foliolab_schemes::scheme::{Queries, Reporting, RmapEvents};
use foliolab_schemes::{Bugs, Linux618};
use foliolab_sim::ModelRunner;
use foliolab_types::{FolioTruth, Pfn};

#[test]
fn a_scheme_that_forgets_the_fork_dup_is_caught_right_after_the_fork() {
    let text = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\np: advise a hugepage\np: write a 0x1\np: fork c\n";
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::with_scheme(Box::new({
        let mut s = Linux618::new(1 << 22);
        s.bugs = Bugs {
            forget_large_dup: true,
            ..Bugs::default()
        };
        s
    }));
    let mut problems = Vec::new();
    let summary = drive(&s, &mut runner, &mut |r: &Record| {
        if let Record::Problem(p) = r {
            problems.push((p.line, p.kind, p.message.clone()));
        }
    });
    assert_eq!(summary.exit, 1);
    assert!(
        problems
            .iter()
            .all(|(line, kind, _)| *line == 7 && *kind == ProblemKind::Invariant),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(_, _, m)| m.contains("_large_mapcount 16, page tables map it 32 times")),
        "{problems:?}"
    );
}

/// linux-6.18 but for fork's dup of small folios, which it drops: a wrong `_mapcount` on
/// every order-0 folio a fork shares.
struct ForgetsSmallDup(Linux618);

impl RmapEvents for ForgetsSmallDup {
    fn prep_folio(&mut self, f: FolioRef) {
        self.0.prep_folio(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.0.free_folio(f)
    }
    fn free_folios(&mut self, folios: &[FolioRef], errors: &mut Vec<String>) {
        self.0.free_folios(folios, errors)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.0.add_new_anon(f, ctx)
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.0.add(f, first, nr, level, ctx)
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        if f.is_large() {
            self.0.dup(f, first, nr, level, ctx)
        }
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.0.remove(f, first, nr, level, ctx)
    }
    fn dup_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx) {
        let large: Vec<Span> = spans
            .iter()
            .filter(|s| s.folio.is_large())
            .cloned()
            .collect();
        self.0.dup_batch(&large, level, ctx)
    }
    fn remove_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx, out: &mut [Removed]) {
        self.0.remove_batch(spans, level, ctx, out)
    }
}

impl Queries for ForgetsSmallDup {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.0.mapcount(f)
    }
    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.0.page_mapcount(f, page)
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.0.maybe_mapped_shared(f)
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        self.0.can_reuse_large(f, refcount, ctx)
    }
}

impl Reporting for ForgetsSmallDup {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        self.0.counters(f)
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        self.0.check(f, truth)
    }
}

/// The `_mapcount` messages of a 4 MiB region of 4K folios written then forked under
/// `scheme`, by the touched check or the full one (`full`), after asserting that every
/// problem is an invariant reported on the fork's line (6) and that the run failed.
fn fork_of_4k_folios_mapcount_messages(
    scheme: Box<dyn foliolab_schemes::Scheme>,
    full: bool,
) -> Vec<String> {
    let text = "scenario 1\nspawn p\np: map a 4M\np: advise a nohugepage\np: write a 0x1\n\
                p: fork c\n";
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::with_scheme(scheme);
    runner.full_check = full;
    let mut problems = Vec::new();
    let summary = drive(&s, &mut runner, &mut |r: &Record| {
        if let Record::Problem(p) = r {
            problems.push((p.line, p.kind, p.message.clone()));
        }
    });
    assert_eq!(summary.exit, 1, "full check {full}");
    assert!(
        problems
            .iter()
            .all(|(line, kind, _)| *line == 6 && *kind == ProblemKind::Invariant),
        "full check {full}: {problems:?}"
    );
    problems
        .into_iter()
        .map(|(_, _, m)| m)
        .filter(|m| m.contains("_mapcount 1, page tables map it 2 times"))
        .collect()
}

/// The check on touched state, after a fork of many 4K folios (PTE tables diffed in place,
/// write-protected entries seen once), reports a wrong `_mapcount` of a small folio as the
/// full check does, on the fork's line and on no earlier one.
#[test]
fn a_wrong_mapcount_of_small_folios_is_caught_right_after_the_fork() {
    for full in [false, true] {
        let scheme = Box::new(ForgetsSmallDup(Linux618::new(1 << 22)));
        let wrong = fork_of_4k_folios_mapcount_messages(scheme, full);
        assert_eq!(
            wrong.len(),
            1024,
            "full check {full}: one per 4K folio of 4 MiB"
        );
    }
}

/// The touched check's run of small folios, through linux-6.18's own loop over its
/// `_mapcount` words (`Reporting::small_run_ok`), finds the one wrong folio in the middle
/// of each PMD range of 4K folios a fork shares, as the full check does, on the fork's
/// line: a run check that passed a run whole would miss them.
#[test]
fn a_wrong_mapcount_inside_a_run_of_small_folios_is_caught() {
    for full in [false, true] {
        let mut scheme = Linux618::new(1 << 22);
        scheme.bugs = Bugs {
            forget_small_dup: Some(100),
            ..Bugs::default()
        };
        let wrong = fork_of_4k_folios_mapcount_messages(Box::new(scheme), full);
        assert_eq!(wrong.len(), 2, "full check {full}: one per 2M of 4K folios");
    }
}
