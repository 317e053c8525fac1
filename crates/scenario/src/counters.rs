//! The counters of spec 3.6 that `expect stat` and `observe stats` know.

/// The sizes of the per-size counters and THP knobs, with their orders.
pub const SIZES: [(&str, u8); 8] = [
    ("16K", 2),
    ("32K", 3),
    ("64K", 4),
    ("128K", 5),
    ("256K", 6),
    ("512K", 7),
    ("1M", 8),
    ("2M", 9),
];

/// How a runner can check a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CounterClass {
    /// Deterministic on both runners.
    Exact,
    /// The probe reports it `skipped(noisy)`.
    Noisy,
    /// Only the model has it; the probe reports it `skipped(kernel)`.
    ModelOnly,
}

const PER_SIZE_EXACT: [&str; 13] = [
    "anon_fault_alloc",
    "anon_fault_fallback",
    "anon_fault_fallback_charge",
    "nr_anon",
    "nr_anon_partially_mapped",
    "split",
    "split_deferred",
    "swpout",
    "swpout_fallback",
    "swpin",
    "swpin_fallback",
    "shmem_alloc",
    "shmem_fallback",
];

const VMSTAT_EXACT: [&str; 9] = [
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_split_pmd",
    "thp_split_page",
    "thp_deferred_split_page",
    "thp_underused_split_page",
    "thp_swpout",
    "thp_collapse_alloc",
    "nr_anon_transparent_hugepages",
];

const VMSTAT_NOISY: [&str; 6] = [
    "thp_split_page_failed",
    "thp_zero_page_alloc",
    "pswpin",
    "pswpout",
    "nr_anon_pages",
    "nr_mapped",
];

const MODEL_ONLY: [&str; 4] = [
    "deferred_queue_len",
    "nr_anon_mapped",
    "nr_file_mapped",
    "nr_shmem_pmdmapped",
];

/// The class of a counter name, or `None` when spec 3.6 does not name it.
pub fn counter_class(name: &str) -> Option<CounterClass> {
    if let Some((size, rest)) = name.split_once('.') {
        if !SIZES.iter().any(|(s, _)| *s == size) {
            return None;
        }
        if PER_SIZE_EXACT.contains(&rest) {
            return Some(CounterClass::Exact);
        }
        return (rest == "split_failed").then_some(CounterClass::Noisy);
    }
    if VMSTAT_EXACT.contains(&name) {
        Some(CounterClass::Exact)
    } else if VMSTAT_NOISY.contains(&name) {
        Some(CounterClass::Noisy)
    } else if MODEL_ONLY.contains(&name) {
        Some(CounterClass::ModelOnly)
    } else {
        None
    }
}

/// Per-size statistic names of spec 3.6 (exact, then the noisy `split_failed`), without the
/// size prefix: the files a kernel runner reads under `hugepages-NkB/stats/`.
pub fn per_size_names() -> impl Iterator<Item = &'static str> {
    PER_SIZE_EXACT
        .iter()
        .copied()
        .chain(std::iter::once("split_failed"))
}

/// vmstat counter names of spec 3.6 (exact, then noisy).
pub fn vmstat_names() -> impl Iterator<Item = &'static str> {
    VMSTAT_EXACT.iter().chain(VMSTAT_NOISY.iter()).copied()
}

/// Every counter name of spec 3.6 with its class, in a fixed order.
pub fn all_counters() -> Vec<(String, CounterClass)> {
    let mut out = Vec::new();
    for (size, _) in SIZES {
        for name in PER_SIZE_EXACT {
            out.push((format!("{size}.{name}"), CounterClass::Exact));
        }
        out.push((format!("{size}.split_failed"), CounterClass::Noisy));
    }
    out.extend(
        VMSTAT_EXACT
            .iter()
            .map(|n| (n.to_string(), CounterClass::Exact)),
    );
    out.extend(
        VMSTAT_NOISY
            .iter()
            .map(|n| (n.to_string(), CounterClass::Noisy)),
    );
    out.extend(
        MODEL_ONLY
            .iter()
            .map(|n| (n.to_string(), CounterClass::ModelOnly)),
    );
    out
}
