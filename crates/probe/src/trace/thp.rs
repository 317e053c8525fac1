//! The host's THP settings while recording, as a `thp` statement's settings (only those
//! that differ from the scenario defaults, which are this machine's boot values).

use crate::host::THP_DIR;
use crate::runner::run_knobs;
use foliolab_scenario::{ThpKey, ThpSetting};

fn key_and_knob() -> Vec<(ThpKey, String)> {
    let mut v = vec![
        (ThpKey::Enabled, "enabled".to_string()),
        (ThpKey::Defrag, "defrag".into()),
        (ThpKey::ZeroPage, "use_zero_page".into()),
        (ThpKey::ShrinkUnderused, "shrink_underused".into()),
        (ThpKey::MaxPtesNone, "khugepaged/max_ptes_none".into()),
        (ThpKey::MaxPtesSwap, "khugepaged/max_ptes_swap".into()),
        (ThpKey::MaxPtesShared, "khugepaged/max_ptes_shared".into()),
        (ThpKey::Shmem, "shmem_enabled".into()),
    ];
    for o in 2..=9u8 {
        v.push((
            ThpKey::Size(o),
            format!("hugepages-{}kB/enabled", 4u64 << o),
        ));
        v.push((
            ThpKey::ShmemSize(o),
            format!("hugepages-{}kB/shmem_enabled", 4u64 << o),
        ));
    }
    v
}

/// Settings of the host that differ from the defaults.
pub fn host_thp_settings() -> Vec<ThpSetting> {
    let defaults = run_knobs(&[]);
    let mut out = Vec::new();
    for (key, knob) in key_and_knob() {
        let Ok(now) = crate::sys::read_knob(format!("{THP_DIR}/{knob}")) else {
            continue;
        };
        let default = defaults
            .iter()
            .find(|(k, _)| *k == knob)
            .map(|(_, v)| v.as_str());
        if default == Some(now.as_str()) {
            continue;
        }
        let value = match (key, now.as_str()) {
            (ThpKey::ZeroPage | ThpKey::ShrinkUnderused, "1") => "on".to_string(),
            (ThpKey::ZeroPage | ThpKey::ShrinkUnderused, "0") => "off".to_string(),
            _ => now,
        };
        out.push(ThpSetting { key, value });
    }
    out
}
