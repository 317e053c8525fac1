//! What the model runner can perform: everything else is `unsupported` before the run starts.

use foliolab_scenario::{Item, MapKind, ProcOp, Scenario, StmtKind};

/// Texts for every statement the model cannot perform yet (spec 4: exit 3).
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
    match kind {
        StmtKind::File { .. } => Some("file".into()),
        StmtKind::Proc { op, .. } => unsupported_op(op),
        _ => None,
    }
}

fn unsupported_op(op: &ProcOp) -> Option<String> {
    match op {
        ProcOp::Map { kind, .. } if *kind != MapKind::Anon => {
            Some(format!("map of kind {}", kind_name(kind)))
        }
        _ => None,
    }
}

fn kind_name(k: &MapKind) -> &'static str {
    match k {
        MapKind::Anon => "anon",
        MapKind::Shmem => "shmem",
        MapKind::File { .. } => "file",
        MapKind::DriverMixedmap => "driver mixedmap",
        MapKind::DriverPfnmap => "driver pfnmap",
    }
}
