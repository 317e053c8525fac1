//! The `thp KEY=VALUE...` statement.

use crate::ast::{ThpKey, ThpSetting};
use crate::counters::SIZES;
use crate::cursor::Cursor;
use crate::error::ScenarioError;
use crate::lex::Tok;
use crate::num::parse_u64;

const ANON_TOP: &[&str] = &["always", "madvise", "never"];
const ANON_SIZE: &[&str] = &["always", "madvise", "never", "inherit"];
const DEFRAG: &[&str] = &["always", "defer", "defer+madvise", "madvise", "never"];
const ON_OFF: &[&str] = &["on", "off"];
const SHMEM_TOP: &[&str] = &["always", "within_size", "advise", "never"];
const SHMEM_SIZE: &[&str] = &["always", "within_size", "advise", "never", "inherit"];

/// Every THP key, in the order of the spec's table.
fn all_keys() -> Vec<ThpKey> {
    let sizes = || SIZES.iter().map(|(_, o)| *o);
    let mut keys = vec![ThpKey::Enabled];
    keys.extend(sizes().map(ThpKey::Size));
    keys.extend([
        ThpKey::Defrag,
        ThpKey::ZeroPage,
        ThpKey::ShrinkUnderused,
        ThpKey::MaxPtesNone,
        ThpKey::MaxPtesSwap,
        ThpKey::MaxPtesShared,
        ThpKey::Shmem,
    ]);
    keys.extend(sizes().map(ThpKey::ShmemSize));
    keys
}

/// The key of a `KEY` text, if known.
pub fn thp_key(text: &str) -> Option<ThpKey> {
    let size_order = |s: &str| SIZES.iter().find(|(n, _)| *n == s).map(|(_, o)| *o);
    Some(match text {
        "enabled" => ThpKey::Enabled,
        "defrag" => ThpKey::Defrag,
        "zero_page" => ThpKey::ZeroPage,
        "shrink_underused" => ThpKey::ShrinkUnderused,
        "max_ptes_none" => ThpKey::MaxPtesNone,
        "max_ptes_swap" => ThpKey::MaxPtesSwap,
        "max_ptes_shared" => ThpKey::MaxPtesShared,
        "shmem" => ThpKey::Shmem,
        _ => match text.strip_prefix("shmem.") {
            Some(size) => ThpKey::ShmemSize(size_order(size)?),
            None => ThpKey::Size(size_order(text)?),
        },
    })
}

/// The spelling of a key (`64K`, `shmem.2M`, `max_ptes_none`).
pub fn thp_key_name(key: ThpKey) -> String {
    let size = |o: u8| {
        SIZES
            .iter()
            .find(|(_, so)| *so == o)
            .map_or("?", |(n, _)| *n)
    };
    match key {
        ThpKey::Enabled => "enabled".into(),
        ThpKey::Size(o) => size(o).into(),
        ThpKey::Defrag => "defrag".into(),
        ThpKey::ZeroPage => "zero_page".into(),
        ThpKey::ShrinkUnderused => "shrink_underused".into(),
        ThpKey::MaxPtesNone => "max_ptes_none".into(),
        ThpKey::MaxPtesSwap => "max_ptes_swap".into(),
        ThpKey::MaxPtesShared => "max_ptes_shared".into(),
        ThpKey::Shmem => "shmem".into(),
        ThpKey::ShmemSize(o) => format!("shmem.{}", size(o)),
    }
}

/// The words a key takes, or `None` for the integer keys (0..511).
pub fn thp_values(key: ThpKey) -> Option<&'static [&'static str]> {
    match key {
        ThpKey::Enabled => Some(ANON_TOP),
        ThpKey::Size(_) => Some(ANON_SIZE),
        ThpKey::Defrag => Some(DEFRAG),
        ThpKey::ZeroPage | ThpKey::ShrinkUnderused => Some(ON_OFF),
        ThpKey::MaxPtesNone | ThpKey::MaxPtesSwap | ThpKey::MaxPtesShared => None,
        ThpKey::Shmem => Some(SHMEM_TOP),
        ThpKey::ShmemSize(_) => Some(SHMEM_SIZE),
    }
}

/// One or more settings, sorted in the order of the spec's table (each key at most once).
pub(crate) fn thp_settings(cur: &mut Cursor<'_>) -> Result<Vec<ThpSetting>, ScenarioError> {
    let mut settings: Vec<ThpSetting> = Vec::new();
    if cur.peek().is_none() {
        return Err(cur.err(None, "expected KEY=VALUE"));
    }
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        let setting = thp_setting(cur, tok)?;
        if settings.iter().any(|s| s.key == setting.key) {
            let why = format!("THP key `{}` is set twice", thp_key_name(setting.key));
            return Err(cur.err(Some(tok), why));
        }
        settings.push(setting);
    }
    settings.sort_by_key(|s| s.key);
    Ok(settings)
}

fn thp_setting(cur: &Cursor<'_>, tok: Tok<'_>) -> Result<ThpSetting, ScenarioError> {
    let Some((key_text, value)) = tok.text.split_once('=') else {
        return Err(cur.err(Some(tok), "expected KEY=VALUE"));
    };
    let key = thp_key(key_text).ok_or_else(|| {
        let names: Vec<String> = all_keys().into_iter().map(thp_key_name).collect();
        let words: Vec<&str> = names.iter().map(String::as_str).collect();
        let e = cur.err(Some(tok), "unknown THP key");
        crate::parse_proc::with_hint(e, key_text, &words).with_help(
            "keys: enabled, 16K to 2M, defrag, zero_page, shrink_underused, max_ptes_none, \
             max_ptes_swap, max_ptes_shared, shmem, shmem.16K to shmem.2M",
        )
    })?;
    let value_tok = Cursor::option_value(tok, key_text);
    let value = match thp_values(key) {
        Some(words) if words.contains(&value) => value.to_string(),
        Some(words) => {
            let why = format!("expected one of: {}", words.join(", "));
            return Err(cur.err_suggest(value_tok, why, words.iter().copied()));
        }
        None => match parse_u64(value) {
            Ok(n) if n <= 511 => n.to_string(),
            _ => return Err(cur.err(Some(value_tok), "expected an integer from 0 to 511")),
        },
    };
    Ok(ThpSetting { key, value })
}
