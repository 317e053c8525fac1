//! The `thp` statement applied to the model's configuration.

use foliolab_model::{ShmemMode, ThpConfig, ThpMode};
use foliolab_scenario::{ThpKey, ThpSetting};

/// Applies validated `thp` settings (values already checked by the scenario validator).
pub fn apply(config: &mut ThpConfig, settings: &[ThpSetting]) {
    for s in settings {
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
}
