//! What the model runner can perform: everything else is `unsupported` before the run starts.
//! Every statement of format version 1 is modelled, file, shmem and driver mappings included;
//! what an era's kernel did not have yet (per-size knobs, newer advice) is unsupported in that
//! era, with the reason the probe gives for the same kernel (`foliolab_probe::compat`).

use foliolab_model::era::AnonLarge;
use foliolab_model::Era;
use foliolab_scenario::{Advice, Item, ProcOp, Scenario, StmtKind, ThpKey, ThpSetting};

/// Texts for every statement the model cannot perform in `era` (spec 4: exit 3).
pub fn unsupported(s: &Scenario, era: &Era) -> Vec<String> {
    let mut out = Vec::new();
    for item in &s.items {
        let Item::Stmt(stmt) = item else { continue };
        for what in unsupported_stmt(&stmt.kind, era) {
            out.push(format!("line {}: {what}", stmt.pos.line));
        }
    }
    out
}

fn unsupported_stmt(kind: &StmtKind, era: &Era) -> Vec<String> {
    match kind {
        StmtKind::Thp { settings } => settings
            .iter()
            .filter_map(|s| thp_setting(s, era))
            .collect(),
        StmtKind::Proc {
            op: ProcOp::Advise { advice, .. },
            ..
        } => advice_since(*advice, era)
            .map(|since| {
                format!(
                    "advise {} needs Linux {since} (the {} era does not have it)",
                    advice.name(),
                    era.generation.name()
                )
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// The release an advice arrived in, when `era` lacks it.
fn advice_since(a: Advice, era: &Era) -> Option<&'static str> {
    match a {
        Advice::PopulateRead | Advice::PopulateWrite if !era.advice.populate => Some("5.14"),
        Advice::Collapse if !era.advice.collapse => Some("6.1"),
        _ => None,
    }
}

/// Why a `thp` setting has no knob in `era`: a per-size size other than the PMD size set to
/// anything but `never` before the per-size knobs (anon 6.8, shmem 6.12; the PMD size is
/// folded into the top-level knob, as the probe does), `shrink_underused` before 6.12.
fn thp_setting(s: &ThpSetting, era: &Era) -> Option<String> {
    let (order, knob, since) = match s.key {
        ThpKey::Size(o) if era.anon_large == AnonLarge::PmdOnly => (o, "enabled", "6.8"),
        ThpKey::ShmemSize(o) if !era.shmem_per_size => (o, "shmem_enabled", "6.12"),
        ThpKey::ShrinkUnderused if !era.deferred_split.underused => {
            return Some(format!(
                "THP knob shrink_underused does not exist in the {} era (6.12)",
                era.generation.name()
            ))
        }
        _ => return None,
    };
    if order == 9 || s.value == "never" {
        return None;
    }
    Some(format!(
        "THP knob hugepages-{}kB/{knob} does not exist in the {} era (per-size knobs arrived in {since}; only the PMD size can be set there)",
        4u64 << order,
        era.generation.name()
    ))
}
