//! The committed `tests/cow/` is exactly what the generator writes now, and every generated
//! scenario parses and validates.

use std::path::Path;

#[test]
fn committed_scenarios_match_the_generator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cow");
    let on_disk = cowgen::scn_files(&dir).len();
    assert!(
        on_disk >= 744,
        "tests/cow: {on_disk} scenarios, expected at least 744"
    );
    let diff = cowgen::differences(&dir, &cowgen::generate());
    assert!(
        diff.is_empty(),
        "tests/cow is stale (run `cargo run -p cowgen`):\n{}",
        diff.join("\n")
    );
}

#[test]
fn counts() {
    let files = cowgen::generate();
    let count = |p: &str| files.iter().filter(|f| f.path.starts_with(p)).count();
    assert_eq!(count("anon"), 14 * 52);
    assert_eq!(count("collapse"), 4);
    assert_eq!(count("non-anon"), 12);
}

#[test]
fn generated_scenarios_are_valid() {
    for f in cowgen::generate() {
        let name = f.path.display().to_string();
        let s = foliolab_scenario::parse(&name, &f.text).unwrap_or_else(|e| panic!("{e}"));
        foliolab_scenario::validate(&s).unwrap_or_else(|e| panic!("{e}"));
    }
}
