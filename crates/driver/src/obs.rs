//! What a runner can observe about one page, one VMA or the whole run. Both the model runner
//! and the kernel probe fill these in; the shared driver turns them into records and checks
//! expectations against them. Raw ids (`frame`, `folio`) are runner-private numbers (PFNs);
//! only their grouping means anything across runners.

use foliolab_scenario::{PageState, SmapsField};
use std::collections::BTreeMap;

/// Which zero page backs a page, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroKind {
    /// The shared 4 KiB zero page.
    Small,
    /// The huge zero folio (PMD-mapped, order 9).
    Huge,
}

/// One base page of a region as seen through pagemap / kpagecount / kpageflags (or the
/// model's equivalent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageObs {
    pub state: PageState,
    /// Raw frame id (PFN) of a present page or zero page.
    pub frame: Option<u64>,
    /// Raw id of the folio (head PFN) of a present page or zero page.
    pub folio: Option<u64>,
    pub zero: Option<ZeroKind>,
    pub order: Option<u8>,
    /// Index of the page inside its folio.
    pub index: Option<u64>,
    /// /proc/kpagecount (0 on zero pages).
    pub mapcount: Option<u64>,
    /// pagemap bit 56.
    pub exclusive: Option<bool>,
    /// Mapped by a PMD (PAGEMAP_SCAN PAGE_IS_HUGE).
    pub pmd: Option<bool>,
    /// kpageflags names, masked as spec 4.1 says.
    pub flags: Vec<String>,
    /// Model-only state; `None` on the kernel.
    pub model: Option<ModelPageObs>,
}

impl PageObs {
    pub fn none() -> PageObs {
        PageObs {
            state: PageState::None,
            frame: None,
            folio: None,
            zero: None,
            order: None,
            index: None,
            mapcount: None,
            exclusive: None,
            pmd: None,
            flags: Vec::new(),
            model: None,
        }
    }
}

/// Model-only page and folio state (`expect page`, `expect folio`). A field a scheme does
/// not keep is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ModelPageObs {
    pub page_mapcount: Option<i64>,
    pub anon_exclusive: Option<bool>,
    pub writable: Option<bool>,
    pub folio: ModelFolioObs,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ModelFolioObs {
    pub refcount: Option<i64>,
    pub mapcount: Option<i64>,
    pub large_mapcount: Option<i64>,
    pub entire_mapcount: Option<i64>,
    pub nr_pages_mapped: Option<i64>,
    pub pincount: Option<i64>,
    /// `Some(None)`: the slot is free; `Some(Some((proc, count)))`: occupied.
    pub slot0: Option<Option<(String, i64)>>,
    pub slot1: Option<Option<(String, i64)>>,
    pub maybe_shared: Option<bool>,
    pub partially_mapped: Option<bool>,
    pub deferred: Option<bool>,
}

/// smaps of one VMA of a region; offsets relative to the region start, fields in kB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmapsObs {
    pub vma_start_bytes: u64,
    pub vma_end_bytes: u64,
    pub fields_kb: BTreeMap<SmapsField, u64>,
}

/// One value read from a page (`read`, `expect ==`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadValue {
    pub offset_bytes: u64,
    pub value: u64,
}
