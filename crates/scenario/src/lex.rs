//! Splitting a line into tokens (spaces and tabs separate tokens, `#` starts a comment).

/// One token of a line with its 1-based column (in Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok<'a> {
    pub text: &'a str,
    pub col: u32,
}

/// A line split into its tokens and its comment.
#[derive(Debug)]
pub(crate) struct LexedLine<'a> {
    pub toks: Vec<Tok<'a>>,
    /// Text after `#`, trailing white space removed.
    pub comment: Option<&'a str>,
    /// Column just after the last token (where "end of line" errors point).
    pub end_col: u32,
}

/// Splits one line (without its line break) into tokens and a comment.
pub(crate) fn lex_line(line: &str) -> LexedLine<'_> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut toks = Vec::new();
    let mut comment = None;
    let mut start: Option<(usize, u32)> = None;
    let mut col: u32 = 0;
    let mut end_col: u32 = 1;
    for (byte, ch) in line.char_indices() {
        col = col.saturating_add(1);
        if ch == '#' || ch == ' ' || ch == '\t' {
            if let Some((s, c)) = start.take() {
                toks.push(Tok {
                    text: &line[s..byte],
                    col: c,
                });
                end_col = col;
            }
            if ch == '#' {
                comment = Some(line[byte + 1..].trim_end());
                break;
            }
        } else if start.is_none() {
            start = Some((byte, col));
        }
    }
    if let Some((s, c)) = start {
        toks.push(Tok {
            text: &line[s..],
            col: c,
        });
        end_col = col.saturating_add(1);
    }
    LexedLine {
        toks,
        comment,
        end_col,
    }
}

/// Number of Unicode scalar values in `s` as a column offset.
pub(crate) fn width(s: &str) -> u32 {
    u32::try_from(s.chars().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_comments() {
        let l = lex_line("p:\tmap a  4K # hi there  ");
        let texts: Vec<_> = l.toks.iter().map(|t| (t.text, t.col)).collect();
        assert_eq!(texts, vec![("p:", 1), ("map", 4), ("a", 8), ("4K", 11)]);
        assert_eq!(l.comment, Some(" hi there"));
        let l = lex_line("é x#c");
        assert_eq!(l.toks[1].col, 3);
        assert_eq!(l.comment, Some("c"));
        assert_eq!(l.end_col, 4);
    }
}
