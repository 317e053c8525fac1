//! A wrong count on a small folio a fork shared with a child is caught right after that
//! fork, by the check on what the statement touched: the recount counts the child's copy of
//! a range of small folios in as runs, and each folio of the run is still judged.

use foliolab_driver::{Problem, Runner};
use foliolab_scenario::{parse, validate, Item};
use foliolab_sim::ModelRunner;
use foliolab_types::{Pfn, VirtAddr};

/// Runs a 2M range of 4K pages forked three times; after the statement on line `at`,
/// `tamper` may change the model before the checks run. The problems of each line.
fn forks(at: u32, tamper: impl Fn(&mut ModelRunner)) -> Vec<(u32, Vec<Problem>)> {
    let mut text = String::from("scenario 1\nspawn p\np: map a 2M\np: write a 0x1\n");
    for i in 1..=3 {
        text.push_str(&format!("p: fork c{i}\n"));
    }
    let s = parse("t.scn", &text).unwrap();
    validate(&s).unwrap();
    let mut runner = ModelRunner::new("linux-6.18").unwrap();
    let mut out = Vec::new();
    for item in &s.items {
        let Item::Stmt(stmt) = item else { continue };
        runner.perform(stmt).unwrap();
        if stmt.pos.line == at {
            tamper(&mut runner);
        }
        out.push((stmt.pos.line, runner.after_statement(stmt)));
    }
    out
}

/// The small folio the parent maps at the `i`th page of its range.
fn folio(runner: &ModelRunner, i: u64) -> Pfn {
    let (_, parent) = runner.model().processes().next().unwrap();
    let (va, _) = parent.aspace.pt.iter().next().unwrap();
    let pte = parent.aspace.pt.pte(VirtAddr(va.0 + i * 4096));
    assert!(pte.is_present());
    pte.pfn()
}

#[test]
fn a_wrong_refcount_on_a_forked_small_folio_is_caught_at_that_fork() {
    let clean = forks(0, |_| {});
    assert!(clean.iter().all(|(_, p)| p.is_empty()), "{clean:?}");
    // After the second fork (line 6: the parent's entries were write-protected by the
    // first), one folio in the middle of the run gains a reference nothing holds, and the
    // memmap's marks are dropped: the folio is judged because the child's count-in
    // changed its truth, nothing else lists it.
    let lines = forks(6, |r| {
        let pfn = folio(r, 300);
        let model = r.model_mut();
        model.mem.page_mut(pfn).refcount += 1;
        model.mem.touched.clear();
    });
    let caught: Vec<u32> = lines
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(l, _)| *l)
        .collect();
    assert_eq!(caught, [6, 7], "reported from the fork on: {lines:?}");
    let at_fork = &lines.iter().find(|(l, _)| *l == 6).unwrap().1;
    assert!(
        at_fork.iter().any(|p| p.message.contains("refcount")),
        "{at_fork:?}"
    );
}
