//! Global counters: per-size mTHP statistics, the vmstat THP events and the node counters
//! the model keeps (spec 3.6).

use foliolab_types::{Order, PMD_ORDER};
use std::collections::BTreeMap;

/// Per-size (mTHP) statistics, one slot per order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MthpStat {
    AnonFaultAlloc,
    AnonFaultFallback,
    AnonFaultFallbackCharge,
    NrAnon,
    NrAnonPartiallyMapped,
    Split,
    SplitDeferred,
    SplitFailed,
    Swpout,
    SwpoutFallback,
    Swpin,
    SwpinFallback,
    ShmemAlloc,
    ShmemFallback,
}

impl MthpStat {
    const ALL: [MthpStat; 14] = [
        MthpStat::AnonFaultAlloc,
        MthpStat::AnonFaultFallback,
        MthpStat::AnonFaultFallbackCharge,
        MthpStat::NrAnon,
        MthpStat::NrAnonPartiallyMapped,
        MthpStat::Split,
        MthpStat::SplitDeferred,
        MthpStat::SplitFailed,
        MthpStat::Swpout,
        MthpStat::SwpoutFallback,
        MthpStat::Swpin,
        MthpStat::SwpinFallback,
        MthpStat::ShmemAlloc,
        MthpStat::ShmemFallback,
    ];
    fn name(self) -> &'static str {
        match self {
            MthpStat::AnonFaultAlloc => "anon_fault_alloc",
            MthpStat::AnonFaultFallback => "anon_fault_fallback",
            MthpStat::AnonFaultFallbackCharge => "anon_fault_fallback_charge",
            MthpStat::NrAnon => "nr_anon",
            MthpStat::NrAnonPartiallyMapped => "nr_anon_partially_mapped",
            MthpStat::Split => "split",
            MthpStat::SplitDeferred => "split_deferred",
            MthpStat::SplitFailed => "split_failed",
            MthpStat::Swpout => "swpout",
            MthpStat::SwpoutFallback => "swpout_fallback",
            MthpStat::Swpin => "swpin",
            MthpStat::SwpinFallback => "swpin_fallback",
            MthpStat::ShmemAlloc => "shmem_alloc",
            MthpStat::ShmemFallback => "shmem_fallback",
        }
    }
}

/// vmstat events and node counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VmStat {
    ThpFaultAlloc,
    ThpFaultFallback,
    ThpSplitPmd,
    ThpSplitPage,
    ThpSplitPageFailed,
    ThpDeferredSplitPage,
    ThpUnderusedSplitPage,
    ThpSwpout,
    ThpSwpoutFallback,
    ThpCollapseAlloc,
    ThpZeroPageAlloc,
    /// `nr_anon_transparent_hugepages` (in PMD-sized units).
    NrAnonTransparentHugepages,
    /// NR_ANON_MAPPED in pages (model-only `nr_anon_mapped`).
    NrAnonMapped,
    NrFileMapped,
    NrShmemPmdmapped,
    Pswpin,
    Pswpout,
}

impl VmStat {
    const ALL: [VmStat; 17] = [
        VmStat::ThpFaultAlloc,
        VmStat::ThpFaultFallback,
        VmStat::ThpSplitPmd,
        VmStat::ThpSplitPage,
        VmStat::ThpSplitPageFailed,
        VmStat::ThpDeferredSplitPage,
        VmStat::ThpUnderusedSplitPage,
        VmStat::ThpSwpout,
        VmStat::ThpSwpoutFallback,
        VmStat::ThpCollapseAlloc,
        VmStat::ThpZeroPageAlloc,
        VmStat::NrAnonTransparentHugepages,
        VmStat::NrAnonMapped,
        VmStat::NrFileMapped,
        VmStat::NrShmemPmdmapped,
        VmStat::Pswpin,
        VmStat::Pswpout,
    ];
    fn name(self) -> &'static str {
        match self {
            VmStat::ThpFaultAlloc => "thp_fault_alloc",
            VmStat::ThpFaultFallback => "thp_fault_fallback",
            VmStat::ThpSplitPmd => "thp_split_pmd",
            VmStat::ThpSplitPage => "thp_split_page",
            VmStat::ThpSplitPageFailed => "thp_split_page_failed",
            VmStat::ThpDeferredSplitPage => "thp_deferred_split_page",
            VmStat::ThpUnderusedSplitPage => "thp_underused_split_page",
            VmStat::ThpSwpout => "thp_swpout",
            VmStat::ThpSwpoutFallback => "thp_swpout_fallback",
            VmStat::ThpCollapseAlloc => "thp_collapse_alloc",
            VmStat::ThpZeroPageAlloc => "thp_zero_page_alloc",
            VmStat::NrAnonTransparentHugepages => "nr_anon_transparent_hugepages",
            VmStat::NrAnonMapped => "nr_anon_mapped",
            VmStat::NrFileMapped => "nr_file_mapped",
            VmStat::NrShmemPmdmapped => "nr_shmem_pmdmapped",
            VmStat::Pswpin => "pswpin",
            VmStat::Pswpout => "pswpout",
        }
    }
}

/// Write-fault outcomes on present read-only anon mappings (model-only, not in
/// [`Stats::by_name`]): what `foliolab compare` reports per scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CowStats {
    /// The mapping was made writable in place (AnonExclusive, or the scheme allowed reuse).
    pub reuses: u64,
    /// A page was copied (zero-page and huge-zero replacements are not copies).
    pub copies: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Per order (index 0 never counted) and [`MthpStat`]: events since the run started, or
    /// the current value of a gauge (`nr_anon`, `nr_anon_partially_mapped`); unbiased.
    mthp: [[i64; MthpStat::ALL.len()]; 10],
    /// By [`VmStat`]: events or gauges (pages for `NrAnonMapped`, `NrFileMapped`,
    /// `NrShmemPmdmapped`; PMD-sized folios for `NrAnonTransparentHugepages`), unbiased.
    vm: [i64; VmStat::ALL.len()],
    pub cow: CowStats,
}

impl Stats {
    pub fn mthp(&self, order: Order, s: MthpStat) -> i64 {
        self.mthp[order.0 as usize][s as usize]
    }
    /// Per-size statistics exist for orders 1 and up (order 0 is never counted).
    pub fn count_mthp(&mut self, order: Order, s: MthpStat, delta: i64) {
        if order.0 > 0 {
            self.mthp[order.0 as usize][s as usize] += delta;
        }
    }
    pub fn vm(&self, s: VmStat) -> i64 {
        self.vm[s as usize]
    }
    pub fn count_vm(&mut self, s: VmStat, delta: i64) {
        self.vm[s as usize] += delta;
    }

    /// Every counter by its spec name (`64K.split`, `thp_split_pmd`, ...), zeros included.
    /// `deferred_queue_len` is added by the model.
    pub fn by_name(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for o in 2..=PMD_ORDER.0 {
            let size = Order(o).scenario_size_name();
            for s in MthpStat::ALL {
                out.insert(format!("{size}.{}", s.name()), self.mthp(Order(o), s));
            }
        }
        for s in VmStat::ALL {
            out.insert(s.name().to_string(), self.vm(s));
        }
        out
    }
}
