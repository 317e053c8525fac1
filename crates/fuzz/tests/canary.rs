//! The canary: a linux-6.18 that forgets the third MM. When a large folio is already owned
//! by two MMs (both MM_ID slots taken, by other MMs than the one forking into it), the dup
//! at fork is dropped, so `_large_mapcount` and the slots undercount. The fuzzer must catch
//! it within a fixed budget of cases and shrink it to at most 20 statements; if this test
//! fails, the fuzzer (generator, checks or shrinker) lost its teeth.

use foliolab_fuzz::campaign::Campaign;
use foliolab_fuzz::exec::model_support_table;
use foliolab_fuzz::shrink::shrink;
use foliolab_fuzz::{ExecOptions, FailKind, SchemeSpec};
use foliolab_schemes::*;
use foliolab_types::{FolioTruth, Pfn};

struct ForgetsThirdMm(Linux618);

impl ForgetsThirdMm {
    fn both_slots_taken_by_others(&self, f: FolioRef, ctx: Ctx) -> bool {
        let c = self.0.counters(f);
        let other = |s: Option<Option<(foliolab_types::MmId, i64)>>| matches!(s, Some(Some((mm, _))) if mm != ctx.mm);
        f.is_large() && other(c.slot0) && other(c.slot1)
    }
}

impl Scheme for ForgetsThirdMm {
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
        if !self.both_slots_taken_by_others(f, ctx) {
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

/// Cases the fuzzer may spend before it must have caught the canary.
const CASES_BUDGET: u64 = 64;
/// Shrinker runs allowed.
const SHRINK_BUDGET: u64 = 3000;

#[test]
fn the_fuzzer_catches_and_shrinks_the_canary() {
    foliolab_fuzz::panics::install_quiet_hook();
    let pages = foliolab_mem::memory::PHYS_BYTES / foliolab_types::PAGE_SIZE;
    let canary = SchemeSpec::custom("canary-forgets-third-mm", move || {
        Box::new(ForgetsThirdMm(Linux618::new(pages)))
    });
    let c = Campaign {
        seed: 0xc0ffee,
        steps: 120,
        schemes: vec![canary.clone()],
        support: model_support_table(),
        opts: ExecOptions {
            count_disagreements: false,
        },
        check_determinism: false,
        shard: (0, 1),
    };
    let mut caught = None;
    c.sweep(2, Some(CASES_BUDGET), &|| false, &mut |r| {
        if caught.is_none() && r.failed() {
            caught = Some(r);
        }
    });
    let case = caught.expect("the canary escaped the fuzzer");
    let failure = case.runs[0].1.failure.clone().unwrap();
    assert!(
        matches!(failure.kind, FailKind::Invariant | FailKind::Oracle),
        "{failure:?}"
    );
    let s = shrink(&case.scenario, &failure, &canary, SHRINK_BUDGET);
    let text = foliolab_scenario::print(&s.scenario);
    let n = s.scenario.statements().count();
    eprintln!(
        "canary: case {} caught, shrunk to {n} statements in {} runs:\n{text}",
        case.index, s.tries
    );
    assert!(n <= 20, "shrunk only to {n} statements:\n{text}");
    assert_eq!(s.failure.signature(), failure.signature());
}
