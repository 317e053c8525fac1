//! Errors in a scenario, always with a position: `file:line:column: reason`.

use crate::ast::Pos;
use std::fmt;

/// A parse or validation error. Displayed as `path:line:column: message`, plus
/// `(found `token`)` when a token is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: String,
    pub pos: Pos,
    /// The offending token as written, if any.
    pub token: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.pos.line, self.pos.column, self.message
        )?;
        if let Some(tok) = &self.token {
            write!(f, " (found `{tok}`)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}
