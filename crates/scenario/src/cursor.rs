//! A cursor over the tokens of one statement line, with typed token readers that produce
//! positioned errors.

use crate::ast::{Pos, Range, RangeForm};
use crate::error::ScenarioError;
use crate::keywords::name_error;
use crate::lex::{width, Tok};
use crate::num::parse_u64;

pub(crate) const SIZE: &str = "a size (multiple of 4K)";
pub(crate) const OFFSET: &str = "an offset (multiple of 4K)";
pub(crate) const VALUE: &str = "a value";
pub(crate) const COUNT: &str = "a count";
const RANGE: &str = "a range (R, R+OFF, R[START..END] or R[START..+LEN])";

pub(crate) struct Cursor<'a> {
    pub path: &'a str,
    pub line: u32,
    pub toks: Vec<Tok<'a>>,
    pub i: usize,
    pub end_col: u32,
}

impl<'a> Cursor<'a> {
    pub fn pos_of(&self, tok: Tok<'_>) -> Pos {
        Pos {
            line: self.line,
            column: tok.col,
        }
    }

    /// An error at `tok` (or at the end of the line when `tok` is `None`).
    pub fn err(&self, tok: Option<Tok<'_>>, message: impl Into<String>) -> ScenarioError {
        let column = tok.map_or(self.end_col, |t| t.col);
        let pos = Pos {
            line: self.line,
            column,
        };
        ScenarioError::new(self.path, pos, tok.map(|t| t.text), message)
    }

    /// An error at `tok` that names the closest word of `words` as "did you mean".
    pub fn err_suggest<'w>(
        &self,
        tok: Tok<'_>,
        message: impl Into<String>,
        words: impl IntoIterator<Item = &'w str>,
    ) -> ScenarioError {
        let e = self.err(Some(tok), message);
        match crate::suggest::hint(tok.text, words) {
            Some(h) => e.with_help(h),
            None => e,
        }
    }

    pub fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.i).copied()
    }

    /// The next token; `expected` describes it for the end-of-line error.
    pub fn next(&mut self, expected: &str) -> Result<Tok<'a>, ScenarioError> {
        let tok = self
            .peek()
            .ok_or_else(|| self.err(None, format!("expected {expected}")))?;
        self.i += 1;
        Ok(tok)
    }

    /// The literal `word` (`==`, `stat`, ...).
    pub fn word(&mut self, word: &str) -> Result<(), ScenarioError> {
        let tok = self.next(&format!("`{word}`"))?;
        if tok.text == word {
            Ok(())
        } else {
            Err(self.err_suggest(tok, format!("expected `{word}`"), [word]))
        }
    }

    /// No tokens left.
    pub fn finish(&self) -> Result<(), ScenarioError> {
        match self.peek() {
            None => Ok(()),
            Some(tok) => Err(self.err(Some(tok), "expected end of statement")),
        }
    }

    /// A name (`what` is e.g. "a process name").
    pub fn name(&mut self, what: &str) -> Result<String, ScenarioError> {
        let tok = self.next(what)?;
        self.check_name(tok, what)
    }

    pub fn check_name(&self, tok: Tok<'_>, what: &str) -> Result<String, ScenarioError> {
        match name_error(tok.text) {
            None => Ok(tok.text.to_string()),
            Some(why) if crate::keywords::name_shaped(tok.text) => Err(self.err(Some(tok), why)),
            Some(_) => Err(self.err(Some(tok), format!("expected {what}"))),
        }
    }

    /// An unsigned integer token.
    pub fn u64(&mut self, what: &str) -> Result<u64, ScenarioError> {
        let tok = self.next(what)?;
        self.num_in(tok, what)
    }

    pub fn num_in(&self, tok: Tok<'_>, what: &str) -> Result<u64, ScenarioError> {
        parse_u64(tok.text).map_err(|e| {
            let err = self.err(Some(tok), e.message(what));
            match e.help(what) {
                Some(h) => err.with_help(h),
                None => err,
            }
        })
    }

    /// One of the words of `table`.
    pub fn choice<T: Copy>(&mut self, table: &[(&str, T)]) -> Result<T, ScenarioError> {
        let what = one_of(table);
        let tok = self.next(&what)?;
        self.choice_in(tok, table)
    }

    pub fn choice_in<T: Copy>(
        &self,
        tok: Tok<'_>,
        table: &[(&str, T)],
    ) -> Result<T, ScenarioError> {
        lookup(table, tok.text).ok_or_else(|| {
            let words = table.iter().map(|(w, _)| *w);
            self.err_suggest(tok, format!("expected {}", one_of(table)), words)
        })
    }

    /// A `KEY=VALUE` option value: the part after `=`, as a sub-token.
    pub fn option_value(tok: Tok<'a>, key: &str) -> Tok<'a> {
        Tok {
            text: &tok.text[key.len() + 1..],
            col: tok.col + width(key) + 1,
        }
    }

    /// A range token.
    pub fn range(&mut self) -> Result<Range, ScenarioError> {
        let tok = self.next(RANGE)?;
        let split = tok.text.find(['+', '[']).unwrap_or(tok.text.len());
        let name_tok = Tok {
            text: &tok.text[..split],
            col: tok.col,
        };
        let region = self.check_name(name_tok, RANGE)?;
        let rest = Tok {
            text: &tok.text[split..],
            col: tok.col + width(name_tok.text),
        };
        let form = self.range_form(rest)?;
        Ok(Range {
            region,
            form,
            pos: self.pos_of(tok),
        })
    }

    fn range_form(&self, rest: Tok<'_>) -> Result<RangeForm, ScenarioError> {
        if rest.text.is_empty() {
            return Ok(RangeForm::Whole);
        }
        if let Some(off) = rest.text.strip_prefix('+') {
            let off_tok = Tok {
                text: off,
                col: rest.col + 1,
            };
            return Ok(RangeForm::Page {
                offset_bytes: self.num_in(off_tok, OFFSET)?,
            });
        }
        let inner = rest
            .text
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'));
        let Some((start, end)) = inner.and_then(|s| s.split_once("..")) else {
            return Err(self.err(Some(rest), format!("expected {RANGE}")));
        };
        let start_tok = Tok {
            text: start,
            col: rest.col + 1,
        };
        let start_bytes = self.num_in(start_tok, OFFSET)?;
        let end_col = start_tok.col + width(start) + 2;
        if let Some(len) = end.strip_prefix('+') {
            let len_tok = Tok {
                text: len,
                col: end_col + 1,
            };
            let len_bytes = self.num_in(len_tok, "a length (multiple of 4K)")?;
            return Ok(RangeForm::Len {
                start_bytes,
                len_bytes,
            });
        }
        let end_bytes = self.num_in(
            Tok {
                text: end,
                col: end_col,
            },
            OFFSET,
        )?;
        Ok(RangeForm::Span {
            start_bytes,
            end_bytes,
        })
    }
}

/// `one of: a, b, c`.
pub(crate) fn one_of<T>(table: &[(&str, T)]) -> String {
    let words: Vec<&str> = table.iter().map(|(w, _)| *w).collect();
    format!("one of: {}", words.join(", "))
}

pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table.iter().find(|(w, _)| *w == word).map(|(_, v)| *v)
}
