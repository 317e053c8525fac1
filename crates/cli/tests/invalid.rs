//! Every scenario of `tests/invalid/` is rejected before it runs: exit 2 with the position
//! and the reason its `# error: LINE:COLUMN: REASON` line names. Each file is one class of
//! input that once made the model panic or abort (mutation fuzzing); none may again.

use foliolab_testkit::scenarios_below;
use std::process::Command;

#[test]
fn invalid_scenarios_are_rejected_where_and_why_their_header_says() {
    let files = scenarios_below(&["tests/invalid"], 4);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let want = text
            .lines()
            .find_map(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{}: no `# error: LINE:COLUMN: REASON` line", f.display()));
        let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
            .arg("run")
            .arg(f)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {shown}", f.display());
        let expected = format!("{}:{want}", f.display());
        assert!(
            shown.contains(&expected),
            "{}: expected `{expected}` in:\n{shown}",
            f.display()
        );
    }
}
