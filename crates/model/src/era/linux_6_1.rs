//! Linux 6.1 (Debian bookworm's kernel): PMD-sized THP only, the `linux-6.1` design
//! (per-page `_mapcount`, `compound_mapcount`, PageDoubleMap), PageAnonExclusive (5.19) for
//! COW, no large folio reuse, no partially-mapped flag. Measured on 6.1.192 in a VM
//! (docs/kernel-measurements/6.1).

use super::*;

impl Era {
    /// Linux 6.1.
    pub const LINUX_6_1: Era = Era {
        generation: Generation::V6_1,
        design: "linux-6.1",
        // Per-size knobs arrived in 6.8.
        anon_large: AnonLarge::PmdOnly,
        // `do_wp_page` reuses an AnonExclusive page, or a small folio with the sole
        // reference; a page of a PTE-mapped THP that is not AnonExclusive is copied.
        cow_reuse: CowReuse::SmallOnly,
        bit56_pmd: Bit56Pmd::EachPage,
        madvise_large: MadviseLarge::SplitEveryPteMapped,
        // Only PMD-mappable folios exist; no underused shrinker (6.12).
        deferred_split: DeferredSplit {
            any_large_anon: false,
            underused: false,
        },
        swapin: SwapinOrder::Small,
        swapin_cache: SwapinCache::Small,
        khugepaged: Khugepaged::PmdPageMapcount,
        thp_stats: ThpStats::PmdOnly,
        fault_around: FaultAround::Window,
        shmem_per_size: false,
        pte_batching: false,
        lazyfree_batching: false,
        migrate_requeue: false,
        huge_zero_wp: HugeZeroWp::SplitPmd,
        tail_kpageflags: TailFlags::OwnPage,
        swapin_writable_on_read: false,
        anon_exclusive: true,
        advice: AdviceSupport::ALL,
        smaps_pss_dirty: true,
        // Pre-6.18 code (`__split_huge_page`, `SCAN_PAGE_RO`, per-page collapse removal).
        split_reclaim_order: SplitReclaimOrder::InOrder,
        collapse_batching: false,
        collapse_needs_writable: true,
        kpageflags_ksm_anon: false,
    };
}
