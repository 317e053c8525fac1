//! Kernel generations differ in operations, not only in counting. An [`Era`] is one
//! generation's answers at the model's named decision points: the model asks the era (never a
//! version number) wherever a generation could decide differently, and the accounting itself
//! is the design's (the scheme the era names). Each generation's constant lives in its own
//! file (`era/linux_6_12.rs`, ...): 6.18's names every field, every other one is its
//! neighbour toward 6.18 with the fields that differ named (7.2 and 6.12 from 6.18, 6.1 from
//! 6.12, 5.10 from 6.1). [`Era::of`] finds it and [`Generation::for_version`]
//! maps a kernel release to the generation that models it. `foliolab run --kernel K` and
//! `check --kernel K` select the era; what the era's kernel lacked is unsupported
//! (`foliolab_sim`'s support check), as the probe says of the kernel itself.
//!
//! | point | field | asked in | 6.18 |
//! |---|---|---|---|
//! | mTHP availability and order choice | [`Era::anon_large`] | `fault.rs` (anon faults), `swapin.rs`, `collapse.rs` | per-size knobs; largest suitable order whose PTEs are all none |
//! | COW reuse policy | [`Era::cow_reuse`] | `rmap.rs` (write fault and unshare) | small: sole reference; large: asked of the design |
//! | pagemap bit 56 of a PMD mapping | [`Era::bit56_pmd`] | `observe.rs` | the head page's mapcount for every index |
//! | madvise cold/pageout/free on large folios | [`Era::madvise_large`] | `madvise.rs` | skip maybe-shared folios, split partially covered ones |
//! | deferred split rules | [`Era::deferred_split`] | `model.rs`, `fault.rs`, `collapse.rs` | any large anon folio of order >= 2; underused PMD THPs queued |
//! | swap-in order | [`Era::swapin`] | `swapin.rs` | large when the aligned range swaps in whole |
//! | swap-cache reads of shared entries | [`Era::swapin_cache`] | `swapin.rs` | order 0, one page mapped (7.x: large, mapped whole) |
//! | khugepaged rules | [`Era::khugepaged`] | `collapse.rs` | PMD collapse; `max_ptes_none/swap/shared`, a PTE shared when its folio may be |
//! | which THP statistics exist | [`Era::thp_stats`] | `stats.rs` | every counter of spec 3.6 |
//! | fault-around of large file folios | [`Era::fault_around`] | `file.rs` | an entire folio inside the VMA and one page table |
//! | per-size shmem knobs | [`Era::shmem_per_size`] | `file.rs` | apply to memfd and shared anonymous memory |
//! | PTE batching of fork and zap | [`Era::pte_batching`] | `batch.rs` callers | batched (`folio_pte_batch`) |
//! | lazyfree unmap batching in reclaim | [`Era::lazyfree_batching`] | `madvise.rs` | per page table and VMA |
//! | migration requeues a partially mapped folio | [`Era::migrate_requeue`] | `migrate.rs` | yes (March 2026 stable fix) |
//! | which madvise advice exist | [`Era::advice`] | `foliolab_sim`'s support check | all |
//! | write fault on the huge zero PMD | [`Era::huge_zero_wp`] | `wp.rs` | a new THP replaces it |
//! | kpageflags of a tail page | [`Era::tail_kpageflags`] | `observe.rs` | the folio's flags |
//! | swap-in maps an exclusive page writable on a read fault | [`Era::swapin_writable_on_read`] | `swapin.rs` | yes |
//! | PageAnonExclusive exists | [`Era::anon_exclusive`] | `rmap.rs` (COW), `swapin.rs`, `observe.rs` | yes (5.19+) |
//! | smaps has `Pss_Dirty` | [`Era::smaps_pss_dirty`] | `observe.rs` | yes (6.0+) |
//! | the order reclaim meets a split folio's pieces | [`Era::split_reclaim_order`] | `swap.rs` | head, then last page first |
//! | collapse removes old mappings in batches | [`Era::collapse_batching`] | `collapse.rs` | one rmap call per folio run |
//! | collapse needs a writable PTE | [`Era::collapse_needs_writable`] | `collapse.rs` | no |
//! | kpageflags KSM on anon pages (6.12 bug) | [`Era::kpageflags_ksm_anon`] | `observe.rs` | no |

use crate::config::{ThpConfig, ThpMode};
use foliolab_types::{Order, PMD_ORDER};

// One file per generation, each an `impl Era` block with its constant.
mod linux_5_10;
mod linux_6_1;
mod linux_6_12;
mod linux_6_18;
mod linux_7_2;

/// A kernel generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Generation {
    V5_10,
    V6_1,
    V6_12,
    V6_18,
    V7_2,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 5] = [
        Generation::V5_10,
        Generation::V6_1,
        Generation::V6_12,
        Generation::V6_18,
        Generation::V7_2,
    ];

    /// `(major, minor)` of the generation's first release.
    pub fn version(self) -> (u32, u32) {
        match self {
            Generation::V5_10 => (5, 10),
            Generation::V6_1 => (6, 1),
            Generation::V6_12 => (6, 12),
            Generation::V6_18 => (6, 18),
            Generation::V7_2 => (7, 2),
        }
    }

    /// The generation named exactly (`6.12`).
    pub fn parse(name: &str) -> Option<Generation> {
        Generation::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The generation modelling Linux `major.minor`: the newest one at or below it (6.6 is
    /// modelled by 6.1, 6.19 by 6.18); `None` below 5.10.
    pub fn for_version(major: u32, minor: u32) -> Option<Generation> {
        Generation::ALL
            .into_iter()
            .rev()
            .find(|g| g.version() <= (major, minor))
    }

    /// `6.18`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Generation::V5_10 => "5.10",
            Generation::V6_1 => "6.1",
            Generation::V6_12 => "6.12",
            Generation::V6_18 => "6.18",
            Generation::V7_2 => "7.2",
        }
    }
}

/// Large anonymous folios: which orders exist and which one a fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnonLarge {
    /// Before 6.8: PMD-sized THP only, under the top-level `enabled` knob (a scenario's
    /// `2M=` maps to it); smaller orders do not exist.
    PmdOnly,
    /// 6.8+: the per-size knobs (`hugepages-*kB/enabled`); a fault takes the largest
    /// enabled, suitable order whose PTE range is all none and falls back order by order.
    PerSize,
}

/// The COW reuse policy of a write fault or FAULT_FLAG_UNSHARE on a page that is not
/// AnonExclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CowReuse {
    /// Before 6.15: small folios by the sole-reference rule (5.8+); a large folio is never
    /// reused (every write to a shared page of a PTE-mapped THP copies).
    SmallOnly,
    /// 6.15+: large folios too, when the design says the faulting MM holds every mapping
    /// and reference (`__wp_can_reuse_large_anon_folio`).
    SmallAndLarge,
}

/// pagemap bit 56 (`PM_MMAP_EXCLUSIVE`) for the pages of a PMD mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bit56Pmd {
    /// 6.14 and earlier: each page's own mapcount (`page + idx`).
    EachPage,
    /// 6.15+: the head page's mapcount for every index.
    HeadPage,
}

/// MADV_COLD, MADV_PAGEOUT and MADV_FREE on large anon folios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadviseLarge {
    /// 6.9+: a folio the design may call shared is skipped; an exclusive folio the range
    /// covers only in part is split, one covered whole is handled as one batch.
    SkipSharedSplitPartial,
    /// 5.10 and 6.1 (`madvise_cold_or_pageout_pte_range` before "avoid split during
    /// MADV_PAGEOUT and MADV_COLD", 6.9; `madvise_free_pte_range` before "mm/madvise: optimize
    /// lazyfreeing with mTHP in madvise_free", 6.10): MADV_COLD, MADV_PAGEOUT and MADV_FREE stop at a
    /// PTE-mapped THP whose met page has `page_mapcount != 1`, else split it, covered whole
    /// or not (measured on 6.1: `thp_split_page` 1, `thp_swpout` 0 for a PTE-mapped 2M THP
    /// paged out; `thp_split_page` 1 for one freed, tests/eras/6.1/free-pte-mapped-split-2m).
    /// A PMD-mapped THP is skipped by MADV_FREE when `total_mapcount(page) != 1`
    /// (`madvise_free_huge_pmd`), by the others when the head page's mapcount is not 1.
    SplitEveryPteMapped,
}

/// Which folios go on the deferred split queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredSplit {
    /// 6.8+: any anon folio of order >= 2; before, PMD-mappable folios only.
    pub any_large_anon: bool,
    /// 6.12+: a newly PMD-mapped THP is queued as an underused candidate
    /// (`shrink_underused`), and the shrinker splits mostly-zero ones.
    pub underused: bool,
}

/// The order of a folio swapped in past the swap cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapinOrder {
    /// Before large swap-in: order 0 always.
    Small,
    /// 6.12+ (`alloc_swap_folio`): the largest enabled order whose aligned range is all swap
    /// entries with contiguous slots, one zeromap state and no cached slot.
    Large,
}

/// The swap-cache path of swap-in (an entry whose swap count is above 1, or a slot already
/// in the swap cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapinCache {
    /// Up to 6.18: a shared entry is read into an order-0 folio in the swap cache, and a
    /// fault maps the one page it hit.
    Small,
    /// 7.x (swap-in always through the swap table): a shared entry is read into a folio of
    /// the order `alloc_swap_folio` would choose for an exclusive one, and a hit on a large
    /// folio maps it whole when every PTE of its range holds the matching entry; every
    /// swap-in from the synchronous device tries to free the swap cache (it leaves once no
    /// entry uses its slots), where 6.18 tries on a likely-exclusive write fault only.
    Large,
}

/// khugepaged and MADV_COLLAPSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Khugepaged {
    /// PMD collapse only; khugepaged honours `max_ptes_none`, `max_ptes_swap` and
    /// `max_ptes_shared` and needs a referenced page, MADV_COLLAPSE ignores them (the
    /// `cc->is_khugepaged` tests, since MADV_COLLAPSE came in 6.1). A PTE counts as shared
    /// when the design may call its folio mapped shared (`folio_likely_mapped_shared` in
    /// 6.12, `folio_maybe_mapped_shared` in 6.18): every PTE of a PTE-mapped THP whose
    /// first page is shared counts. (mTHP collapse came after 6.18; to be measured with 7.2.)
    PmdWithLimits,
    /// 5.10 and 6.1: as [`Khugepaged::PmdWithLimits`], but a PTE counts as shared by its own
    /// page's mapcount (`page_mapcount(page) > 1` in `hpage_collapse_scan_pmd` and
    /// `__collapse_huge_page_isolate`, before their folio conversion of 2023): a THP shared
    /// after fork in its lower half only counts 256 shared PTEs, within the default
    /// `max_ptes_shared`. Measured on 6.1: MADV_COLLAPSE of such a range succeeds
    /// (tests/cow collapse-after-fork-lower-shared); khugepaged collapses a PTE-mapped THP
    /// whose lower quarter is shared (tests/eras/6.1/khugepaged-shared-per-page-2m).
    PmdPageMapcount,
}

/// Which THP statistics a generation has (spec 3.6 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpStats {
    /// 6.18: every counter of spec 3.6. (5.10 has 21 `thp_*` vmstat names, 6.1 24, 6.12
    /// 25; per-size statistics appear with mTHP.)
    Linux618,
    /// Before mTHP (5.10, 6.1): no per-size statistics (`SIZE.*`, 6.9+) and no
    /// `thp_underused_split_page` (6.12). The `thp_*` names spec 3.6 lists are all in 5.10
    /// (its 21 against 6.1's 24 differ by `thp_scan_exceed_{none,swap,share}_pte`, 5.8, which
    /// spec 3.6 does not name).
    PmdOnly,
    /// 6.12 (measured): 6.18's names but the per-size `swpin` and `swpin_fallback` (6.13).
    Linux612,
}

impl ThpStats {
    /// Whether the counter `name` (`64K.split`, `thp_split_pmd`, ...) exists.
    pub fn exists(self, name: &str) -> bool {
        match self {
            ThpStats::Linux618 => !name.is_empty(),
            ThpStats::PmdOnly => !name.contains('.') && name != "thp_underused_split_page",
            ThpStats::Linux612 => {
                !name.is_empty() && !name.ends_with(".swpin") && !name.ends_with(".swpin_fallback")
            }
        }
    }
}

/// A write fault (or FAULT_FLAG_UNSHARE) on the huge zero PMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugeZeroWp {
    /// 5.10 to 6.12 (measured on 5.10, 6.1 and 6.12): `do_huge_pmd_wp_page` falls back: the
    /// zero PMD is split into PTEs of the 4K zero page and the fault copies one page; each
    /// later write to another page faults again.
    SplitPmd,
    /// 6.18: `do_huge_zero_wp_pmd` maps a new THP (split and retry only when allocation
    /// fails).
    NewThp,
}

/// Which flags `/proc/kpageflags` reports for a tail page of a large folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailFlags {
    /// 5.10 and 6.1 (measured): `stable_page_flags` reads the tail page's own `flags`, so
    /// only what is computed from the folio shows (ANON, MMAP, COMPOUND_TAIL, THP), plus
    /// the tail's own PG_anon_exclusive as MAPPEDTODISK (6.1).
    OwnPage,
    /// 6.12+ (measured): the folio's flags, as on the head page.
    Folio,
}

/// The order in which reclaim meets the order-0 pieces of a large folio it split to swap it
/// out page by page (a swap device without a free run of slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitReclaimOrder {
    /// Up to 6.12 (measured): `__split_huge_page` adds the tails to reclaim's folio list from
    /// the last page down and reclaim takes folios from the list's end, so after the head it
    /// meets pages 1, 2, 3, ... in order.
    InOrder,
    /// 6.18 (measured): the tails are added first to last, so after the head reclaim meets
    /// them from the last page down.
    LastFirst,
}

/// Fault-around (`filemap_map_pages`) of a cached large folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAround {
    /// Before 6.18: only the pages inside the 64K window.
    Window,
    /// 6.18: the entire folio when it lies inside the VMA, one page table and the file.
    WholeFolio,
}

/// madvise advice a generation has (spec 3.3 names); what it lacks is `unsupported`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdviceSupport {
    /// MADV_POPULATE_READ/WRITE (5.14).
    pub populate: bool,
    /// MADV_COLLAPSE (6.1).
    pub collapse: bool,
}

impl AdviceSupport {
    /// Every advice the scenario language has.
    pub const ALL: AdviceSupport = AdviceSupport {
        populate: true,
        collapse: true,
    };
}

/// One kernel generation's policies at every decision point. A new decision point is a new
/// field with its doc (what each generation does), set in 6.18's constant
/// (`era/linux_6_18.rs`) and named in every other generation's constant (`era/linux_*.rs`)
/// whose answer differs from its neighbour's toward 6.18, asked where the model decides, and
/// listed in the table above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Era {
    pub generation: Generation,
    /// The accounting design of this generation (a registry name).
    pub design: &'static str,
    pub anon_large: AnonLarge,
    pub cow_reuse: CowReuse,
    pub bit56_pmd: Bit56Pmd,
    pub madvise_large: MadviseLarge,
    pub deferred_split: DeferredSplit,
    pub swapin: SwapinOrder,
    /// The order of a swap-cache read of a shared entry, and how much a hit maps.
    pub swapin_cache: SwapinCache,
    pub khugepaged: Khugepaged,
    pub thp_stats: ThpStats,
    pub fault_around: FaultAround,
    /// 6.11+: the per-size `shmem.SIZE` knobs apply to anonymous shmem and memfd mappings;
    /// before, only the top-level knob (PMD-sized folios).
    pub shmem_per_size: bool,
    /// 6.9+: fork and zap handle runs of PTEs mapping one folio as one batch (one rmap call);
    /// before, one call per page.
    pub pte_batching: bool,
    /// 6.16+: reclaim unmaps a lazyfree folio one batch of PTEs (one page table, one VMA)
    /// at a time; before, one PTE at a time.
    pub lazyfree_batching: bool,
    /// March 2026 stable fix: migration requeues the new folio on the deferred split queue
    /// with the old one's "partially mapped" flag.
    pub migrate_requeue: bool,
    /// The madvise advice that exist (MADV_POPULATE_* 5.14, MADV_COLLAPSE 6.1).
    pub advice: AdviceSupport,
    pub huge_zero_wp: HugeZeroWp,
    pub tail_kpageflags: TailFlags,
    /// `do_swap_page` maps a page it knows exclusive writable on a read fault too (6.12,
    /// measured); 5.10 and 6.1 make it writable only on a write fault, so the next write
    /// faults again (and reuses it).
    pub swapin_writable_on_read: bool,
    /// PageAnonExclusive (5.19; 6.1 has it). Without it (5.10) a write fault reuses an anon
    /// page only by `page_count(page) == 1` (`do_wp_page`, 5.9), never while the swap cache
    /// holds it; a write fault on a swap entry reuses the swap cache's page by
    /// `reuse_swap_page` (its mappings and swap references count one, other references
    /// ignored: measured, 5.10 leaks to a pipe through it); kpageflags never shows
    /// MAPPEDTODISK on anon pages. The model keeps the
    /// flag for its own bookkeeping; the era decides whether the kernel has it.
    pub anon_exclusive: bool,
    /// smaps prints `Pss_Dirty` (6.0+); before, the field is absent and reads as 0.
    pub smaps_pss_dirty: bool,
    /// How reclaim orders the pieces of a folio it split for swap-out.
    pub split_reclaim_order: SplitReclaimOrder,
    /// MADV_COLLAPSE and khugepaged remove the old PTE mappings with one rmap call per run
    /// of a folio's pages (6.18); up to 6.12 with one call per page
    /// (`folio_remove_rmap_pte` in `__collapse_huge_page_copy_succeeded`), so every mTHP a
    /// collapse consumes is partially mapped for a moment and counted in `split_deferred`
    /// (measured on 6.12: 31 for 31 64K folios).
    pub collapse_batching: bool,
    /// Collapse needs a writable PTE in the range (`SCAN_PAGE_RO`, up to 6.12: a range
    /// write-protected by fork is left PTE-mapped); 6.18 collapses read-only ranges too.
    pub collapse_needs_writable: bool,
    /// `/proc/kpageflags` reports KSM on every anonymous page: 6.12's `stable_page_flags`
    /// tests `mapping & PAGE_MAPPING_KSM`, which the anon bit alone satisfies (measured on
    /// 6.12.118; fixed upstream by "fs/proc: fix KPF_KSM reported for all anonymous pages").
    pub kpageflags_ksm_anon: bool,
}

impl Era {
    /// The era of generation `g`, when the model has it (`None`: not modelled yet; the
    /// command line then says so and uses [`Era::LINUX_6_18`]).
    pub fn of(g: Generation) -> Option<Era> {
        match g {
            Generation::V5_10 => Some(Era::LINUX_5_10),
            Generation::V6_1 => Some(Era::LINUX_6_1),
            Generation::V6_12 => Some(Era::LINUX_6_12),
            Generation::V6_18 => Some(Era::LINUX_6_18),
            Generation::V7_2 => Some(Era::LINUX_7_2),
        }
    }

    /// Orders an anonymous fault (or swap-in, or khugepaged) may use in a VMA:
    /// `thp_vma_allowable_orders` as this generation has it.
    pub fn anon_orders(&self, thp: &ThpConfig, hugepage: bool, nohugepage: bool) -> Vec<Order> {
        match self.anon_large {
            AnonLarge::PerSize => thp.allowable_orders(hugepage, nohugepage),
            AnonLarge::PmdOnly => {
                let on = !nohugepage
                    && match thp.enabled {
                        ThpMode::Always => true,
                        ThpMode::Madvise => hugepage,
                        ThpMode::Never | ThpMode::Inherit => false,
                    };
                if on {
                    vec![PMD_ORDER]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Whether a large folio of `order` may go on the deferred split queue at all.
    pub fn queues_for_deferred_split(&self, order: Order) -> bool {
        order.0 >= 2 && (self.deferred_split.any_large_anon || order >= PMD_ORDER)
    }
}

impl Default for Era {
    fn default() -> Era {
        Era::LINUX_6_18
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmd_only_generations_have_no_mthp_orders() {
        let mut thp = ThpConfig {
            enabled: ThpMode::Madvise,
            ..ThpConfig::default()
        };
        thp.per_size[4] = ThpMode::Always;
        let old = Era {
            anon_large: AnonLarge::PmdOnly,
            ..Era::LINUX_6_18
        };
        assert_eq!(old.anon_orders(&thp, true, false), vec![PMD_ORDER]);
        assert!(old.anon_orders(&thp, false, false).is_empty());
        assert_eq!(
            Era::LINUX_6_18.anon_orders(&thp, true, false),
            vec![Order(4), PMD_ORDER]
        );
    }

    #[test]
    fn the_6_12_statistics_lack_per_size_swap_in() {
        assert!(ThpStats::Linux618.exists("64K.swpin"));
        assert!(!ThpStats::Linux612.exists("64K.swpin"));
        assert!(!ThpStats::Linux612.exists("2M.swpin_fallback"));
        assert!(ThpStats::Linux612.exists("64K.swpout"));
        assert!(ThpStats::Linux612.exists("thp_underused_split_page"));
    }

    #[test]
    fn every_generation_maps_to_its_own_era_or_none() {
        for g in Generation::ALL {
            assert_eq!(Generation::parse(g.name()), Some(g));
            let (a, b) = g.version();
            assert_eq!(Generation::for_version(a, b), Some(g));
            if let Some(e) = Era::of(g) {
                assert_eq!(e.generation, g);
            }
        }
        assert_eq!(Generation::for_version(6, 6), Some(Generation::V6_1));
        assert_eq!(Generation::for_version(5, 4), None);
    }

    #[test]
    fn deferred_split_orders() {
        assert!(Era::LINUX_6_18.queues_for_deferred_split(Order(2)));
        assert!(!Era::LINUX_6_18.queues_for_deferred_split(Order(1)));
        let old = Era {
            deferred_split: DeferredSplit {
                any_large_anon: false,
                underused: false,
            },
            ..Era::LINUX_6_18
        };
        assert!(!old.queues_for_deferred_split(Order(4)));
        assert!(old.queues_for_deferred_split(PMD_ORDER));
    }
}
