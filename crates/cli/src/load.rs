//! Loading scenarios: from files (gzip-compressed ones decompressed), standard input (`-`)
//! or the built-in set, parsed and validated, with errors rendered as `file:line:column: reason` plus the source line with a
//! caret and help lines.

use crate::builtin;
use foliolab_scenario::limits::MAX_SCENARIO_BYTES;
use foliolab_scenario::{parse, validate, Pos, Scenario, ScenarioError};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A scenario, or the rendered error that makes it invalid (exit 2).
pub type Loaded = Result<Scenario, String>;

/// The name standard input goes by in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// True for the path `-` (standard input).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The named files (`-` is standard input, at most once), or every built-in example when
/// `files` is empty.
pub fn load_all(files: &[PathBuf]) -> Vec<(String, Loaded)> {
    if files.is_empty() {
        return builtin::EXAMPLES
            .iter()
            .map(|(name, text)| (name.to_string(), load_bytes(name, text.as_bytes())))
            .collect();
    }
    let mut stdin_read = false;
    files
        .iter()
        .map(|f| match read_source(f, &mut stdin_read) {
            Ok((name, bytes)) => {
                let loaded = load_bytes(&name, &bytes);
                (name, loaded)
            }
            Err((name, e)) => (name, Err(e)),
        })
        .collect()
}

/// The bytes of one source and its name in messages; standard input can be read once.
/// A source larger than [`MAX_SCENARIO_BYTES`] is refused without reading it all.
pub fn read_source(
    path: &Path,
    stdin_read: &mut bool,
) -> Result<(String, Vec<u8>), (String, String)> {
    let name = if is_stdin(path) {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    };
    let mut bytes = Vec::new();
    let limit = MAX_SCENARIO_BYTES + 1;
    // The limit is on the text; a compressed source (below) is cut at the same size.
    let read = if is_stdin(path) {
        if std::mem::replace(stdin_read, true) {
            return Err((
                name.clone(),
                format!("{name}: standard input is given more than once"),
            ));
        }
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    let bytes = match read.and_then(|_| gunzip(bytes)) {
        Ok(b) => b,
        Err(e) => return Err((name.clone(), format!("{name}: cannot read: {e}"))),
    };
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        let why = format!(
            "{name}: larger than the limit of {} for a scenario (see Limits in the format spec)",
            foliolab_types::format_size_bytes(MAX_SCENARIO_BYTES)
        );
        return Err((name, why));
    }
    Ok((name, bytes))
}

/// True for gzip-compressed bytes (recorded workloads are kept as `.scn.gz`).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `bytes` decompressed when they are gzip, at most one byte over [`MAX_SCENARIO_BYTES`]
/// (so that the caller sees the text is over the limit without inflating all of it).
fn gunzip(bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut text)?;
    Ok(text)
}

/// Parses and validates `bytes`; an error is rendered against the source.
pub fn load_bytes(name: &str, bytes: &[u8]) -> Loaded {
    let (s, text) = parse_bytes(name, bytes)?;
    validate(&s).map_err(|e| e.render(text))?;
    Ok(s)
}

/// Parses `bytes` (UTF-8 checked, with the line and column of the first bad byte) without
/// validating; an error is rendered against the source.
pub fn parse_bytes<'b>(name: &str, bytes: &'b [u8]) -> Result<(Scenario, &'b str), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| utf8_error(name, bytes, e))?;
    let s = parse(name, text).map_err(|e: ScenarioError| e.render(text))?;
    Ok((s, text))
}

/// `file:line:column: invalid UTF-8`, rendered over the text with the bad bytes replaced.
fn utf8_error(name: &str, bytes: &[u8], e: std::str::Utf8Error) -> String {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    let bad = bytes[e.valid_up_to()];
    let pos = Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    };
    let why = format!("invalid UTF-8 (byte 0x{bad:02x})");
    ScenarioError::new(name, pos, None, why)
        .with_help("a scenario is UTF-8 text")
        .render(&String::from_utf8_lossy(bytes))
}
