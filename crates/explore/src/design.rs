//! The explorer's thin adapter over the mapcount designs (`foliolab-schemes`): the only file
//! that names the `Scheme` trait's methods, so a change of that trait (or of how schemes are
//! looked up) costs one file here.
//!
//! Besides forwarding rmap events and queries, a design here carries what the explorer must
//! know to judge it: whether it promises never to call a folio mapped by two MMs "exclusive"
//! (the MM_ID designs, rmap-id, exact and vma-count do; the page-0 estimates and
//! `folio_likely_mapped_shared` do not), and whether its reuse rule is the MM_ID one, which
//! the explorer runs step by step (`__wp_can_reuse_large_anon_folio`).
//!
//! Test-only designs (feature `test-variants`): `page1-total`, linux-6.14's counts with the
//! total mapcount kept in page[1]'s `_refcount` (the placement proposed and rejected in the
//! Aug 2023 "add a total mapcount for large folios" thread).

use foliolab_mem::Memory;
use foliolab_schemes::{Cause, Ctx, FolioCounters, FolioRef, Level, Removed, Scheme, StatDelta};
use foliolab_types::{FolioTruth, MmId, Pfn};

/// Designs the command explores, oldest first: every registered design.
pub const DESIGNS: &[&str] = &foliolab_schemes::registry::DESIGN_NAMES;

/// Test-only designs built with feature `test-variants`.
#[cfg(feature = "test-variants")]
pub const TEST_DESIGNS: &[&str] = &["page1-total"];
#[cfg(not(feature = "test-variants"))]
pub const TEST_DESIGNS: &[&str] = &[];

/// The designs built on MM_ID slots (reuse rule and lockless check of 6.15+).
pub const MM_ID_DESIGNS: &[&str] = &["linux-6.18", "linux-6.18-npm", "rfc-2026"];

/// Whether `design`'s large-folio reuse is the 6.15+ MM_ID rule (explored read by read).
pub fn uses_mm_id_reuse(design: &str) -> bool {
    MM_ID_DESIGNS.contains(&design)
}

/// A design under exploration.
pub struct Design {
    pub name: &'static str,
    scheme: Box<dyn Scheme>,
    /// The total mapcount lives in page[1]'s `_refcount` (test-only `page1-total`).
    page1_total: bool,
}

/// Why a design name is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDesign(pub String);

impl std::fmt::Display for UnknownDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown design {:?} (known: {})",
            self.0,
            DESIGNS
                .iter()
                .chain(TEST_DESIGNS)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl std::error::Error for UnknownDesign {}

impl Design {
    pub fn new(name: &str) -> Result<Design, UnknownDesign> {
        if let Some(d) = Self::test_design(name) {
            return Ok(d);
        }
        let known = DESIGNS.iter().find(|&&d| d == name);
        let scheme = known.and_then(|_| foliolab_schemes::by_name(name));
        match (known, scheme) {
            (Some(&name), Some(scheme)) => Ok(Design {
                name,
                scheme,
                page1_total: false,
            }),
            _ => Err(UnknownDesign(name.to_string())),
        }
    }

    #[cfg(feature = "test-variants")]
    fn test_design(name: &str) -> Option<Design> {
        match name {
            "page1-total" => Some(Design {
                name: "page1-total",
                scheme: foliolab_schemes::by_name("linux-6.14")?,
                page1_total: true,
            }),
            _ => None,
        }
    }
    #[cfg(not(feature = "test-variants"))]
    fn test_design(_name: &str) -> Option<Design> {
        None
    }

    /// The design promises that "maybe mapped shared" is never false while two MMs map the
    /// folio (no false negatives); false for the page-0 estimates and 6.10-6.14's guess.
    pub fn no_false_exclusive(&self) -> bool {
        !matches!(
            self.name,
            "linux-5.7" | "linux-6.1" | "linux-6.5" | "linux-6.14" | "page1-total"
        )
    }
    /// The design's large-folio reuse is the 6.15+ MM_ID rule, explored step by step.
    pub fn mm_id_reuse(&self) -> bool {
        uses_mm_id_reuse(self.name)
    }
    /// Whether page[1]'s `_refcount` holds this design's total mapcount.
    pub fn page1_total(&self) -> bool {
        self.page1_total
    }

    pub fn prep(&mut self, f: FolioRef, mem: &mut Memory) {
        self.scheme.prep_folio(f);
        if self.page1_total && f.is_large() {
            mem.page_mut(f.head.add(1)).refcount = 0;
        }
    }
    /// The folio is freed: the error names counts left behind (a bad page).
    pub fn free(&mut self, f: FolioRef) -> Result<(), String> {
        self.scheme.free_folio(f)
    }
    pub fn add_new_anon(&mut self, f: FolioRef, mm: MmId, mem: &mut Memory) -> StatDelta {
        if self.page1_total && f.is_large() {
            // folio_set_large_mapcount: a plain store, not an add.
            mem.page_mut(f.head.add(1)).refcount = f.nr_pages() as i32;
        }
        self.scheme.add_new_anon(f, ctx(mm, Cause::Fault))
    }
    pub fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, mm: MmId, mem: &mut Memory) {
        self.bump_page1(f, nr as i32, mem);
        self.scheme
            .add(f, first, nr, Level::Pte, ctx(mm, Cause::Fault));
    }
    pub fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, mm: MmId, mem: &mut Memory) {
        self.bump_page1(f, nr as i32, mem);
        self.scheme
            .dup(f, first, nr, Level::Pte, ctx(mm, Cause::Fork));
    }
    pub fn remove(
        &mut self,
        f: FolioRef,
        first: Pfn,
        nr: u64,
        mm: MmId,
        mem: &mut Memory,
    ) -> Removed {
        self.bump_page1(f, -(nr as i32), mem);
        self.scheme
            .remove(f, first, nr, Level::Pte, ctx(mm, Cause::Zap))
    }
    fn bump_page1(&mut self, f: FolioRef, by: i32, mem: &mut Memory) {
        if self.page1_total && f.is_large() {
            mem.page_mut(f.head.add(1)).refcount += by;
        }
    }

    /// `folio_mapcount` as the design stores it (page[1]'s `_refcount` for `page1-total`).
    pub fn mapcount(&self, f: FolioRef, mem: &Memory) -> i64 {
        if self.page1_total && f.is_large() {
            return mem.page(f.head.add(1)).refcount as i64;
        }
        self.scheme.mapcount(f)
    }
    /// The design's own count, ignoring where it is stored (for the page[1] check).
    pub fn inner_mapcount(&self, f: FolioRef) -> i64 {
        self.scheme.mapcount(f)
    }
    /// The lockless "is this folio shared?" of MADV_COLD/PAGEOUT (`folio_maybe_mapped_shared`
    /// or the era's equivalent).
    pub fn maybe_shared(&self, f: FolioRef) -> bool {
        self.scheme.madvise_skips_shared(f)
    }
    /// Whether a write fault by `mm` may reuse this folio, `refcount` read by the caller.
    pub fn can_reuse(&self, f: FolioRef, refcount: i64, mm: MmId) -> bool {
        let c = ctx(mm, Cause::Cow);
        if f.is_large() {
            self.scheme.can_reuse_large(f, refcount, c)
        } else {
            self.scheme.can_reuse_small(f, refcount, c)
        }
    }
    pub fn counters(&self, f: FolioRef) -> FolioCounters {
        self.scheme.counters(f)
    }
    pub fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        self.scheme.page_mapcount(f, page)
    }
    /// The design's own consistency check against the oracle's truth.
    pub fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        self.scheme.check(f, truth)
    }
}

/// The explorer's processes map one region each: one VMA per MM.
fn ctx(mm: MmId, cause: Cause) -> Ctx {
    let vma = foliolab_types::VmaId(mm.0 as u64);
    Ctx { mm, vma, cause }
}
