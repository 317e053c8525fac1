//! What the kernel runner cannot perform (exit 3 before anything runs).

use super::knobs::thp_knob;
use crate::host::{self, THP_DIR};
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
    match &stmt.kind {
        StmtKind::Thp { settings } => settings
            .iter()
            .map(|s| thp_knob(s.key))
            .filter(|k| !Path::new(THP_DIR).join(k).exists())
            .map(|k| format!("THP knob {k} does not exist on this kernel"))
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
