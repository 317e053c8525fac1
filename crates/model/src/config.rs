//! The THP policy of a run (the sysfs knobs of spec 3.1), with this machine's boot values as
//! defaults.

use foliolab_types::{Order, PMD_ORDER};

/// A THP `enabled` setting (global or per size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpMode {
    Always,
    Madvise,
    Never,
    /// Per-size only: follow the global setting.
    Inherit,
}

impl ThpMode {
    pub fn parse(s: &str) -> Option<ThpMode> {
        Some(match s {
            "always" => ThpMode::Always,
            "madvise" => ThpMode::Madvise,
            "never" => ThpMode::Never,
            "inherit" => ThpMode::Inherit,
            _ => return None,
        })
    }
}

/// A shmem THP setting (`shmem_enabled`, global or per size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmemMode {
    Always,
    WithinSize,
    Advise,
    Never,
    /// Per-size only: follow the top-level setting.
    Inherit,
}

impl ShmemMode {
    pub fn parse(s: &str) -> Option<ShmemMode> {
        Some(match s {
            "always" => ShmemMode::Always,
            "within_size" => ShmemMode::WithinSize,
            "advise" => ShmemMode::Advise,
            "never" => ShmemMode::Never,
            "inherit" => ShmemMode::Inherit,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThpConfig {
    pub enabled: ThpMode,
    /// Per-size anon setting, index = order (2..=9 used).
    pub per_size: [ThpMode; 10],
    pub use_zero_page: bool,
    pub shrink_underused: bool,
    pub max_ptes_none: u32,
    pub max_ptes_swap: u32,
    pub max_ptes_shared: u32,
    /// `shmem_enabled` (tmpfs, memfd and shared anonymous memory).
    pub shmem: ShmemMode,
    /// Per-size `shmem_enabled`, index = order (2..=9 used; shared anonymous memory only).
    pub shmem_per_size: [ShmemMode; 10],
}

impl Default for ThpConfig {
    fn default() -> ThpConfig {
        let mut per_size = [ThpMode::Never; 10];
        per_size[PMD_ORDER.0 as usize] = ThpMode::Inherit;
        let mut shmem_per_size = [ShmemMode::Never; 10];
        shmem_per_size[PMD_ORDER.0 as usize] = ShmemMode::Inherit;
        ThpConfig {
            enabled: ThpMode::Madvise,
            per_size,
            use_zero_page: true,
            shrink_underused: true,
            max_ptes_none: 511,
            max_ptes_swap: 64,
            max_ptes_shared: 256,
            shmem: ShmemMode::Never,
            shmem_per_size,
        }
    }
}

impl ThpConfig {
    /// Orders a fault may use in a VMA (`thp_vma_allowable_orders` at fault time): `always`
    /// sizes, `madvise` sizes under MADV_HUGEPAGE, `inherit` sizes when the global setting
    /// allows. None at all under MADV_NOHUGEPAGE.
    pub fn allowable_orders(&self, vm_hugepage: bool, vm_nohugepage: bool) -> Vec<Order> {
        if vm_nohugepage {
            return Vec::new();
        }
        let global = match self.enabled {
            ThpMode::Always => true,
            ThpMode::Madvise => vm_hugepage,
            _ => false,
        };
        (2..=PMD_ORDER.0)
            .filter(|&o| match self.per_size[o as usize] {
                ThpMode::Always => true,
                ThpMode::Madvise => vm_hugepage,
                ThpMode::Inherit => global,
                ThpMode::Never => false,
            })
            .map(Order)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_defaults_allow_pmd_only_under_madvise() {
        let c = ThpConfig::default();
        assert_eq!(c.allowable_orders(true, false), vec![PMD_ORDER]);
        assert!(c.allowable_orders(false, false).is_empty());
        assert!(c.allowable_orders(true, true).is_empty());
    }

    #[test]
    fn per_size_always_wins_over_global_never() {
        let mut c = ThpConfig {
            enabled: ThpMode::Never,
            ..ThpConfig::default()
        };
        c.per_size[4] = ThpMode::Always;
        assert_eq!(c.allowable_orders(false, false), vec![Order(4)]);
    }
}
