//! What the kernel runner cannot perform (exit 3 before anything runs).

use super::knobs::thp_knob;
use crate::host;
use foliolab_scenario::{Item, MapKind, ProcOp, Scenario, Stmt, StmtKind};
use std::path::Path;

/// `line N: <what>` for every statement of `scenario` the kernel runner cannot perform.
pub(super) fn unsupported(scenario: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for it in &scenario.items {
        if let Item::Stmt(s) = it {
            for why in statement(s) {
                out.push(format!("line {}: {why}", s.pos.line));
            }
        }
    }
    out
}

fn statement(stmt: &Stmt) -> Vec<String> {
    // What an older kernel lacks comes first, with its own line prefix.
    let mut out: Vec<String> = crate::compat::statement_unsupported(stmt)
        .into_iter()
        .map(|m| without_line(&m))
        .collect();
    out.extend(kind_unsupported(stmt));
    out
}

/// `line N: what` as `what` (the caller prefixes the line).
fn without_line(m: &str) -> String {
    m.split_once(": ")
        .filter(|(l, _)| l.starts_with("line "))
        .map_or(m.to_string(), |(_, w)| w.to_string())
}

fn kind_unsupported(stmt: &Stmt) -> Vec<String> {
    match &stmt.kind {
        StmtKind::Thp { settings } => settings
            .iter()
            .filter_map(|s| crate::compat::thp_setting_unsupported(s, &thp_knob(s.key)))
            .collect(),
        StmtKind::Swap { .. } if !Path::new(host::ZRAM_DEV).exists() => {
            vec!["swap needs /dev/zram0".into()]
        }
        StmtKind::Proc { op, .. } => process_op(op).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn process_op(op: &ProcOp) -> Option<String> {
    match op {
        ProcOp::Migrate { .. } => Some("migrate (model-only)".into()),
        ProcOp::Map {
            kind: MapKind::DriverMixedmap,
            ..
        } => Some("driver mixedmap (model-only)".into()),
        ProcOp::Map {
            kind: MapKind::DriverPfnmap,
            ..
        } => Some("driver pfnmap (model-only)".into()),
        ProcOp::Pin {
            write,
            longterm,
            fast,
            ..
        } if !*write || !*longterm || *fast => Some(format!(
            "pin {}{}{} (model-only; the kernel runner pins rw longterm through io_uring)",
            if *write { "rw" } else { "ro" },
            if *longterm { " longterm" } else { " short" },
            if *fast { " fast" } else { "" }
        )),
        _ => None,
    }
}
