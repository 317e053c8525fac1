//! What one shadow design got wrong over a run: counts of wrong answers by kind and call
//! site, and the magnitudes those answers reach in bytes (PSS, USS, AnonPages, memory
//! stranded by missed deferred splits, pages copied or reused wrongly at COW).

use super::explain::Wrong;
use crate::cost::{Costs, Layout};
use foliolab_types::PAGE_SIZE;

/// A quantity observed after every statement: its largest value and its sum over the
/// statements observed (so the time-weighted mean is `sum / statements`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Magnitude {
    /// Largest value after any one statement, bytes.
    pub max_bytes: u64,
    /// Sum over statements of the value after each, bytes × statements.
    pub sum_bytes: u128,
}

impl Magnitude {
    /// The value after one more statement.
    pub fn observe(&mut self, bytes: u64) {
        self.max_bytes = self.max_bytes.max(bytes);
        self.sum_bytes += bytes as u128;
    }
    pub fn merge(&mut self, o: &Magnitude) {
        self.max_bytes = self.max_bytes.max(o.max_bytes);
        self.sum_bytes += o.sum_bytes;
    }
    /// The time-weighted mean over `statements`, bytes.
    pub fn mean_bytes(&self, statements: u64) -> f64 {
        if statements == 0 {
            return 0.0;
        }
        self.sum_bytes as f64 / statements as f64
    }
    pub fn max_kib(&self) -> f64 {
        self.max_bytes as f64 / 1024.0
    }
    pub fn max_pages(&self) -> f64 {
        self.max_bytes as f64 / PAGE_SIZE as f64
    }
    /// KiB × statements (the integral over the run).
    pub fn kib_statements(&self) -> f64 {
        self.sum_bytes as f64 / 1024.0
    }
}

/// The magnitudes of one shadow's wrong answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Magnitudes {
    /// |PSS the design's mapcounts give − exact PSS|, summed over every mapping of every page
    /// (smaps' fixed point, rounded down to bytes per folio).
    pub pss: Magnitude,
    /// |USS the design's exclusive answers give − exact USS|, summed over processes: a page
    /// mapped once but called shared is under by a page; a page mapped r > 1 times but
    /// called exclusive is over by r pages.
    pub uss: Magnitude,
    /// |NR_ANON_MAPPED (AnonPages) by the design − pages of anon folios mapped|.
    pub anon_pages: Magnitude,
    /// Unmapped pages of partially mapped anon folios the design never flagged for deferred
    /// split, while the folio lives in the driver's run (KiB × statements is the integral).
    pub stranded: Magnitude,
}

impl Magnitudes {
    pub fn merge(&mut self, o: &Magnitudes) {
        self.pss.merge(&o.pss);
        self.uss.merge(&o.uss);
        self.anon_pages.merge(&o.anon_pages);
        self.stranded.merge(&o.stranded);
    }
}

/// What one shadow scheme got wrong, and what it would have decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub name: String,
    /// Observations: "maybe mapped shared" true / false while one MM / several MMs map it.
    pub maybe_shared_fp: u64,
    pub maybe_shared_fn: u64,
    /// The madvise "mapped shared" skip (MADV_COLD/PAGEOUT/FREE): skipped a folio only one
    /// MM maps / did not skip one several MMs map.
    pub madvise_fp: u64,
    pub madvise_fn: u64,
    /// Observations with some page's bit 56 clear while mapped once / set while shared.
    pub bit56_fp: u64,
    pub bit56_fn: u64,
    /// COW decisions: copy where the exact answer reuses / reuse where it copies (a leak).
    pub cow_fp: u64,
    pub cow_fn: u64,
    /// Observations with a wrong folio mapcount / a wrong kpagecount on some page.
    pub mapcount_errors: u64,
    pub kpagecount_errors: u64,
    /// Folios never flagged although partially mapped / removals flagging a folio that is not.
    pub partial_missed: u64,
    pub partial_spurious: u64,
    /// Observations where the folio's NR_ANON_MAPPED or NR_ANON_THPS share, or the PSS its
    /// mappings add up to, is wrong.
    pub stats_errors: u64,
    /// Of those, observations with a wrong PSS (smaps, from kpagecount-style mapcounts).
    pub pss_errors: u64,
    /// COW decisions this scheme would take at the can-reuse points.
    pub cow_copies: u64,
    pub cow_reuses: u64,
    /// Bad page states at free (never expected).
    pub bad_free: u64,
    /// Observation steps (statements run), the time base of the magnitudes.
    pub statements: u64,
    pub magnitudes: Magnitudes,
    /// Each wrong answer with its statement and folio, when the fan-out keeps them.
    pub wrong: Vec<Wrong>,
    pub costs: Costs,
    pub layout: Layout,
}

impl Tally {
    pub fn false_shared(&self) -> u64 {
        self.maybe_shared_fp + self.madvise_fp + self.bit56_fp + self.cow_fp
    }
    pub fn false_exclusive(&self) -> u64 {
        self.maybe_shared_fn + self.madvise_fn + self.bit56_fn + self.cow_fn
    }
    pub fn partial_map_errors(&self) -> u64 {
        self.partial_missed + self.partial_spurious
    }
    /// Bytes copied beyond what the exact answer copies: every false-shared COW decision
    /// copies one page (a PMD-level one splits the PMD and copies the faulting page).
    pub fn extra_cow_bytes(&self) -> u64 {
        self.cow_fp * PAGE_SIZE
    }
    /// Bytes reused although another MM maps them (the page a false-exclusive COW reuses).
    pub fn leaked_cow_bytes(&self) -> u64 {
        self.cow_fn * PAGE_SIZE
    }
    /// Adds another scenario's tally of the same scheme.
    pub fn merge(&mut self, o: &Tally) {
        let pairs = [
            (&mut self.maybe_shared_fp, o.maybe_shared_fp),
            (&mut self.maybe_shared_fn, o.maybe_shared_fn),
            (&mut self.madvise_fp, o.madvise_fp),
            (&mut self.madvise_fn, o.madvise_fn),
            (&mut self.bit56_fp, o.bit56_fp),
            (&mut self.bit56_fn, o.bit56_fn),
            (&mut self.cow_fp, o.cow_fp),
            (&mut self.cow_fn, o.cow_fn),
            (&mut self.mapcount_errors, o.mapcount_errors),
            (&mut self.kpagecount_errors, o.kpagecount_errors),
            (&mut self.partial_missed, o.partial_missed),
            (&mut self.partial_spurious, o.partial_spurious),
            (&mut self.stats_errors, o.stats_errors),
            (&mut self.pss_errors, o.pss_errors),
            (&mut self.cow_copies, o.cow_copies),
            (&mut self.cow_reuses, o.cow_reuses),
            (&mut self.bad_free, o.bad_free),
            (&mut self.statements, o.statements),
        ];
        for (a, b) in pairs {
            *a += b;
        }
        self.magnitudes.merge(&o.magnitudes);
        self.wrong.extend(o.wrong.iter().cloned());
        self.costs.merge(&o.costs);
        self.layout = o.layout;
        self.name.clone_from(&o.name);
    }
}
