//! Rules of the probe's sources that keep the host safe, checked on the text:
//! - no environment variable redirects the journal, the lock or the helper: outside `vm/`
//!   (VM runs touch nothing on the host; their variables pick a cache directory and QEMU)
//!   only `FOLIOLAB_PROBE_CPU`, which the runner sets for its helpers, and the debug switch
//!   `FOLIOLAB_PROBE_DEBUG` are read;
//! - processes are signalled through pidfds only, never `kill(2)` by pid.
//!
//! `trace/` (`foliolab record`'s tracing, with a journal and signal thread of its own and a
//! command killed by process group) is not covered yet.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/trace");
    files.retain(|p| !p.starts_with(&trace));
    files.sort();
    assert!(files.len() >= 25, "only {} source files found", files.len());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            (p, text)
        })
        .collect()
}

/// The names in `env::var("...")` / `var_os("...")` calls.
fn env_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for pat in ["env::var(\"", "env::var_os(\""] {
        for (i, _) in text.match_indices(pat) {
            let rest = &text[i + pat.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
            }
        }
    }
    out
}

#[test]
fn no_environment_override_of_host_paths_or_the_helper() {
    let vm = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/vm");
    let mut names: Vec<String> = all_sources()
        .iter()
        .filter(|(p, _)| !p.starts_with(&vm))
        .flat_map(|(_, t)| env_names(t))
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["FOLIOLAB_PROBE_CPU", "FOLIOLAB_PROBE_DEBUG"]);
    for (p, t) in all_sources() {
        assert!(
            !t.contains("env::var(name") && !t.contains("env::var_os(name"),
            "{}: an environment variable read by a computed name",
            p.display()
        );
    }
}

#[test]
fn processes_are_signalled_through_pidfds() {
    for (p, t) in all_sources() {
        assert!(
            !t.contains("libc::kill("),
            "{}: kill(2) by pid",
            p.display()
        );
        assert!(
            !t.contains("child.kill()"),
            "{}: Child::kill by pid",
            p.display()
        );
    }
}
