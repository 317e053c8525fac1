//! The `thp` statement applied to the model's configuration.

use foliolab_model::era::AnonLarge;
use foliolab_model::{Era, ShmemMode, ThpConfig, ThpMode};
use foliolab_scenario::{ThpKey, ThpSetting};

/// Applies validated `thp` settings (values already checked by the scenario validator). In
/// an era without per-size knobs, a PMD-size setting other than `inherit` sets the top-level
/// knob instead (the probe folds it the same way), after the statement's other settings.
pub fn apply(config: &mut ThpConfig, settings: &[ThpSetting], era: &Era) {
    for s in settings {
        apply_one(config, s);
    }
    for s in settings.iter().filter(|s| s.value != "inherit") {
        match s.key {
            ThpKey::Size(9) if era.anon_large == AnonLarge::PmdOnly => {
                config.enabled = ThpMode::parse(&s.value).unwrap_or(config.enabled)
            }
            ThpKey::ShmemSize(9) if !era.shmem_per_size => {
                config.shmem = ShmemMode::parse(&s.value).unwrap_or(config.shmem)
            }
            _ => {}
        }
    }
}

fn apply_one(config: &mut ThpConfig, s: &ThpSetting) {
    let v = s.value.as_str();
    match s.key {
        ThpKey::Enabled => config.enabled = ThpMode::parse(v).unwrap_or(config.enabled),
        ThpKey::Size(order) => {
            if let Some(m) = ThpMode::parse(v) {
                config.per_size[order as usize] = m;
            }
        }
        ThpKey::ZeroPage => config.use_zero_page = v == "on",
        ThpKey::ShrinkUnderused => config.shrink_underused = v == "on",
        ThpKey::MaxPtesNone => config.max_ptes_none = v.parse().unwrap_or(config.max_ptes_none),
        ThpKey::MaxPtesSwap => config.max_ptes_swap = v.parse().unwrap_or(config.max_ptes_swap),
        ThpKey::MaxPtesShared => {
            config.max_ptes_shared = v.parse().unwrap_or(config.max_ptes_shared)
        }
        ThpKey::Shmem => config.shmem = ShmemMode::parse(v).unwrap_or(config.shmem),
        ThpKey::ShmemSize(order) => {
            if let Some(m) = ShmemMode::parse(v) {
                config.shmem_per_size[order as usize] = m;
            }
        }
        ThpKey::Defrag => {}
    }
}
