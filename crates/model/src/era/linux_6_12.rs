//! Linux 6.12 (Debian trixie's kernel): `_large_mapcount` + `_nr_pages_mapped` + per-page
//! `_mapcount` (the `linux-6.14` design: 6.11's large mapcount, `folio_likely_mapped_shared`
//! by the first page's mapcount, no MM_ID), mTHP with per-size anon and shmem knobs, large
//! swap-in from zram. Measured on 6.12.118 in a VM (docs/kernel-measurements/6.12).

use super::*;

impl Era {
    /// Linux 6.12: 6.18's operations but for the fields named here.
    pub const LINUX_6_12: Era = Era {
        generation: Generation::V6_12,
        design: "linux-6.14",
        // No `__wp_can_reuse_large_anon_folio` before 6.15: a large folio that is not
        // AnonExclusive is copied on write, page by page.
        cow_reuse: CowReuse::SmallOnly,
        // `pagemap_pmd_range` tests `page_mapcount(page + idx)` before 6.15.
        bit56_pmd: Bit56Pmd::EachPage,
        thp_stats: ThpStats::Linux612,
        fault_around: FaultAround::Window,
        // Reclaim unmaps lazyfree folios PTE by PTE before 6.16.
        lazyfree_batching: false,
        // Measured: the zero PMD is split and one page copied (as on 5.10 and 6.1).
        huge_zero_wp: HugeZeroWp::SplitPmd,
        // Pre-6.18 code (`__split_huge_page`, `SCAN_PAGE_RO`, per-page collapse removal).
        split_reclaim_order: SplitReclaimOrder::InOrder,
        collapse_batching: false,
        collapse_needs_writable: true,
        kpageflags_ksm_anon: true,
        ..Era::LINUX_6_18
    };
}
