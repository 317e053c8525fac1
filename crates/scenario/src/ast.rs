//! The abstract syntax of a version-1 scenario (docs/scenario-format-v1.md).
//!
//! Every number is already in its unit: sizes and offsets in bytes (`*_bytes`), smaps sizes in
//! bytes (multiples of 1K), page counts in pages. Names are plain strings; which namespace a
//! name lives in follows from the statement. Source positions are kept for error messages.
//!
//! Equality of two scenarios ignores positions (see [`Scenario::same_program`]).

/// The alignment of a region a `map`, `move` or `space` places without `align=`: a PMD
/// (2 MiB), so that THP can back it.
pub(crate) const DEFAULT_ALIGN_BYTES: u64 = 2 << 20;

/// 1-based line and column (columns count Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A parsed scenario: statements in file order plus the full-line comments.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scenario {
    /// File name as given to the parser (used in error messages).
    pub path: String,
    pub items: Vec<Item>,
}

/// One line of the file that the printer keeps: a statement or a full-line comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Stmt(Stmt),
    /// Text after `#`, without the `#` and without the line break.
    Comment {
        line: u32,
        text: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    /// Position of the statement's first token.
    pub pos: Pos,
    pub kind: StmtKind,
    /// A trailing `# comment` on the same line, kept by the printer.
    pub comment: Option<String>,
    /// Every token of the statement's line as written (empty for statements built in
    /// memory): validation errors point at the token they are about. Not part of the
    /// program ([`Scenario::same_program`] ignores it).
    pub tokens: Vec<Token>,
}

impl Stmt {
    /// A statement built in memory (no source tokens).
    pub fn new(pos: Pos, kind: StmtKind) -> Stmt {
        Stmt {
            pos,
            kind,
            comment: None,
            tokens: Vec::new(),
        }
    }
}

/// One token of a statement's line, as written, at its 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub column: u32,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StmtKind {
    // ---- global (3.1) ----
    Scenario { version: u32 },
    Schemes { names: Vec<String> },
    Thp { settings: Vec<ThpSetting> },
    Swap { size_bytes: u64 },
    File { file: String, size_bytes: u64 },
    Spawn { proc: String },
    Shrink,
    Khugepaged,
    ExpectStat { counter: String, delta: i64 },
    ObserveStats,
    // ---- per process (3.2 - 3.4) ----
    Proc { proc: String, op: ProcOp },
}

/// A `KEY=VALUE` of the `thp` statement; the value is kept as written (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThpSetting {
    pub key: ThpKey,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThpKey {
    Enabled,
    /// Per-size anon knob, by order (2 = 16K ... 9 = 2M).
    Size(u8),
    Defrag,
    ZeroPage,
    ShrinkUnderused,
    MaxPtesNone,
    MaxPtesSwap,
    MaxPtesShared,
    Shmem,
    /// `shmem.SIZE`, by order.
    ShmemSize(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcOp {
    Map {
        region: String,
        size_bytes: u64,
        kind: MapKind,
        prot: Prot,
        align_bytes: u64,
    },
    Unmap {
        range: Range,
    },
    Protect {
        range: Range,
        prot: Prot,
    },
    Advise {
        range: Range,
        advice: Advice,
    },
    Move {
        range: Range,
        new_region: String,
        align_bytes: u64,
        shift_bytes: u64,
    },
    Write {
        range: Range,
        value: u64,
    },
    Read {
        range: Range,
    },
    Fork {
        child: String,
    },
    Exit,
    Pin {
        name: String,
        range: Range,
        write: bool,
        longterm: bool,
        fast: bool,
    },
    Splice {
        name: String,
        range: Range,
    },
    Release {
        name: String,
    },
    Migrate {
        range: Range,
    },
    // expectations (3.3)
    ExpectValue {
        range: Range,
        value: u64,
    },
    Remember {
        snapshot: String,
        range: Range,
    },
    ExpectSame {
        range: Range,
        snapshot: String,
        at_bytes: Option<u64>,
    },
    ExpectNew {
        range: Range,
        snapshot: String,
        at_bytes: Option<u64>,
    },
    ExpectState {
        range: Range,
        state: PageState,
    },
    ExpectMapcount {
        range: Range,
        mapcount: u64,
    },
    /// `exclusive` (true) / `shared` (false): pagemap bit 56.
    ExpectExclusive {
        range: Range,
        exclusive: bool,
    },
    /// `pmd` (true) / `pte` (false).
    ExpectPmd {
        range: Range,
        pmd: bool,
    },
    ExpectOrder {
        range: Range,
        order: u8,
    },
    ExpectFaults {
        faults: u64,
    },
    ExpectSmaps {
        region: String,
        field: SmapsField,
        size_bytes: u64,
    },
    ExpectRss {
        kind: RssKind,
        pages: u64,
    },
    ExpectPipe {
        name: String,
        value: u64,
    },
    ExpectPin {
        name: String,
        value: u64,
    },
    ExpectFolio {
        range: Range,
        field: FolioField,
        value: FieldValue,
    },
    ExpectPage {
        range: Range,
        field: PageField,
        value: FieldValue,
    },
    // observations (3.4)
    Observe {
        range: Range,
    },
    ObserveSmaps {
        region: String,
    },
    // version 2 (docs/scenario-format-v2.md)
    /// `space S SIZE [align=A] [shift=OFF]`: SIZE bytes of address space reserved for
    /// regions placed with `at=S+OFF`; nothing is mapped. S is a name of the region
    /// namespace: ranges over it address whatever is mapped there.
    Space {
        space: String,
        size_bytes: u64,
        align_bytes: u64,
        shift_bytes: u64,
    },
    /// `map R SIZE [KIND] [prot=PROT] at=S+OFF [off=FOFF]`: a region placed at offset OFF of
    /// space S (it may touch its neighbours, and then merges with them as the kernel's VMAs
    /// do); FOFF is the file offset of a file mapping.
    MapAt {
        region: String,
        size_bytes: u64,
        kind: MapKind,
        prot: Prot,
        at: At,
        file_offset_bytes: u64,
    },
    /// `grow R SIZE`: the VMA that ends where R ends grows in place by SIZE bytes (mremap
    /// without MREMAP_MAYMOVE); R grows with it.
    Grow {
        region: String,
        size_bytes: u64,
    },
    /// `move RANGE R2 at=S+OFF`: mremap to offset OFF of space S.
    MoveAt {
        range: Range,
        new_region: String,
        at: At,
    },
}

/// A place inside a space (`at=S+OFF`, version 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub space: String,
    pub offset_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapKind {
    Anon,
    Shmem,
    File { file: String, shared: bool },
    DriverMixedmap,
    DriverPfnmap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    None,
    R,
    Rw,
    Rx,
    Rwx,
}

impl Prot {
    pub fn readable(self) -> bool {
        !matches!(self, Prot::None)
    }
    pub fn writable(self) -> bool {
        matches!(self, Prot::Rw | Prot::Rwx)
    }
    pub fn name(self) -> &'static str {
        match self {
            Prot::None => "none",
            Prot::R => "r",
            Prot::Rw => "rw",
            Prot::Rx => "rx",
            Prot::Rwx => "rwx",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    Hugepage,
    Nohugepage,
    Dontneed,
    Free,
    Pageout,
    Cold,
    Willneed,
    Dontfork,
    Dofork,
    Wipeonfork,
    Keeponfork,
    Collapse,
    PopulateRead,
    PopulateWrite,
}

impl Advice {
    pub const ALL: [Advice; 14] = [
        Advice::Hugepage,
        Advice::Nohugepage,
        Advice::Dontneed,
        Advice::Free,
        Advice::Pageout,
        Advice::Cold,
        Advice::Willneed,
        Advice::Dontfork,
        Advice::Dofork,
        Advice::Wipeonfork,
        Advice::Keeponfork,
        Advice::Collapse,
        Advice::PopulateRead,
        Advice::PopulateWrite,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Advice::Hugepage => "hugepage",
            Advice::Nohugepage => "nohugepage",
            Advice::Dontneed => "dontneed",
            Advice::Free => "free",
            Advice::Pageout => "pageout",
            Advice::Cold => "cold",
            Advice::Willneed => "willneed",
            Advice::Dontfork => "dontfork",
            Advice::Dofork => "dofork",
            Advice::Wipeonfork => "wipeonfork",
            Advice::Keeponfork => "keeponfork",
            Advice::Collapse => "collapse",
            Advice::PopulateRead => "populate_read",
            Advice::PopulateWrite => "populate_write",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    /// A present page that is not a zero page.
    Present,
    Zeropage,
    Swapped,
    None,
}

impl PageState {
    pub fn name(self) -> &'static str {
        match self {
            PageState::Present => "present",
            PageState::Zeropage => "zeropage",
            PageState::Swapped => "swapped",
            PageState::None => "none",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SmapsField {
    Rss,
    Pss,
    PssDirty,
    SharedClean,
    SharedDirty,
    PrivateClean,
    PrivateDirty,
    Referenced,
    Anonymous,
    Lazyfree,
    AnonHuge,
    ShmemPmdMapped,
    FilePmdMapped,
    Swap,
    SwapPss,
}

impl SmapsField {
    pub const ALL: [SmapsField; 15] = [
        SmapsField::Rss,
        SmapsField::Pss,
        SmapsField::PssDirty,
        SmapsField::SharedClean,
        SmapsField::SharedDirty,
        SmapsField::PrivateClean,
        SmapsField::PrivateDirty,
        SmapsField::Referenced,
        SmapsField::Anonymous,
        SmapsField::Lazyfree,
        SmapsField::AnonHuge,
        SmapsField::ShmemPmdMapped,
        SmapsField::FilePmdMapped,
        SmapsField::Swap,
        SmapsField::SwapPss,
    ];
    /// Scenario-format name (`pss_dirty`).
    pub fn name(self) -> &'static str {
        match self {
            SmapsField::Rss => "rss",
            SmapsField::Pss => "pss",
            SmapsField::PssDirty => "pss_dirty",
            SmapsField::SharedClean => "shared_clean",
            SmapsField::SharedDirty => "shared_dirty",
            SmapsField::PrivateClean => "private_clean",
            SmapsField::PrivateDirty => "private_dirty",
            SmapsField::Referenced => "referenced",
            SmapsField::Anonymous => "anonymous",
            SmapsField::Lazyfree => "lazyfree",
            SmapsField::AnonHuge => "anon_huge",
            SmapsField::ShmemPmdMapped => "shmem_pmd_mapped",
            SmapsField::FilePmdMapped => "file_pmd_mapped",
            SmapsField::Swap => "swap",
            SmapsField::SwapPss => "swap_pss",
        }
    }
    /// The field's name in /proc/PID/smaps (`Pss_Dirty`).
    pub fn kernel_name(self) -> &'static str {
        match self {
            SmapsField::Rss => "Rss",
            SmapsField::Pss => "Pss",
            SmapsField::PssDirty => "Pss_Dirty",
            SmapsField::SharedClean => "Shared_Clean",
            SmapsField::SharedDirty => "Shared_Dirty",
            SmapsField::PrivateClean => "Private_Clean",
            SmapsField::PrivateDirty => "Private_Dirty",
            SmapsField::Referenced => "Referenced",
            SmapsField::Anonymous => "Anonymous",
            SmapsField::Lazyfree => "LazyFree",
            SmapsField::AnonHuge => "AnonHugePages",
            SmapsField::ShmemPmdMapped => "ShmemPmdMapped",
            SmapsField::FilePmdMapped => "FilePmdMapped",
            SmapsField::Swap => "Swap",
            SmapsField::SwapPss => "SwapPss",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssKind {
    Anon,
    File,
    Shmem,
    Swap,
}

impl RssKind {
    pub fn name(self) -> &'static str {
        match self {
            RssKind::Anon => "anon",
            RssKind::File => "file",
            RssKind::Shmem => "shmem",
            RssKind::Swap => "swap",
        }
    }
}

/// Model-only folio fields of `expect folio`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolioField {
    Refcount,
    Mapcount,
    LargeMapcount,
    EntireMapcount,
    NrPagesMapped,
    Pincount,
    Slot0,
    Slot1,
    MaybeShared,
    PartiallyMapped,
    Deferred,
}

impl FolioField {
    pub fn name(self) -> &'static str {
        match self {
            FolioField::Refcount => "refcount",
            FolioField::Mapcount => "mapcount",
            FolioField::LargeMapcount => "large_mapcount",
            FolioField::EntireMapcount => "entire_mapcount",
            FolioField::NrPagesMapped => "nr_pages_mapped",
            FolioField::Pincount => "pincount",
            FolioField::Slot0 => "slot0",
            FolioField::Slot1 => "slot1",
            FolioField::MaybeShared => "maybe_shared",
            FolioField::PartiallyMapped => "partially_mapped",
            FolioField::Deferred => "deferred",
        }
    }
}

/// The value side of `expect folio` / `expect page`: which variant is legal depends on the
/// field (integers for counts, `PROC:COUNT`/`none` for slots, `true`/`false` for flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    Int(i64),
    Bool(bool),
    /// `PROC:COUNT`.
    Slot {
        proc: String,
        count: i64,
    },
    /// `none`: a free slot.
    NoSlot,
}

/// Model-only page fields of `expect page`: `page_mapcount` (integer), `anon_exclusive` and
/// `writable` (booleans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageField {
    PageMapcount,
    AnonExclusive,
    Writable,
}

impl PageField {
    pub fn name(self) -> &'static str {
        match self {
            PageField::PageMapcount => "page_mapcount",
            PageField::AnonExclusive => "anon_exclusive",
            PageField::Writable => "writable",
        }
    }
}

/// A page range inside a region, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub region: String,
    pub form: RangeForm,
    /// Position of the range token (for errors).
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeForm {
    /// `R`: the whole region.
    Whole,
    /// `R+OFF`: the one base page at OFF.
    Page { offset_bytes: u64 },
    /// `R[START..END]`.
    Span { start_bytes: u64, end_bytes: u64 },
    /// `R[START..+LEN]`.
    Len { start_bytes: u64, len_bytes: u64 },
}

impl RangeForm {
    /// Byte offsets [start, end) given the region's size.
    pub fn resolve(self, region_size_bytes: u64) -> (u64, u64) {
        match self {
            RangeForm::Whole => (0, region_size_bytes),
            RangeForm::Page { offset_bytes } => {
                (offset_bytes, offset_bytes + foliolab_types::PAGE_SIZE)
            }
            RangeForm::Span {
                start_bytes,
                end_bytes,
            } => (start_bytes, end_bytes),
            RangeForm::Len {
                start_bytes,
                len_bytes,
            } => (start_bytes, start_bytes + len_bytes),
        }
    }
}
