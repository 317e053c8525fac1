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

fn main() {
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
