//! What the model runner can perform: everything else is `unsupported` before the run starts.

use foliolab_scenario::{Item, Scenario, StmtKind};

/// Texts for every statement the model cannot perform (spec 4: exit 3). Every statement of
/// format version 1 is modelled, file, shmem and driver mappings included.
pub fn unsupported(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for item in &s.items {
        let Item::Stmt(stmt) = item else { continue };
        if let Some(what) = unsupported_stmt(&stmt.kind) {
            out.push(format!("line {}: {what}", stmt.pos.line));
        }
    }
    out
}

fn unsupported_stmt(kind: &StmtKind) -> Option<String> {
    let _ = kind;
    None
}
