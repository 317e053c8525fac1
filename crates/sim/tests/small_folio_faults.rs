//! A fault in one small (order-0) folio in the middle of a run of them is caught right
//! after the statement, by the check on what the statement touched (which checks runs of
//! consecutive small folios in a few passes over slices: the oracle's entries, the
//! `struct page`s with the refcount, AnonExclusive and writable rules, the design's words)
//! as by the full check, with the same messages: after a fork (a wrong refcount, a page
//! left AnonExclusive) and after the write faults that mapped them (a wrong refcount, a
//! writable PTE left on a page that is not AnonExclusive). With nothing broken, the check
//! on touched state answers every statement from the sums it keeps, without a full check.

mod support;

use foliolab_driver::Runner;
use foliolab_mem::PageFlags;
use foliolab_scenario::{parse, validate, Scenario};
use foliolab_sim::ModelRunner;
use foliolab_types::Pfn;

/// 2 MiB of 4K folios written by `p`, then (`fork`) forked.
fn small_folios(fork: bool) -> Scenario {
    let mut text =
        String::from("scenario 1\nspawn p\np: map a 2M\np: advise a nohugepage\np: write a 0x1\n");
    if fork {
        text.push_str("p: fork c\n");
    }
    let s = parse("t.scn", &text).unwrap();
    validate(&s).unwrap();
    s
}

/// The PFN `p`'s 300th PTE maps: a small folio in the middle of the run of 512.
fn middle_folio(r: &ModelRunner) -> Pfn {
    let model = r.model();
    let pfns = support::first_process_pfns(r);
    assert_eq!(pfns.len(), 512);
    let pfn = pfns[300];
    assert_eq!(model.folio(pfn).nr_pages(), 1);
    // The folios at the PFNs next to it are mapped too: it lies inside a run.
    assert!(pfns.contains(&Pfn(pfn.0 - 1)) && pfns.contains(&Pfn(pfn.0 + 1)));
    pfn
}

/// `corrupt` applied to the middle folio just before the checks of the last statement of
/// [`small_folios`]`(fork)` makes both checks report exactly `want` of that folio (and of
/// the first process), and nothing before.
fn both_checks_report(
    fork: bool,
    corrupt: impl Fn(&mut ModelRunner, Pfn),
    want: impl Fn(&ModelRunner, Pfn) -> String,
) {
    let s = small_folios(fork);
    for full in [false, true] {
        let name = if full { "full" } else { "touched" };
        let mut r = ModelRunner::new("linux-6.18").unwrap();
        r.full_check = full;
        let problems = support::last_problems(&s, name, &mut r, |r| corrupt(r, middle_folio(r)));
        assert_eq!(problems, vec![want(&r, middle_folio(&r))], "{name}");
    }
}

#[test]
fn a_wrong_refcount_inside_a_run_a_fork_shared_is_caught_by_both_checks() {
    both_checks_report(
        true,
        |r, pfn| r.model_mut().mem.map.get_mut(pfn).refcount += 1,
        |_, pfn| format!("{pfn:?}: refcount 3, expected 2 (mappings plus pins and caches)"),
    );
}

#[test]
fn a_page_left_anon_exclusive_inside_a_run_a_fork_shared_is_caught_by_both_checks() {
    both_checks_report(
        true,
        |r, pfn| {
            let page = r.model_mut().mem.map.get_mut(pfn);
            page.flags.set(PageFlags::ANON_EXCLUSIVE, true);
        },
        |_, pfn| format!("{pfn:?}: exclusive page 0 mapped 2 times"),
    );
}

#[test]
fn a_wrong_refcount_inside_a_run_write_faults_mapped_is_caught_by_both_checks() {
    both_checks_report(
        false,
        |r, pfn| r.model_mut().mem.map.get_mut(pfn).refcount += 1,
        |_, pfn| format!("{pfn:?}: refcount 2, expected 1 (mappings plus pins and caches)"),
    );
}

#[test]
fn a_writable_pte_on_a_page_not_anon_exclusive_inside_a_run_is_caught_by_both_checks() {
    both_checks_report(
        false,
        // Written without a mark: the write faults marked the page already.
        |r, pfn| {
            let page = r.model_mut().mem.map.get_mut(pfn);
            page.flags.set(PageFlags::ANON_EXCLUSIVE, false);
        },
        |r, pfn| {
            let (pid, _) = r.model().processes().next().unwrap();
            format!("{pid:?}: writable PTE maps non-exclusive page {pfn:?}")
        },
    );
}

/// 2 MiB of 4K folios written, forked, the child gone, unmapped: the check on touched
/// state finds nothing after each statement from what it keeps alone (its sums of the
/// folios' statistics, kept a run of small folios at a time, never drift into a full
/// check), and the full check agrees.
#[test]
fn the_touched_check_answers_small_folio_runs_alone_when_nothing_is_wrong() {
    let text = "scenario 1\nspawn p\np: map a 2M\np: advise a nohugepage\np: write a 0x1\n\
                p: fork c\nc: write a 0x2\nc: exit\np: unmap a\n";
    answered_alone(text);
}

/// After a fork of 2 MiB of 4K folios, the folios the check on touched state looked at
/// (which the VMA check of designs that count VMAs and the fuzzer's disagreement count
/// read) are the 512 folios the fork shared, taken from the recount's changed list
/// without a copy when the marks name exactly those.
#[test]
fn the_folios_a_fork_touched_are_the_folios_it_shared() {
    let s = small_folios(true);
    let mut r = ModelRunner::new("linux-6.18").unwrap();
    for stmt in s.statements() {
        r.perform(stmt).unwrap();
        assert!(r.after_statement(stmt).is_empty(), "{stmt:?}");
    }
    assert!(r.touched_answered_alone());
    let mut pfns = support::first_process_pfns(&r);
    pfns.sort_unstable();
    assert_eq!(r.last_touched(), &pfns[..]);
}

/// A 64K folio split by the shrinker under its mapping (its middle unmapped): the small
/// folios at its head's PFN and after it take over the larger folio's kept part (kept wide,
/// by head) in a run, then a fork shares them, the child goes and the rest is unmapped; the
/// check on touched state answers each statement from its sums alone, and they never
/// drift (the full check agrees).
#[test]
fn a_split_folios_small_runs_keep_the_sums_alone() {
    let text = "scenario 1\nthp 64K=madvise 2M=never\nspawn p\np: map a 128K align=64K\n\
                p: advise a hugepage\np: write a 0x1\np: unmap a[16K..32K]\nshrink\n\
                p: fork c\nc: exit\np: unmap a\n";
    answered_alone(text);
}

/// Runs `text` on linux-6.18, asserting after each statement that the checks found nothing
/// and that the check on touched state answered from its sums alone (no full check ran).
fn answered_alone(text: &str) {
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    let mut r = ModelRunner::new("linux-6.18").unwrap();
    for stmt in s.statements() {
        r.perform(stmt).unwrap();
        let problems = r.after_statement(stmt);
        assert!(problems.is_empty(), "{stmt:?}: {problems:?}");
        assert!(r.touched_answered_alone(), "{stmt:?}: the full check ran");
    }
}
