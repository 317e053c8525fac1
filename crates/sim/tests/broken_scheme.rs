//! The checks after every statement catch a scheme that miscounts: a linux-6.18 that forgets
//! the fork-time dup of large folios must be reported as disagreeing with the oracle.

use foliolab_report::{drive, ProblemKind, Record};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::*;
use foliolab_sim::ModelRunner;
use foliolab_types::{FolioTruth, Pfn};

struct ForgetsLargeDup(Linux618);

impl Scheme for ForgetsLargeDup {
    fn name(&self) -> &'static str {
        "linux-6.18"
    }
    fn prep_folio(&mut self, f: FolioRef) {
        self.0.prep_folio(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.0.free_folio(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.0.add_new_anon(f, ctx)
    }
    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        self.0.add(f, first, nr, level, ctx)
    }
    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        if !f.is_large() {
            self.0.dup(f, first, nr, level, ctx)
        }
    }
    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.0.remove(f, first, nr, level, ctx)
    }
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.0.mapcount(f)
    }
    fn page_mapcount(&self, f: FolioRef, p: Pfn) -> i64 {
        self.0.page_mapcount(f, p)
    }
    fn page_mapped_exclusively(&self, f: FolioRef, p: Pfn) -> bool {
        self.0.page_mapped_exclusively(f, p)
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.0.maybe_mapped_shared(f)
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, ctx: Ctx) -> bool {
        self.0.can_reuse_large(f, refcount, ctx)
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        self.0.counters(f)
    }
    fn check(&self, f: FolioRef, t: &FolioTruth) -> Vec<String> {
        self.0.check(f, t)
    }
}

#[test]
fn a_scheme_that_forgets_the_fork_dup_is_caught_right_after_the_fork() {
    let text = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 64K align=64K\np: advise a hugepage\np: write a 0x1\np: fork c\n";
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::with_scheme(Box::new(ForgetsLargeDup(Linux618::new(1 << 22))));
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
