//! `cargo run -p cowgen` rewrites `tests/cow/` from `cowgen::generate()`;
//! `cargo run -p cowgen -- --check` only reports whether the committed files match;
//! `cargo run -p cowgen -- --observe DIR` writes the variant with page observations to DIR.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, dir, files) = match args.iter().map(|a| a.as_str()).collect::<Vec<_>>()[..] {
        [] => (false, None, cowgen::generate()),
        ["--check"] => (true, None, cowgen::generate()),
        ["--observe", d] => (false, Some(PathBuf::from(d)), cowgen::generate_with(true)),
        _ => {
            eprintln!("usage: cowgen [--check | --observe DIR]");
            return ExitCode::from(2);
        }
    };
    let dir = dir.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cow"));
    let stale = cowgen::differences(&dir, &files);
    if check {
        if stale.is_empty() {
            println!("{}: {} scenarios, up to date", dir.display(), files.len());
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
        "{}: wrote {} scenarios ({} changed)",
        dir.display(),
        files.len(),
        stale.len()
    );
    ExitCode::SUCCESS
}
