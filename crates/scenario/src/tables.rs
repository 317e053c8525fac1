//! Word tables of the grammar, in the order of the spec's tables (used by the parser for
//! lookups and error messages).

use crate::ast::*;

/// The mapcount designs a `schemes` statement may name (the model's schemes; a test of the
/// `foliolab` crate keeps this list equal to theirs).
pub const SCHEME_NAMES: &[&str] = &[
    "linux-5.7",
    "linux-6.1",
    "linux-6.5",
    "linux-6.14",
    "linux-6.18",
    "linux-6.18-npm",
    "rfc-2026",
    "vma-count",
    "rmap-id",
    "exact",
];

pub(crate) const PROTS: [(&str, Prot); 5] = [
    ("none", Prot::None),
    ("r", Prot::R),
    ("rw", Prot::Rw),
    ("rx", Prot::Rx),
    ("rwx", Prot::Rwx),
];

pub(crate) const STATES: [(&str, PageState); 4] = [
    ("present", PageState::Present),
    ("zeropage", PageState::Zeropage),
    ("swapped", PageState::Swapped),
    ("none", PageState::None),
];

pub(crate) const RSS_KINDS: [(&str, RssKind); 4] = [
    ("anon", RssKind::Anon),
    ("file", RssKind::File),
    ("shmem", RssKind::Shmem),
    ("swap", RssKind::Swap),
];

pub(crate) const FOLIO_FIELDS: [(&str, FolioField); 11] = [
    ("refcount", FolioField::Refcount),
    ("mapcount", FolioField::Mapcount),
    ("large_mapcount", FolioField::LargeMapcount),
    ("entire_mapcount", FolioField::EntireMapcount),
    ("nr_pages_mapped", FolioField::NrPagesMapped),
    ("pincount", FolioField::Pincount),
    ("slot0", FolioField::Slot0),
    ("slot1", FolioField::Slot1),
    ("maybe_shared", FolioField::MaybeShared),
    ("partially_mapped", FolioField::PartiallyMapped),
    ("deferred", FolioField::Deferred),
];

pub(crate) const PAGE_FIELDS: [(&str, PageField); 3] = [
    ("page_mapcount", PageField::PageMapcount),
    ("anon_exclusive", PageField::AnonExclusive),
    ("writable", PageField::Writable),
];

/// `driver mixedmap` (false) / `driver pfnmap` (true).
pub(crate) const DRIVER_KINDS: [(&str, bool); 2] = [("mixedmap", false), ("pfnmap", true)];

pub(crate) const FILE_SHARING: [(&str, bool); 2] = [("private", false), ("shared", true)];

pub(crate) fn advices() -> Vec<(&'static str, Advice)> {
    Advice::ALL.iter().map(|a| (a.name(), *a)).collect()
}

pub(crate) fn smaps_fields() -> Vec<(&'static str, SmapsField)> {
    SmapsField::ALL.iter().map(|f| (f.name(), *f)).collect()
}

/// What kind of value a folio or page field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Int,
    Bool,
    Slot,
}

impl FolioField {
    pub fn value_kind(self) -> FieldKind {
        match self {
            FolioField::Slot0 | FolioField::Slot1 => FieldKind::Slot,
            FolioField::MaybeShared | FolioField::PartiallyMapped | FolioField::Deferred => {
                FieldKind::Bool
            }
            _ => FieldKind::Int,
        }
    }
}

impl PageField {
    pub fn value_kind(self) -> FieldKind {
        match self {
            PageField::PageMapcount => FieldKind::Int,
            PageField::AnonExclusive | PageField::Writable => FieldKind::Bool,
        }
    }
}

impl FieldValue {
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldValue::Int(_) => FieldKind::Int,
            FieldValue::Bool(_) => FieldKind::Bool,
            FieldValue::Slot { .. } | FieldValue::NoSlot => FieldKind::Slot,
        }
    }
}
