//! Linux 5.10 (Debian bullseye's kernel): the 6.1 generation's THP and accounting
//! (`linux-6.1`: per-page `_mapcount`, `compound_mapcount`, PageDoubleMap) without
//! PageAnonExclusive: COW reuses a page only by `page_count(page) == 1` (`do_wp_page` after
//! 09854ba94c6a, 5.9), never while the swap cache holds it, but a write fault on a swap
//! entry reuses the swap cache's page when `reuse_swap_page` counts one mapping or swap
//! reference, whatever else holds it (a pipe: the leak through swap); smaps has no
//! `Pss_Dirty`.
//! Measured on 5.10.262 in a VM (docs/kernel-measurements/5.10).

use super::*;

impl Era {
    /// Linux 5.10.
    pub const LINUX_5_10: Era = Era {
        generation: Generation::V5_10,
        design: "linux-6.1",
        anon_exclusive: false,
        smaps_pss_dirty: false,
        // MADV_POPULATE_* arrived in 5.14, MADV_COLLAPSE in 6.1.
        advice: AdviceSupport {
            populate: false,
            collapse: false,
        },
        ..Era::LINUX_6_1
    };
}
