//! Process expectations (`P: expect ...`, spec 3.3).

use crate::ast::*;
use crate::cursor::{Cursor, COUNT, OFFSET, VALUE};
use crate::error::ScenarioError;
use crate::lex::{width, Tok};
use crate::tables::{smaps_fields, FOLIO_FIELDS, PAGE_FIELDS, RSS_KINDS, STATES};

const FIELD_VALUE: &str = "an integer, true, false, none or PROC:COUNT";

pub(crate) fn expect(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let Some(tok) = cur.peek() else {
        return Err(cur.err(None, "expected what to expect"));
    };
    let counted = |cur: &mut Cursor<'_>| -> Result<u64, ScenarioError> {
        cur.i += 1;
        cur.word("==")?;
        cur.u64(COUNT)
    };
    Ok(match tok.text {
        "faults" => ProcOp::ExpectFaults {
            faults: counted(cur)?,
        },
        "smaps" => expect_smaps(cur)?,
        "rss" => {
            cur.i += 1;
            let kind = cur.choice(&RSS_KINDS)?;
            cur.word("==")?;
            ProcOp::ExpectRss {
                kind,
                pages: cur.u64(COUNT)?,
            }
        }
        "pipe" | "pin" => {
            cur.i += 1;
            let name = cur.name(if tok.text == "pin" {
                "a pin name"
            } else {
                "a pipe name"
            })?;
            cur.word("==")?;
            let value = cur.u64(VALUE)?;
            if tok.text == "pin" {
                ProcOp::ExpectPin { name, value }
            } else {
                ProcOp::ExpectPipe { name, value }
            }
        }
        "folio" => expect_folio(cur)?,
        "page" => expect_page(cur)?,
        _ => expect_range(cur)?,
    })
}

/// `smaps R FIELD == SIZE`.
fn expect_smaps(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    cur.i += 1;
    let region = cur.name("a region name")?;
    let field = cur.choice(&smaps_fields())?;
    cur.word("==")?;
    let size_bytes = cur.u64("a size (multiple of 1K)")?;
    Ok(ProcOp::ExpectSmaps {
        region,
        field,
        size_bytes,
    })
}

fn expect_folio(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    cur.i += 1;
    let range = cur.range()?;
    let field = cur.choice(&FOLIO_FIELDS)?;
    cur.word("==")?;
    Ok(ProcOp::ExpectFolio {
        range,
        field,
        value: field_value(cur)?,
    })
}

fn expect_page(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    cur.i += 1;
    let range = cur.range()?;
    let field = cur.choice(&PAGE_FIELDS)?;
    cur.word("==")?;
    Ok(ProcOp::ExpectPage {
        range,
        field,
        value: field_value(cur)?,
    })
}

/// The value of `expect folio` / `expect page`: any form; `validate` checks it fits the field.
fn field_value(cur: &mut Cursor<'_>) -> Result<FieldValue, ScenarioError> {
    let tok = cur.next(FIELD_VALUE)?;
    let int = |t: Tok<'_>| -> Result<i64, ScenarioError> {
        let n = cur.num_in(t, FIELD_VALUE)?;
        i64::try_from(n).map_err(|_| cur.err(Some(t), "number does not fit in 63 bits"))
    };
    Ok(match tok.text {
        "true" => FieldValue::Bool(true),
        "false" => FieldValue::Bool(false),
        "none" => FieldValue::NoSlot,
        text => match text.split_once(':') {
            Some((proc, count)) => {
                let proc = cur.check_name(
                    Tok {
                        text: proc,
                        col: tok.col,
                    },
                    "a process name",
                )?;
                let count_tok = Tok {
                    text: count,
                    col: tok.col + width(&proc) + 1,
                };
                FieldValue::Slot {
                    proc,
                    count: int(count_tok)?,
                }
            }
            None => FieldValue::Int(int(tok)?),
        },
    })
}

/// Expectations that start with a range.
fn expect_range(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let range = cur.range()?;
    let what = "one of: ==, same, new, present, zeropage, swapped, none, mapcount, exclusive, \
                shared, pmd, pte, order";
    let tok = cur.next(what)?;
    Ok(match tok.text {
        "==" => ProcOp::ExpectValue {
            range,
            value: cur.u64(VALUE)?,
        },
        "same" | "new" => {
            let snapshot = cur.name("a snapshot name")?;
            let at_bytes = at_offset(cur)?;
            if tok.text == "same" {
                ProcOp::ExpectSame {
                    range,
                    snapshot,
                    at_bytes,
                }
            } else {
                ProcOp::ExpectNew {
                    range,
                    snapshot,
                    at_bytes,
                }
            }
        }
        "mapcount" => {
            cur.word("==")?;
            ProcOp::ExpectMapcount {
                range,
                mapcount: cur.u64(COUNT)?,
            }
        }
        "order" => {
            cur.word("==")?;
            let t = cur.next("an order (0 to 9)")?;
            match cur.num_in(t, "an order (0 to 9)")? {
                n @ 0..=9 => ProcOp::ExpectOrder {
                    range,
                    order: n as u8,
                },
                _ => return Err(cur.err(Some(t), "expected an order (0 to 9)")),
            }
        }
        "exclusive" | "shared" => ProcOp::ExpectExclusive {
            range,
            exclusive: tok.text == "exclusive",
        },
        "pmd" | "pte" => ProcOp::ExpectPmd {
            range,
            pmd: tok.text == "pmd",
        },
        text => match STATES.iter().find(|(w, _)| *w == text) {
            Some((_, state)) => ProcOp::ExpectState {
                range,
                state: *state,
            },
            None => {
                let words = [
                    "==",
                    "same",
                    "new",
                    "present",
                    "zeropage",
                    "swapped",
                    "none",
                    "mapcount",
                    "exclusive",
                    "shared",
                    "pmd",
                    "pte",
                    "order",
                ];
                return Err(cur.err_suggest(tok, format!("expected {what}"), words));
            }
        },
    })
}

/// An optional `at OFF`.
fn at_offset(cur: &mut Cursor<'_>) -> Result<Option<u64>, ScenarioError> {
    if cur.peek().map(|t| t.text) != Some("at") {
        return Ok(None);
    }
    cur.i += 1;
    Ok(Some(cur.u64(OFFSET)?))
}
