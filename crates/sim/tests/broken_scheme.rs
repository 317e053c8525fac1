//! The checks after every statement catch a scheme that miscounts: a linux-6.18 that forgets
//! the fork-time dup of large folios must be reported as disagreeing with the oracle.

use foliolab_driver::{drive, ProblemKind, Record};
use foliolab_scenario::{parse, validate};
use foliolab_schemes::{Bugs, Linux618};
use foliolab_sim::ModelRunner;

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
