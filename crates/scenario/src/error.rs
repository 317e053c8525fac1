//! Errors in a scenario, always with a position: `file:line:column: reason`, and, rendered
//! against the source, the line with a caret under the offending token and help lines (the
//! accepted forms, "did you mean", the limit that was exceeded).

use crate::ast::Pos;
use std::fmt;

/// A token longer than this is shown shortened (`abc…` plus its length).
const MAX_TOKEN_CHARS: usize = 40;
/// A source line is shown in a window of about this many characters around the error.
const MAX_LINE_CHARS: usize = 100;

/// A parse or validation error. Displayed as `path:line:column: message`, plus
/// `(found `token`)` when a token is known; [`ScenarioError::render`] adds the source line
/// with a caret and the help lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: String,
    pub pos: Pos,
    /// The offending token as written, if any.
    pub token: Option<String>,
    pub message: String,
    /// Lines for the reader after the snippet (`did you mean `map`?`, the accepted forms).
    pub help: Vec<String>,
}

impl ScenarioError {
    /// An error at `pos` without help lines.
    pub fn new(path: &str, pos: Pos, token: Option<&str>, message: impl Into<String>) -> Self {
        ScenarioError {
            path: path.to_string(),
            pos,
            token: token.map(str::to_string),
            message: message.into(),
            help: Vec::new(),
        }
    }

    /// The same error with one more help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// The error in the style of rustc: the one-line form, then the source line (a window
    /// of it when it is long) with a caret under the token, then the help lines. `source`
    /// is the scenario's whole text; an error outside it renders the one-line form and help.
    pub fn render(&self, source: &str) -> String {
        let mut out = self.to_string();
        let line_no = self.pos.line as usize;
        if let Some(line) = line_no
            .checked_sub(1)
            .and_then(|i| source.split('\n').nth(i))
        {
            let gutter = " ".repeat(self.pos.line.to_string().len());
            let (shown, caret_col) = window(line, self.pos.column as usize);
            let width = self
                .token
                .as_ref()
                .map_or(1, |t| t.chars().count().max(1))
                .min(shown.chars().count().saturating_sub(caret_col).max(1));
            out.push_str(&format!("\n{gutter} |\n{} | {shown}\n", self.pos.line));
            out.push_str(&format!(
                "{gutter} | {}{}",
                " ".repeat(caret_col),
                "^".repeat(width)
            ));
        }
        for h in &self.help {
            out.push_str(&format!("\n  = help: {h}"));
        }
        out
    }
}

/// The part of `line` to show and the 0-based column of the caret in it: the whole line if
/// it is short, else a window around `column` with `…` where text was cut. Tabs and control
/// characters are shown as one character each, so the caret stays aligned.
fn window(line: &str, column: usize) -> (String, usize) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let chars: Vec<char> = line
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    let col0 = column.saturating_sub(1).min(chars.len());
    if chars.len() <= MAX_LINE_CHARS {
        return (chars.into_iter().collect(), col0);
    }
    let start = col0.saturating_sub(MAX_LINE_CHARS / 3);
    let end = (start + MAX_LINE_CHARS).min(chars.len());
    let mut shown = String::new();
    let mut caret = col0 - start;
    if start > 0 {
        shown.push('…');
        caret += 1;
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, caret)
}

/// `token`, or its first characters and its length when it is long.
pub(crate) fn shorten(token: &str) -> String {
    let mut chars = token.char_indices();
    match chars.nth(MAX_TOKEN_CHARS) {
        None => token.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &token[..cut], token.len()),
    }
}

/// `message` with every long `quoted` part shortened (names are quoted in messages).
fn shorten_quoted(message: &str) -> String {
    let mut out = String::new();
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(&shorten(part));
        } else {
            out.push_str(part);
        }
    }
    out
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path,
            self.pos.line,
            self.pos.column,
            shorten_quoted(&self.message)
        )?;
        if let Some(tok) = &self.token {
            write!(f, " (found `{}`)", shorten(tok))?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: u32, column: u32, token: Option<&str>) -> ScenarioError {
        ScenarioError::new("t.scn", Pos { line, column }, token, "bad")
    }

    #[test]
    fn caret_under_the_token() {
        let e = err(2, 4, Some("mmap")).with_help("did you mean `map`?");
        let text = e.render("scenario 1\np: mmap a 4K\n");
        assert_eq!(
            text,
            "t.scn:2:4: bad (found `mmap`)\n  |\n2 | p: mmap a 4K\n  |    ^^^^\n  = help: did you mean `map`?"
        );
    }

    #[test]
    fn long_tokens_and_lines_are_cut() {
        let long = "x".repeat(10_000_000);
        let line = format!("p: map {long} 4K");
        let e = err(1, 8, Some(&long));
        let text = e.render(&line);
        assert!(text.len() < 400, "{}", text.len());
        assert!(text.contains("(10000000 bytes)"), "{text}");
        let named = ScenarioError::new("t.scn", Pos::default(), None, format!("unknown `{long}`"));
        assert!(named.to_string().len() < 100);
        let caret_line = text.lines().nth(3).unwrap();
        let shown_line = text.lines().nth(2).unwrap();
        let caret_at = caret_line.find('^').unwrap();
        assert_eq!(shown_line[caret_at..].chars().next(), Some('x'), "{text}");
    }

    #[test]
    fn window_keeps_the_caret_on_the_column() {
        let line = format!("{}TARGET{}", "a ".repeat(200), " b".repeat(200));
        let (shown, caret) = window(&line, 401);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(
            shown.chars().skip(caret).take(6).collect::<String>(),
            "TARGET"
        );
    }

    #[test]
    fn error_beyond_the_text_has_no_snippet() {
        let e = err(9, 1, None);
        assert_eq!(e.render("scenario 1\n"), "t.scn:9:1: bad");
    }
}
