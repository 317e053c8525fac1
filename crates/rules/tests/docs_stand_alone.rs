//! The repository's documents stand alone: they cite kernel commits, kernel sources and
//! lore.kernel.org, never notes that live outside the repository (`kernel note 7.4`,
//! `anchors 1.6`, `seeds 003`) or paths outside it.

use std::path::{Path, PathBuf};

fn markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            markdown(&path, out);
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// A citation of something outside the repository in `line`, if any.
fn outside(line: &str) -> Option<&'static str> {
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-' && c != '/')
        .collect();
    let numbered = |w: &str| {
        words
            .windows(2)
            .any(|p| p[0] == w && p[1].chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    if lower.contains("kernel note") || lower.contains("kernel-note") || numbered("note") {
        return Some("a kernel note");
    }
    if numbered("anchors") || lower.contains("anchors.md") {
        return Some("the anchors note");
    }
    if numbered("seeds") {
        return Some("the seeds");
    }
    ["/work/", "../shared", "shared/reference", "shared/seeds"]
        .into_iter()
        .find(|p| lower.contains(p))
        .map(|_| "a path outside the repository")
}

#[test]
fn documents_cite_nothing_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    markdown(&root.join("docs"), &mut files);
    files.extend(["README.md", "ARCHITECTURE.md"].map(|f| root.join(f)));
    assert!(
        files.len() >= 20,
        "{} documents, expected at least 20",
        files.len()
    );
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if let Some(what) = outside(line) {
                found.push(format!("{}:{}: {what}: {line}", f.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "documents cite outside notes:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_looks_for() {
    assert!(outside("Rules: kernel note 3, 4, 6, 7.4.").is_some());
    assert!(outside("(Hildenbrand, Nov 2023; anchors 1.6).").is_some());
    assert!(outside("the VMAs (seeds 003)").is_some());
    assert!(outside("see ../shared/reference/vm-kernels.md").is_some());
    assert!(outside("`foliolab fuzz --seeds N`").is_none());
    assert!(outside("[lore](https://lore.kernel.org/r/x@redhat.com)").is_none());
}
