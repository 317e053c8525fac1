//! Linux 6.18, this machine's kernel: the era every other one is measured against.

use super::*;

impl Era {
    /// Linux 6.18, this machine's kernel (THP, MM_ID, PAGE_MAPCOUNT).
    pub const LINUX_6_18: Era = Era {
        generation: Generation::V6_18,
        design: "linux-6.18",
        anon_large: AnonLarge::PerSize,
        cow_reuse: CowReuse::SmallAndLarge,
        bit56_pmd: Bit56Pmd::HeadPage,
        madvise_large: MadviseLarge::SkipSharedSplitPartial,
        deferred_split: DeferredSplit {
            any_large_anon: true,
            underused: true,
        },
        swapin: SwapinOrder::Large,
        swapin_cache: SwapinCache::Small,
        khugepaged: Khugepaged::PmdWithLimits,
        thp_stats: ThpStats::Linux618,
        fault_around: FaultAround::WholeFolio,
        shmem_per_size: true,
        pte_batching: true,
        lazyfree_batching: true,
        migrate_requeue: true,
        advice: AdviceSupport::ALL,
        huge_zero_wp: HugeZeroWp::NewThp,
        tail_kpageflags: TailFlags::Folio,
        swapin_writable_on_read: true,
        anon_exclusive: true,
        smaps_pss_dirty: true,
        split_reclaim_order: SplitReclaimOrder::LastFirst,
        collapse_batching: true,
        collapse_needs_writable: false,
        kpageflags_ksm_anon: false,
    };
}
