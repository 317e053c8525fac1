//! `cargo run -p cowgen` rewrites `tests/cow/` from `cowgen::generate()`;
//! `cargo run -p cowgen -- --check` only reports whether the committed files match.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("usage: cowgen [--check]  (unknown argument {other:?})");
            return ExitCode::from(2);
        }
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cow");
    let files = cowgen::generate();
    let stale = cowgen::differences(&dir, &files);
    if check {
        if stale.is_empty() {
            println!("tests/cow: {} scenarios, up to date", files.len());
            return ExitCode::SUCCESS;
        }
        for s in &stale {
            eprintln!("{s}");
        }
        return ExitCode::FAILURE;
    }
    // Remove every scenario the generator no longer produces, then write all of them.
    for old in cowgen::scn_files(&dir) {
        let rel = old.strip_prefix(&dir).unwrap().to_path_buf();
        if !files.iter().any(|f| f.path == rel) {
            std::fs::remove_file(&old).unwrap();
        }
    }
    for f in &files {
        let p: PathBuf = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.text).unwrap();
    }
    println!(
        "tests/cow: wrote {} scenarios ({} changed)",
        files.len(),
        stale.len()
    );
    ExitCode::SUCCESS
}
