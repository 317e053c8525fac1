//! The parser: text to [`Scenario`], one statement per line.

use crate::ast::*;
use crate::cursor::{Cursor, SIZE};
use crate::error::ScenarioError;
use crate::lex::{lex_line, Tok};
use crate::num::parse_i64;

/// Parses a whole scenario file. `path` is used in error messages only.
pub fn parse(path: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let max = crate::limits::MAX_SCENARIO_BYTES;
    if text.len() as u64 > max {
        let why = format!("the scenario is {} bytes long, over the limit", text.len());
        let pos = Pos { line: 1, column: 1 };
        return Err(ScenarioError::new(path, pos, None, why).with_help(format!(
            "a scenario is at most {} (see Limits in the format spec)",
            foliolab_types::format_size_bytes(max)
        )));
    }
    let mut items = Vec::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let line = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let lexed = lex_line(raw);
        let comment = lexed.comment.map(str::to_string);
        if lexed.toks.is_empty() {
            if let Some(text) = comment {
                items.push(Item::Comment { line, text });
            }
            continue;
        }
        let tokens = lexed
            .toks
            .iter()
            .map(|t| Token {
                column: t.col,
                text: t.text.to_string(),
            })
            .collect();
        let mut cur = Cursor {
            path,
            line,
            toks: lexed.toks,
            i: 0,
            end_col: lexed.end_col,
        };
        let first = cur.next("a statement")?;
        let kind = parse_statement(&mut cur, first)?;
        cur.finish()?;
        items.push(Item::Stmt(Stmt {
            pos: cur.pos_of(first),
            kind,
            comment,
            tokens,
        }));
    }
    Ok(Scenario {
        path: path.to_string(),
        items,
    })
}

fn parse_statement(cur: &mut Cursor<'_>, first: Tok<'_>) -> Result<StmtKind, ScenarioError> {
    if let Some(proc) = first.text.strip_suffix(':').filter(|p| !p.is_empty()) {
        let proc = cur.check_name(
            Tok {
                text: proc,
                col: first.col,
            },
            "a process name",
        )?;
        let op = crate::parse_proc::parse_proc_op(cur)?;
        return Ok(StmtKind::Proc { proc, op });
    }
    parse_global(cur, first)
}

fn parse_global(cur: &mut Cursor<'_>, first: Tok<'_>) -> Result<StmtKind, ScenarioError> {
    Ok(match first.text {
        "scenario" => {
            let tok = cur.next("a format version")?;
            let v = cur.num_in(tok, "a format version")?;
            let version = u32::try_from(v)
                .map_err(|_| cur.err(Some(tok), "number does not fit a format version"))?;
            StmtKind::Scenario { version }
        }
        "schemes" => StmtKind::Schemes {
            names: scheme_names(cur)?,
        },
        "thp" => StmtKind::Thp {
            settings: crate::parse_thp::thp_settings(cur)?,
        },
        "swap" => StmtKind::Swap {
            size_bytes: cur.u64(SIZE)?,
        },
        "file" => StmtKind::File {
            file: cur.name("a file name")?,
            size_bytes: cur.u64(SIZE)?,
        },
        "spawn" => StmtKind::Spawn {
            proc: cur.name("a process name")?,
        },
        "shrink" => StmtKind::Shrink,
        "khugepaged" => StmtKind::Khugepaged,
        "expect" => expect_stat(cur)?,
        "observe" => {
            cur.word("stats")?;
            StmtKind::ObserveStats
        }
        _ => return Err(unknown_global(cur, first)),
    })
}

/// Statement words without a process prefix (spec 3.1).
pub(crate) const GLOBAL_WORDS: [&str; 10] = [
    "scenario",
    "schemes",
    "thp",
    "swap",
    "file",
    "spawn",
    "shrink",
    "khugepaged",
    "expect",
    "observe",
];

/// `unknown statement`, with what the writer probably meant.
fn unknown_global(cur: &Cursor<'_>, first: Tok<'_>) -> ScenarioError {
    let e = cur.err(Some(first), "unknown statement");
    let text = first.text;
    if crate::parse_proc::PROC_WORDS.contains(&text) {
        return e.with_help(format!(
            "`{text}` is a process statement: it takes a process prefix (`p: {text} ...`)"
        ));
    }
    if let Some((proc, rest)) = text.split_once(':') {
        if !proc.is_empty() && !rest.is_empty() {
            return e.with_help(format!(
                "a process prefix is followed by a space: `{proc}: {rest}`"
            ));
        }
    }
    match crate::suggest::hint(text, GLOBAL_WORDS) {
        Some(h) => e.with_help(h),
        None => e,
    }
}

/// `expect stat NAME == N`.
fn expect_stat(cur: &mut Cursor<'_>) -> Result<StmtKind, ScenarioError> {
    let tok = cur.next("`stat`")?;
    if tok.text != "stat" {
        let why = "expected `stat` (other expectations take a process prefix `P:`)";
        return Err(cur.err_suggest(tok, why, ["stat"]));
    }
    let name = cur.next("a counter name")?;
    let ok = name
        .text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !ok {
        return Err(cur.err(Some(name), "expected a counter name (spec 3.6)"));
    }
    cur.word("==")?;
    let tok = cur.next("a change (integer)")?;
    let delta =
        parse_i64(tok.text).map_err(|e| cur.err(Some(tok), e.message("a change (integer)")))?;
    Ok(StmtKind::ExpectStat {
        counter: name.text.to_string(),
        delta,
    })
}

/// One or more scheme names: `[a-z0-9][a-z0-9._-]*`.
fn scheme_names(cur: &mut Cursor<'_>) -> Result<Vec<String>, ScenarioError> {
    let mut names = Vec::new();
    if cur.peek().is_none() {
        return Err(cur.err(None, "expected a scheme name"));
    }
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        let mut chars = tok.text.chars();
        let first_ok = matches!(chars.next(), Some('a'..='z' | '0'..='9'));
        let ok = first_ok && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'));
        if !ok {
            return Err(cur.err(Some(tok), "expected a scheme name"));
        }
        names.push(tok.text.to_string());
    }
    Ok(names)
}
