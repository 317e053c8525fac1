//! Embeds every `examples/*.scn` file of the repository as the built-in example set, and every
//! `tests/compare/*.scn` file as the built-in suite of `foliolab compare`.

use std::fmt::Write;
use std::path::Path;

/// Embeds every scenario of `dir`, which must hold at least `at_least`.
fn embed(src: &mut String, dir: &str, konst: &str, doc: &str, at_least: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir);
    println!("cargo:rerun-if-changed={}", path.display());
    let mut names: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    names.sort();
    assert!(
        names.len() >= at_least,
        "{dir}: {} scenarios, expected at least {at_least}",
        names.len()
    );
    writeln!(
        src,
        "/// {doc}: (name, text).\npub const {konst}: &[(&str, &str)] = &["
    )
    .unwrap();
    for p in &names {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p.file_name().unwrap().to_string_lossy();
        let abs = p.canonicalize().expect("scenario path");
        writeln!(
            src,
            "    (\"{dir}/{name}\", include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    src.push_str("];\n");
}

/// The commit being built, for `--version`: `git rev-parse` on the repository, or
/// `FOLIOLAB_COMMIT` from the environment, or `unknown` (a source tarball without .git).
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=FOLIOLAB_COMMIT");
    if let Ok(c) = std::env::var("FOLIOLAB_COMMIT") {
        return c;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    // Rebuild when HEAD moves: HEAD itself (a worktree has its own) and the ref it names.
    for file in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={}", root.join(p).display());
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
            println!("cargo:rerun-if-changed={}", root.join(p).display());
        }
    }
    let hash = git(&["rev-parse", "--short=12", "HEAD"]);
    let date = git(&["show", "-s", "--format=%cs", "HEAD"]);
    match (hash, date) {
        (Some(h), Some(d)) => format!("{h} {d}"),
        (Some(h), None) => h,
        _ => "unknown".into(),
    }
}

fn main() {
    println!("cargo:rustc-env=FOLIOLAB_COMMIT={}", commit());
    let mut src = String::new();
    embed(
        &mut src,
        "examples",
        "EXAMPLES",
        "Built-in example scenarios",
        11,
    );
    embed(
        &mut src,
        "tests/compare",
        "COMPARE_SUITE",
        "The built-in suite of `foliolab compare`",
        12,
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin.rs");
    std::fs::write(out, src).unwrap();
}
