//! Linux 6.1 (Debian bookworm's kernel): PMD-sized THP only, the `linux-6.1` design
//! (per-page `_mapcount`, `compound_mapcount`, PageDoubleMap), PageAnonExclusive (5.19) for
//! COW, no large folio reuse, no partially-mapped flag. Measured on 6.1.192 in a VM
//! (docs/kernel-measurements/6.1).

use super::*;

impl Era {
    /// Linux 6.1: 6.12's operations but for the fields named here.
    pub const LINUX_6_1: Era = Era {
        generation: Generation::V6_1,
        design: "linux-6.1",
        // Per-size knobs arrived in 6.8.
        anon_large: AnonLarge::PmdOnly,
        madvise_large: MadviseLarge::SplitEveryPteMapped,
        // Only PMD-mappable folios exist; no underused shrinker (6.12).
        deferred_split: DeferredSplit {
            any_large_anon: false,
            underused: false,
        },
        swapin: SwapinOrder::Small,
        khugepaged: Khugepaged::PmdPageMapcount,
        thp_stats: ThpStats::PmdOnly,
        shmem_per_size: false,
        pte_batching: false,
        migrate_requeue: false,
        tail_kpageflags: TailFlags::OwnPage,
        swapin_writable_on_read: false,
        kpageflags_ksm_anon: false,
        ..Era::LINUX_6_12
    };
}
