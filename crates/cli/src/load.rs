//! Loading scenarios: from files or the built-in set, parsed and validated, with errors as
//! `file:line:column: reason`.

use crate::builtin;
use foliolab_scenario::{parse, validate, Scenario, ScenarioError};
use std::path::PathBuf;

/// A scenario by name, or the error that makes it invalid (exit 2).
pub type Loaded = Result<Scenario, String>;

/// The named files, or every built-in example when `files` is empty.
pub fn load_all(files: &[PathBuf]) -> Vec<(String, Loaded)> {
    if files.is_empty() {
        return builtin::EXAMPLES
            .iter()
            .map(|(name, text)| (name.to_string(), check(name, text)))
            .collect();
    }
    files
        .iter()
        .map(|f| {
            let name = f.display().to_string();
            let loaded = match read_text(f) {
                Ok(text) => check(&name, &text),
                Err(e) => Err(format!("{name}: cannot read: {e}")),
            };
            (name, loaded)
        })
        .collect()
}

/// A scenario file's text; gzip-compressed files (recorded workloads, `.scn.gz`) are
/// decompressed.
pub fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)?;
        return Ok(text);
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn check(name: &str, text: &str) -> Loaded {
    let s = parse(name, text).map_err(|e: ScenarioError| e.to_string())?;
    validate(&s).map_err(|e| e.to_string())?;
    Ok(s)
}

/// `foliolab fmt`: print each file in canonical form.
pub fn fmt(files: &[PathBuf]) -> anyhow::Result<u8> {
    let mut code = 0;
    for (name, loaded) in load_all(files) {
        match loaded {
            Ok(s) => print!("{}", foliolab_scenario::print(&s)),
            Err(e) => {
                eprintln!("{e}");
                let _ = name;
                code = 2;
            }
        }
    }
    Ok(code)
}
