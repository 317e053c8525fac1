//! Test support shared by the workspace's tests: the repository's files, found by walking its
//! folders, so that every test that runs "every scenario of a folder" walks it the same way
//! and fails the same way when the folder is gone or holds fewer files than expected.
//!
//! A dev-dependency only: library crates do no file I/O, and the architecture rules test
//! (crates/rules, `DEV_ONLY`) refuses this crate in any other dependency section.

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `path` relative to the repository's root (`tests/conformance/x.scn`), as the tests name
/// scenario files to the `foliolab` binary run from the root.
pub fn relative(path: &Path) -> String {
    let root = repo();
    let rel = path
        .strip_prefix(&root)
        .unwrap_or_else(|_| panic!("{} is not below {}", path.display(), root.display()));
    rel.display().to_string()
}

/// Every file below `dir`, in every subfolder, whose name ends in `suffix`, sorted by path (a
/// folder's files where the folder sorts among its neighbours). A folder or entry that cannot
/// be read is an error (a panic naming it), never zero files.
pub fn files_below(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, suffix, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            walk(&path, suffix, out);
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
        {
            out.push(path);
        }
    }
}

/// Every `.scn` file below the repository's folders `dirs` (relative to its root, every
/// subfolder included), folder after folder, each sorted by path. Fails (a panic) when a
/// folder cannot be read or when they hold fewer than `at_least` scenarios in all: a test
/// that walks a folder must notice that it is gone, moved or emptied.
pub fn scenarios_below(dirs: &[&str], at_least: usize) -> Vec<PathBuf> {
    let root = repo();
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| files_below(&root.join(dir), ".scn"))
        .collect();
    assert!(
        files.len() >= at_least,
        "{}: {} scenarios, expected at least {at_least}",
        dirs.join(", "),
        files.len()
    );
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_walk_is_recursive_sorted_and_counted() {
        let all = scenarios_below(&["tests"], 850);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert!(all
            .iter()
            .any(|p| relative(p).starts_with("tests/cow/anon/")));
        assert!(all
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "scn")));
    }

    #[test]
    #[should_panic(expected = "expected at least")]
    fn fewer_files_than_expected_fail() {
        scenarios_below(&["tests/language"], 10_000);
    }

    #[test]
    #[should_panic(expected = "no-such-folder")]
    fn a_missing_folder_fails() {
        scenarios_below(&["tests/no-such-folder"], 0);
    }
}
