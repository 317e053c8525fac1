//! Every `*.scn` under the repository's `examples/` and `tests/` round-trips through the
//! printer: parse, print, parse gives the same program, and printing is idempotent.

use foliolab_scenario::{parse, print, validate};
use foliolab_testkit::{repo, scenarios_below};

/// Every folder of scenarios, with the fewest files it may hold.
const FOLDERS: [(&str, usize); 10] = [
    ("examples/", 11),
    ("tests/traces/", 5),
    ("tests/conformance/", 75),
    ("tests/regressions/", 6),
    ("tests/invalid/", 4),
    ("tests/compare/", 12),
    ("tests/compare-pmd/", 12),
    ("tests/model/", 10),
    ("tests/language/", 1),
    ("tests/cow/", 744),
];

#[test]
fn every_scenario_round_trips() {
    let root = repo();
    let at_least = FOLDERS.iter().map(|(_, n)| n).sum();
    let files = scenarios_below(&["examples", "tests"], at_least);
    for (dir, at_least) in FOLDERS {
        let n = files
            .iter()
            .filter(|f| f.strip_prefix(&root).is_ok_and(|r| r.starts_with(dir)))
            .count();
        assert!(
            n >= at_least,
            "{dir}: {n} scenarios, expected at least {at_least}"
        );
    }
    for file in &files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).expect("readable");
        let s = parse(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        let printed = print(&s);
        let again = parse(&name, &printed).unwrap_or_else(|e| panic!("reparse {e}\n{printed}"));
        assert!(
            s.same_program(&again),
            "{name}: printed form is another program:\n{printed}"
        );
        assert_eq!(print(&again), printed, "{name}: printing is not idempotent");
        assert_eq!(
            validate(&s).is_ok(),
            validate(&again).is_ok(),
            "{name}: validity changed"
        );
    }
}

#[test]
fn example_scenarios_are_valid() {
    let root = repo();
    for name in [
        "tests/language/language-tour.scn",
        "examples/fork-cow-64k.scn",
    ] {
        let path = root.join(name);
        let text = std::fs::read_to_string(&path).expect("readable");
        let s = parse(name, &text).unwrap_or_else(|e| panic!("{e}"));
        validate(&s).unwrap_or_else(|e| panic!("{e}"));
    }
}
