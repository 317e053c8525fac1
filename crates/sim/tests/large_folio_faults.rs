//! A fault in one page of a 64K folio is caught right after the statement, by the check on
//! what the statement touched (which answers a large folio's per-page rules from one pass
//! over its pages) as by the full check, with the same messages: a page left AnonExclusive
//! by a fork, a tail refcount among the pages fork marked as one run, and a design whose
//! fork dup forgets one page's `_mapcount`.

mod support;

use foliolab_mem::PageFlags;
use foliolab_scenario::{parse, validate, Scenario};
use foliolab_schemes::{Bugs, Linux618};
use foliolab_sim::ModelRunner;
use foliolab_types::Pfn;

/// Four 64K folios written by `p`, then forked: every page mapped twice.
fn fork_of_64k_folios() -> Scenario {
    let text = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 256K align=64K\np: advise a hugepage\np: write a 0x1\np: fork c\n";
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    s
}

/// The head of the second folio `p` maps (the first process's PTEs).
fn second_folio(r: &ModelRunner) -> Pfn {
    let model = r.model();
    let pfns = support::first_process_pfns(r);
    assert_eq!(pfns.len(), 64, "{pfns:?}");
    let head = model.mem.folio_of(pfns[16]);
    assert_eq!(model.folio(head).nr_pages(), 16);
    head
}

fn runners(make: impl Fn() -> ModelRunner) -> [(&'static str, ModelRunner); 2] {
    let touched = make();
    let mut full = make();
    full.full_check = true;
    [("touched", touched), ("full", full)]
}

/// `corrupt` applied to the second folio (by its head) just before the fork's checks makes
/// both checks report exactly `want` of that head, and nothing before.
fn both_checks_report(corrupt: impl Fn(&mut ModelRunner, Pfn), want: impl Fn(Pfn) -> String) {
    let s = fork_of_64k_folios();
    for (name, mut r) in runners(|| ModelRunner::new("linux-6.18").unwrap()) {
        let fork = support::last_problems(&s, name, &mut r, |r| corrupt(r, second_folio(r)));
        assert_eq!(fork, vec![want(second_folio(&r))], "{name}");
    }
}

#[test]
fn a_page_left_anon_exclusive_by_a_fork_is_caught_by_both_checks() {
    both_checks_report(
        |r, head| {
            let page = r.model_mut().mem.page_mut(head.add(5));
            page.flags.set(PageFlags::ANON_EXCLUSIVE, true);
        },
        |head| format!("{head:?}: exclusive page 5 mapped 2 times"),
    );
}

#[test]
fn a_tail_refcount_among_the_pages_a_fork_marked_as_one_run_is_caught_by_both_checks() {
    both_checks_report(
        // Written without a mark of its own: fork marked the folio's pages as one run.
        |r, head| r.model_mut().mem.map.get_mut(head.add(11)).refcount = 1,
        |head| format!("{head:?}: tail page 11 has a refcount"),
    );
}

#[test]
fn a_design_that_forgets_one_page_of_a_fork_dup_is_caught_by_both_checks() {
    let s = fork_of_64k_folios();
    let broken = || {
        ModelRunner::with_scheme(Box::new({
            let mut s = Linux618::new(1 << 22);
            s.bugs = Bugs {
                forget_page_dup: Some(9),
                ..Bugs::default()
            };
            s
        }))
    };
    for (name, mut r) in runners(broken) {
        let fork = support::last_problems(&s, name, &mut r, |_| {});
        // One message per folio: its page 9 has one mapping too few.
        assert_eq!(fork.len(), 4, "{name}: {fork:?}");
        assert!(
            fork.iter()
                .all(|m| m.ends_with("(linux-6.18): page[9] _mapcount 1, 2 PTE mappings")),
            "{name}: {fork:?}"
        );
    }
}
