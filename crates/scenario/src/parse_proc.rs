//! Process statements (`P: ...`, spec 3.2 and 3.4).

use crate::ast::*;
use crate::cursor::{lookup, Cursor, OFFSET, SIZE, VALUE};
use crate::error::ScenarioError;
use crate::lex::Tok;
use crate::tables::{advices, DRIVER_KINDS, FILE_SHARING, PROTS};

const KINDS: &str = "one of: anon, shmem, file, driver";
pub(crate) const ALIGN: &str = "an alignment (power of two from 4K to 512M)";

pub(crate) fn parse_proc_op(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let tok = cur.next("a process statement")?;
    Ok(match tok.text {
        "map" => map(cur)?,
        "unmap" => ProcOp::Unmap {
            range: cur.range()?,
        },
        "protect" => ProcOp::Protect {
            range: cur.range()?,
            prot: cur.choice(&PROTS)?,
        },
        "advise" => ProcOp::Advise {
            range: cur.range()?,
            advice: cur.choice(&advices())?,
        },
        "move" => mremap(cur)?,
        "space" => crate::v2::space(cur)?,
        "grow" => ProcOp::Grow {
            region: cur.name("a region name")?,
            size_bytes: cur.u64(crate::cursor::SIZE)?,
        },
        "write" => ProcOp::Write {
            range: cur.range()?,
            value: cur.u64(VALUE)?,
        },
        "read" => ProcOp::Read {
            range: cur.range()?,
        },
        "fork" => ProcOp::Fork {
            child: cur.name("a process name")?,
        },
        "exit" => ProcOp::Exit,
        "pin" => pin(cur)?,
        "splice" => ProcOp::Splice {
            name: cur.name("a pipe name")?,
            range: cur.range()?,
        },
        "release" => ProcOp::Release {
            name: cur.name("a pin or pipe name")?,
        },
        "migrate" => ProcOp::Migrate {
            range: cur.range()?,
        },
        "remember" => ProcOp::Remember {
            snapshot: cur.name("a snapshot name")?,
            range: cur.range()?,
        },
        "expect" => crate::parse_expect::expect(cur)?,
        "observe" => observe(cur)?,
        _ => {
            let e = cur.err_suggest(tok, "unknown statement", PROC_WORDS);
            return Err(if crate::parse::GLOBAL_WORDS[..8].contains(&tok.text) {
                e.with_help(format!("`{}` takes no process prefix", tok.text))
            } else {
                e
            });
        }
    })
}

/// `e` with "did you mean" for `word` among `words`, if one is close.
pub(crate) fn with_hint(e: ScenarioError, word: &str, words: &[&str]) -> ScenarioError {
    match crate::suggest::hint(word, words.iter().copied()) {
        Some(h) => e.with_help(h),
        None => e,
    }
}

/// Statement words after a process prefix (spec 3.2 to 3.4).
pub(crate) const PROC_WORDS: [&str; 16] = [
    "map", "unmap", "protect", "advise", "move", "write", "read", "fork", "exit", "pin", "splice",
    "release", "migrate", "remember", "expect", "observe",
];

/// `map R SIZE [KIND] [prot=PROT] [align=A]`, options in any order, each at most once.
fn map(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let region = cur.name("a region name")?;
    let size_bytes = cur.u64(SIZE)?;
    let (mut kind, mut prot, mut align) = (None, None, None);
    let mut v2 = crate::v2::MapOptions::default();
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        if v2.option(cur, tok)? || num_option(cur, tok, "align", ALIGN, &mut align)? {
            continue;
        }
        if let Some(v) = tok.text.strip_prefix("prot=") {
            let p = cur.choice_in(
                Tok {
                    text: v,
                    col: tok.col + 5,
                },
                &PROTS,
            )?;
            set_once(cur, tok, &mut prot, p, "prot")?;
        } else if let Some((key, _)) = tok.text.split_once('=') {
            let why = "expected one of: prot=PROT, align=A, at=S+OFF, off=FOFF";
            let keys = ["prot", "align", "at", "off"];
            return Err(with_hint(cur.err(Some(tok), why), key, &keys));
        } else {
            let k = map_kind(cur, tok)?;
            set_once(cur, tok, &mut kind, k, "the kind")?;
        }
    }
    let kind = kind.unwrap_or(MapKind::Anon);
    if let Some(op) = v2.finish(cur, &region, size_bytes, &kind, prot, align.is_some())? {
        return Ok(op);
    }
    Ok(ProcOp::Map {
        region,
        size_bytes,
        kind,
        prot: prot.unwrap_or(Prot::Rw),
        align_bytes: align.unwrap_or(DEFAULT_ALIGN_BYTES),
    })
}

fn map_kind(cur: &mut Cursor<'_>, tok: Tok<'_>) -> Result<MapKind, ScenarioError> {
    Ok(match tok.text {
        "anon" => MapKind::Anon,
        "shmem" => MapKind::Shmem,
        "file" => {
            let file = cur.name("a file name")?;
            MapKind::File {
                file,
                shared: cur.choice(&FILE_SHARING)?,
            }
        }
        "driver" => match cur.choice(&DRIVER_KINDS)? {
            false => MapKind::DriverMixedmap,
            true => MapKind::DriverPfnmap,
        },
        _ => {
            let words = ["anon", "shmem", "file", "driver"];
            return Err(cur.err_suggest(tok, format!("expected {KINDS}"), words));
        }
    })
}

/// Stores an option, rejecting a second occurrence.
pub(crate) fn set_once<T>(
    cur: &Cursor<'_>,
    tok: Tok<'_>,
    slot: &mut Option<T>,
    value: T,
    what: &str,
) -> Result<(), ScenarioError> {
    if slot.is_some() {
        return Err(cur.err(Some(tok), format!("{what} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// When `tok` is the option `KEY=NUMBER`, reads the number (`what` says what it must be)
/// into `slot`, an error when it is already set, and answers true; false for another token.
pub(crate) fn num_option(
    cur: &Cursor<'_>,
    tok: Tok<'_>,
    key: &str,
    what: &str,
    slot: &mut Option<u64>,
) -> Result<bool, ScenarioError> {
    let is_key = tok
        .text
        .strip_prefix(key)
        .is_some_and(|r| r.starts_with('='));
    if !is_key {
        return Ok(false);
    }
    let n = cur.num_in(Cursor::option_value(tok, key), what)?;
    set_once(cur, tok, slot, n, key)?;
    Ok(true)
}

/// `move RANGE R2 [align=A] [shift=OFF]`.
fn mremap(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let range = cur.range()?;
    let new_region = cur.name("a region name")?;
    let (mut align, mut shift) = (None, None);
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        if num_option(cur, tok, "align", ALIGN, &mut align)?
            || num_option(cur, tok, "shift", OFFSET, &mut shift)?
        {
            continue;
        }
        if tok.text.starts_with("at=") {
            let at = crate::v2::at_option(cur, tok)?;
            return crate::v2::move_at(cur, range, new_region, at, align.or(shift).is_some());
        }
        let key = tok.text.split('=').next().unwrap_or_default();
        let why = "expected one of: align=A, shift=OFF, at=S+OFF";
        return Err(with_hint(
            cur.err(Some(tok), why),
            key,
            &["align", "shift", "at"],
        ));
    }
    let align_bytes = align.unwrap_or(DEFAULT_ALIGN_BYTES);
    Ok(ProcOp::Move {
        range,
        new_region,
        align_bytes,
        shift_bytes: shift.unwrap_or(0),
    })
}

/// `pin N RANGE [ro|rw] [longterm|short] [fast]`.
fn pin(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let name = cur.name("a pin name")?;
    let range = cur.range()?;
    let (mut write, mut longterm, mut fast) = (None, None, None);
    let access = [("ro", false), ("rw", true)];
    let duration = [("longterm", true), ("short", false)];
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        if let Some(w) = lookup(&access, tok.text) {
            set_once(cur, tok, &mut write, w, "ro/rw")?;
        } else if let Some(l) = lookup(&duration, tok.text) {
            set_once(cur, tok, &mut longterm, l, "longterm/short")?;
        } else if tok.text == "fast" {
            set_once(cur, tok, &mut fast, true, "fast")?;
        } else {
            let words = ["ro", "rw", "longterm", "short", "fast"];
            let why = "expected one of: ro, rw, longterm, short, fast";
            return Err(cur.err_suggest(tok, why, words));
        }
    }
    let (write, longterm) = (write.unwrap_or(true), longterm.unwrap_or(true));
    Ok(ProcOp::Pin {
        name,
        range,
        write,
        longterm,
        fast: fast.unwrap_or(false),
    })
}

/// `observe smaps R` or `observe RANGE`.
fn observe(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    if cur.peek().map(|t| t.text) == Some("smaps") {
        cur.i += 1;
        return Ok(ProcOp::ObserveSmaps {
            region: cur.name("a region name")?,
        });
    }
    Ok(ProcOp::Observe {
        range: cur.range()?,
    })
}
