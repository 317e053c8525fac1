//! The kernel COW selftest (`tools/testing/selftests/mm/cow.c`, as run on this machine:
//! torvalds/linux 49850bd02658) as foliolab scenarios.
//!
//! `generate()` returns every scenario of `tests/cow/`, deterministically:
//! - `anon/NN-case/CONFIG.scn`: the 14 anonymous test cases, each in the 52 configurations
//!   cow.c runs without hugetlb (base page, swapped-out base page; for every THP size 16K..2M:
//!   PTE-mapped, swapped-out PTE-mapped, single PTE, single PTE of swapped-out, partially
//!   mremap()'ed, partially shared; for 2M also PMD-mapped and swapped-out PMD-mapped);
//! - `collapse/*.scn`: the 4 anonymous THP cases (MADV_COLLAPSE before or after fork);
//! - `non-anon/*.scn`: the 3 non-anonymous cases with the shared zeropage, a memfd, a tmpfile
//!   and the huge zeropage (hugetlb is out of scope).
//!
//! What cow.c checks is a value (no leak; the pin sees the write), so the scenarios check
//! values. Where cow.c skips a test because the setup did not take (no THP populated, pageout
//! did not swap, MADV_COLLAPSE failed), the scenario expects the setup to have taken instead.

use std::path::{Path, PathBuf};

/// One generated scenario: its path relative to `tests/cow/` and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub text: String,
}

/// The THP sizes this kernel supports for anonymous memory, in cow.c's order.
pub const THP_SIZES: [u64; 8] = [
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
    2 << 20,
];

const PMD_SIZE: u64 = 2 << 20;
const PAGE: u64 = 4 << 10;

/// A size or offset with the largest exact binary unit, as the canonical printer writes it.
fn sz(bytes: u64) -> String {
    if bytes == 0 {
        "0".into()
    } else if bytes.is_multiple_of(1 << 30) {
        format!("{}G", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{}M", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{}K", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

fn kb(bytes: u64) -> u64 {
    bytes >> 10
}

/// Order of a folio of `bytes`.
fn order(bytes: u64) -> u32 {
    (bytes / PAGE).trailing_zeros()
}

/// The 14 anonymous test cases, in cow.c's order: (slug, cow.c description).
pub const ANON_CASES: [(&str, &str); 14] = [
    ("01-cow-after-fork", "Basic COW after fork()"),
    (
        "02-cow-after-fork-mprotect",
        "Basic COW after fork() with mprotect() optimization",
    ),
    ("03-vmsplice-unmap-in-child", "vmsplice() + unmap in child"),
    (
        "04-vmsplice-unmap-in-child-mprotect",
        "vmsplice() + unmap in child with mprotect() optimization",
    ),
    (
        "05-vmsplice-before-fork-unmap-in-parent",
        "vmsplice() before fork(), unmap in parent after fork()",
    ),
    (
        "06-vmsplice-unmap-in-parent-after-fork",
        "vmsplice() + unmap in parent after fork()",
    ),
    (
        "07-iouring-fixed-buffer-ro-mapped",
        "R/O-mapping a page registered as iouring fixed buffer",
    ),
    (
        "08-iouring-fixed-buffer-fork",
        "fork() with an iouring fixed buffer",
    ),
    ("09-ro-pin-shared", "R/O GUP pin on R/O-mapped shared page"),
    (
        "10-ro-pin-fast-shared",
        "R/O GUP-fast pin on R/O-mapped shared page",
    ),
    (
        "11-ro-pin-previously-shared",
        "R/O GUP pin on R/O-mapped previously-shared page",
    ),
    (
        "12-ro-pin-fast-previously-shared",
        "R/O GUP-fast pin on R/O-mapped previously-shared page",
    ),
    (
        "13-ro-pin-exclusive",
        "R/O GUP pin on R/O-mapped exclusive page",
    ),
    (
        "14-ro-pin-fast-exclusive",
        "R/O GUP-fast pin on R/O-mapped exclusive page",
    ),
];

/// How cow.c prepares the memory it hands to an anonymous test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    BasePage {
        swapped: bool,
    },
    /// PMD-mapped THP (2M only).
    Pmd {
        swapped: bool,
    },
    PteMapped {
        size: u64,
        swapped: bool,
    },
    SinglePte {
        size: u64,
        swapped: bool,
    },
    PartialMremap {
        size: u64,
    },
    PartialShared {
        size: u64,
    },
}

impl Config {
    /// The configurations of one anonymous case, in cow.c's order (hugetlb left out).
    pub fn all() -> Vec<Config> {
        let mut v = vec![
            Config::BasePage { swapped: false },
            Config::BasePage { swapped: true },
        ];
        for &size in &THP_SIZES {
            if size == PMD_SIZE {
                v.push(Config::Pmd { swapped: false });
                v.push(Config::Pmd { swapped: true });
            }
            for swapped in [false, true] {
                v.push(Config::PteMapped { size, swapped });
            }
            for swapped in [false, true] {
                v.push(Config::SinglePte { size, swapped });
            }
            v.push(Config::PartialMremap { size });
            v.push(Config::PartialShared { size });
        }
        v
    }

    fn swapped(self) -> bool {
        matches!(
            self,
            Config::BasePage { swapped: true }
                | Config::Pmd { swapped: true }
                | Config::PteMapped { swapped: true, .. }
                | Config::SinglePte { swapped: true, .. }
        )
    }

    fn thp_size(self) -> Option<u64> {
        match self {
            Config::BasePage { .. } => None,
            Config::Pmd { .. } => Some(PMD_SIZE),
            Config::PteMapped { size, .. }
            | Config::SinglePte { size, .. }
            | Config::PartialMremap { size }
            | Config::PartialShared { size } => Some(size),
        }
    }

    /// File name (without `.scn`).
    pub fn slug(self) -> String {
        let sw = if self.swapped() { "-swapped" } else { "" };
        match self {
            Config::BasePage { .. } => format!("base-page{sw}"),
            Config::Pmd { .. } => format!("thp-2m{sw}"),
            Config::PteMapped { size, .. } => {
                format!("pte-mapped-thp-{}{sw}", sz(size).to_lowercase())
            }
            Config::SinglePte { size, .. } => {
                format!("single-pte-thp-{}{sw}", sz(size).to_lowercase())
            }
            Config::PartialMremap { size } => {
                format!("partial-mremap-thp-{}", sz(size).to_lowercase())
            }
            Config::PartialShared { size } => {
                format!("partial-shared-thp-{}", sz(size).to_lowercase())
            }
        }
    }

    /// cow.c's test name suffix.
    pub fn desc(self) -> String {
        match self {
            Config::BasePage { swapped: false } => "with base page".into(),
            Config::BasePage { swapped: true } => "with swapped out base page".into(),
            Config::Pmd { swapped: false } => format!("with THP ({} kB)", kb(PMD_SIZE)),
            Config::Pmd { swapped: true } => {
                format!("with swapped-out THP ({} kB)", kb(PMD_SIZE))
            }
            Config::PteMapped {
                size,
                swapped: false,
            } => format!("with PTE-mapped THP ({} kB)", kb(size)),
            Config::PteMapped {
                size,
                swapped: true,
            } => format!("with swapped-out, PTE-mapped THP ({} kB)", kb(size)),
            Config::SinglePte {
                size,
                swapped: false,
            } => format!("with single PTE of THP ({} kB)", kb(size)),
            Config::SinglePte {
                size,
                swapped: true,
            } => format!("with single PTE of swapped-out THP ({} kB)", kb(size)),
            Config::PartialMremap { size } => {
                format!("with partially mremap()'ed THP ({} kB)", kb(size))
            }
            Config::PartialShared { size } => {
                format!("with partially shared THP ({} kB)", kb(size))
            }
        }
    }
}

/// A scenario being written: global lines, then process lines.
struct Scn {
    lines: Vec<String>,
}

impl Scn {
    fn new(title: &str, notes: &[&str]) -> Scn {
        let mut lines = vec!["scenario 1".to_string(), format!("# cow.c: \"{title}\"")];
        for n in notes {
            lines.push(format!("# {n}"));
        }
        lines.push(
            "# Generated by tools/cowgen from tools/testing/selftests/mm/cow.c; do not edit \
             (regenerate: cargo run -p cowgen)."
                .to_string(),
        );
        Scn { lines }
    }
    /// Adds a line; a trailing comment (after two spaces) starts at column 41.
    fn l(&mut self, s: impl Into<String>) {
        let s: String = s.into();
        let line = match s.find("  #") {
            Some(i) if !s.starts_with('#') => {
                let (stmt, comment) = (s[..i].trim_end(), s[i..].trim_start());
                format!("{stmt:<39} {comment}")
            }
            _ => s,
        };
        self.lines.push(line);
    }
    fn text(&self) -> String {
        let mut t = self.lines.join("\n");
        t.push('\n');
        t
    }
}

/// Writes the THP policy, the swap device and the memory of one configuration. Returns the
/// range handed to the test case (cow.c's `mem`, `size`), which always starts at offset 0 of
/// region `a`, and its length.
fn setup(s: &mut Scn, cfg: Config) -> (String, u64) {
    match cfg.thp_size() {
        None => {}
        Some(PMD_SIZE) => {
            s.l("# cow.c enables the tested size and disables the PMD size unless it is the tested one.");
            s.l("thp 2M=madvise");
        }
        Some(size) => {
            s.l("# cow.c enables the tested size and disables the PMD size unless it is the tested one.");
            s.l(format!("thp {}=madvise 2M=never", sz(size)));
        }
    }
    if cfg.swapped() {
        s.l("swap 64M");
    }
    s.l("spawn p");
    let Some(size) = cfg.thp_size() else {
        s.l("p: map a 4K align=4K");
        s.l("p: advise a nohugepage");
        s.l("p: write a 0x1");
        if cfg.swapped() {
            s.l("p: advise a pageout");
            s.l("p: expect a swapped             # cow.c skips when MADV_PAGEOUT did not swap");
        }
        return ("a".into(), PAGE);
    };
    s.l(format!("p: map a {} align={}", sz(size), sz(size)));
    s.l("p: advise a hugepage");
    s.l("p: write a+0x0 0x1");
    s.l(format!(
        "p: expect a order == {}          # cow.c skips when no THP was populated",
        order(size)
    ));
    s.l("p: write a 0x1");
    let range = match cfg {
        Config::Pmd { .. } => {
            s.l("p: expect a pmd");
            ("a".to_string(), size)
        }
        Config::PteMapped { .. } => {
            s.l("# PTE-map the THP: mprotect one page read-only and back (a no-op below the PMD size).");
            s.l(format!("p: protect a+{} r", sz(PAGE)));
            s.l(format!("p: protect a+{} rw", sz(PAGE)));
            s.l("p: expect a pte");
            ("a".to_string(), size)
        }
        Config::SinglePte { .. } => {
            s.l("# Discard all but the first page: one PTE maps one page of the THP.");
            s.l(format!("p: advise a[{}..{}] dontneed", sz(PAGE), sz(size)));
            s.l(format!("p: expect a[{}..{}] none", sz(PAGE), sz(size)));
            ("a[0..4K]".to_string(), PAGE)
        }
        Config::PartialMremap { .. } => {
            let half = size / 2;
            s.l("# mremap() the upper half elsewhere; the test runs on the lower half.");
            s.l(format!("p: move a[{}..{}] b shift=4K", sz(half), sz(size)));
            (format!("a[0..{}]", sz(half)), half)
        }
        Config::PartialShared { .. } => {
            s.l("# Share only the first page with a child that exits at once.");
            s.l(format!("p: advise a[{}..{}] dontfork", sz(PAGE), sz(size)));
            s.l("p: fork z");
            s.l("z: exit");
            s.l(format!("p: advise a[{}..{}] dofork", sz(PAGE), sz(size)));
            ("a".to_string(), size)
        }
        Config::BasePage { .. } => unreachable!(),
    };
    if cfg.swapped() {
        let range = &range.0;
        s.l(format!("p: advise {range} pageout"));
        s.l(format!(
            "p: expect {range} swapped      # cow.c skips when MADV_PAGEOUT did not swap"
        ));
    }
    range
}

/// What one vmsplice() of cow.c takes: a default pipe has 16 buffers, one per page, and
/// cow.c calls vmsplice() once, so at most the first 64K of the range are spliced (and
/// compared).
const PIPE_DEFAULT: u64 = 64 << 10;

/// The body of anonymous case `n` (1..=14) on range `m` of `len` bytes at offset 0 of `a`.
fn anon_case(s: &mut Scn, n: usize, m: &str, len: u64, regions: &[&str]) {
    // With page observations (`regions` not empty), every process records its pages before
    // it exits, and the parent at the end, so that `foliolab check` compares frames, folios,
    // mapcounts and PMD mappings, not only values.
    let observe = |s: &mut Scn, p: &str| {
        for r in regions {
            s.l(format!("{p}: observe {r}"));
        }
    };
    let spliced = if len > PIPE_DEFAULT {
        format!("a[0..{}]", sz(PIPE_DEFAULT))
    } else {
        m.to_string()
    };
    let splice_note = if len > PIPE_DEFAULT {
        "  # vmsplice() into a default pipe takes the first 16 pages"
    } else {
        ""
    };
    match n {
        1 | 2 => {
            s.l("p: fork c");
            s.l(format!(
                "c: read {m}                       # the child saves the old contents"
            ));
            if n == 2 {
                s.l(format!("p: protect {m} r"));
                s.l(format!("p: protect {m} rw"));
            }
            s.l(format!("p: write {m} 0xff"));
            s.l(format!(
                "c: expect {m} == 0x1              # no leak from parent into child"
            ));
            {
                observe(s, "c");
                s.l("c: exit");
            }
        }
        3 | 4 => {
            s.l("p: fork c");
            s.l(format!(
                "c: read {m}                       # the child saves the old contents"
            ));
            if splice_note.is_empty() {
                s.l(format!(
                    "c: splice q {spliced}  # a R/O GUP reference (FOLL_GET)"
                ));
            } else {
                s.l(format!(
                    "c: splice q {spliced}{splice_note} (R/O GUP, FOLL_GET)"
                ));
            }
            s.l(format!("c: unmap {m}"));
            if n == 4 {
                s.l(format!("p: protect {m} r"));
                s.l(format!("p: protect {m} rw"));
            }
            s.l(format!("p: write {m} 0xff"));
            s.l("c: expect pipe q == 0x1           # no leak from parent into child (CVE-2020-29374)");
            {
                observe(s, "c");
                s.l("c: exit");
            }
        }
        5 | 6 => {
            s.l(format!(
                "p: read {m}                       # the parent saves the old contents"
            ));
            if n == 5 {
                s.l(format!("p: splice q {spliced}{splice_note}"));
                s.l("p: fork c");
            } else {
                s.l("p: fork c");
                s.l(format!("p: splice q {spliced}{splice_note}"));
            }
            s.l(format!("p: unmap {m}"));
            s.l(format!("c: write {m} 0xff"));
            {
                observe(s, "c");
                s.l("c: exit");
            }
            s.l("p: expect pipe q == 0x1           # no leak from child into parent");
            s.l("p: release q");
        }
        7 => {
            s.l(format!("p: pin k {m} rw longterm          # io_uring fixed buffer: FOLL_WRITE|FOLL_PIN|FOLL_LONGTERM"));
            s.l(format!("p: protect {m} r"));
            s.l(format!("p: protect {m} rw"));
            s.l(format!("p: write {m} 0xff"));
            s.l("p: expect pin k == 0xff           # the pin sees the write");
            s.l("p: release k");
        }
        8 => {
            s.l(format!("p: pin k {m} rw longterm          # io_uring fixed buffer: FOLL_WRITE|FOLL_PIN|FOLL_LONGTERM"));
            s.l("p: fork c                         # the pinned pages are copied for the child");
            s.l(format!("p: write {m} 0xff"));
            s.l("p: expect pin k == 0xff           # the pin sees the write");
            {
                observe(s, "c");
                s.l("c: exit");
            }
            s.l("p: release k");
        }
        9..=14 => {
            let fast = if n.is_multiple_of(2) { " fast" } else { "" };
            match n {
                9 | 10 => {
                    s.l("p: fork c                         # the pages are R/O-mapped and shared")
                }
                11 | 12 => {
                    s.l("p: fork c");
                    {
                        observe(s, "c");
                        s.l("c: exit                           # R/O-mapped, no longer shared");
                    }
                }
                _ => {
                    s.l(format!(
                        "p: protect {m} r                  # R/O-mapped, exclusive"
                    ));
                    s.l(format!("p: protect {m} rw"));
                }
            }
            s.l(format!("p: pin k {m} ro longterm{fast}          # model-only: gup_test PIN_LONGTERM_TEST_START"));
            s.l(format!("p: write {m} 0xff"));
            s.l("p: expect pin k == 0xff           # the pin sees the write");
            s.l("p: release k");
            if n == 9 || n == 10 {
                {
                    observe(s, "c");
                    s.l("c: exit");
                }
            }
        }
        _ => unreachable!(),
    }
    observe(s, "p");
    s.l("observe stats");
}

fn anon_files(observe_pages: bool) -> Vec<File> {
    let mut out = Vec::new();
    for (i, (slug, desc)) in ANON_CASES.iter().enumerate() {
        let n = i + 1;
        for cfg in Config::all() {
            let title = format!("{desc} ... {}", cfg.desc());
            let mut notes: Vec<&str> = Vec::new();
            if n >= 9 {
                notes.push("R/O GUP pins are model-only: the probe has no gup_test (this kernel skips them too).");
            }
            let mut s = Scn::new(&title, &notes);
            let (m, len) = setup(&mut s, cfg);
            let regions: &[&str] = if !observe_pages {
                &[]
            } else if matches!(cfg, Config::PartialMremap { .. }) {
                &["a", "b"]
            } else {
                &["a"]
            };
            for r in regions {
                s.l(format!("p: observe {r}"));
            }
            anon_case(&mut s, n, &m, len, regions);
            out.push(File {
                path: PathBuf::from(format!("anon/{slug}/{}.scn", cfg.slug())),
                text: s.text(),
            });
        }
    }
    out
}

/// The 4 anonymous THP cases: (slug, cow.c description).
pub const COLLAPSE_CASES: [(&str, &str); 4] = [
    (
        "collapse-before-fork",
        "Basic COW after fork() when collapsing before fork()",
    ),
    (
        "collapse-after-fork-fully-shared",
        "Basic COW after fork() when collapsing after fork() (fully shared)",
    ),
    (
        "collapse-after-fork-lower-shared",
        "Basic COW after fork() when collapsing after fork() (lower shared)",
    ),
    (
        "collapse-after-fork-upper-shared",
        "Basic COW after fork() when collapsing after fork() (upper shared)",
    ),
];

fn collapse_files(observe_pages: bool) -> Vec<File> {
    let mut out = Vec::new();
    for (i, (slug, desc)) in COLLAPSE_CASES.iter().enumerate() {
        let mut s = Scn::new(
            desc,
            &["The THP knobs keep their boot values (2M inherits \"madvise\")."],
        );
        s.l("spawn p");
        s.l("p: map a 2M");
        s.l("p: advise a hugepage");
        s.l("p: write a+0x0 0x1");
        s.l("p: expect a order == 9            # cow.c skips when no THP was populated");
        s.l("p: write a 0x1");
        s.l("# PTE-map the THP: mprotect one page read-only and back.");
        s.l("p: protect a+4K r");
        s.l("p: protect a+4K rw");
        s.l("p: expect a pte");
        let checked = match i {
            0 => {
                s.l("p: advise a collapse");
                s.l("p: expect a pmd                   # cow.c skips when MADV_COLLAPSE failed");
                s.l("p: fork c");
                "a"
            }
            1 => {
                s.l("p: fork c");
                "a"
            }
            2 => {
                s.l("p: advise a[1M..2M] dontfork      # COW-share only the lower half");
                s.l("p: fork c");
                "a[0..1M]"
            }
            _ => {
                s.l("p: advise a[0..1M] dontfork       # COW-share only the upper half");
                s.l("p: fork c");
                "a[1M..2M]"
            }
        };
        s.l(format!(
            "c: read {checked}                       # the child saves the old contents"
        ));
        if i >= 2 {
            s.l("p: advise a dofork                # merge the VMAs again so that collapse can work");
        }
        if i >= 1 {
            s.l("p: advise a collapse              # before anyone modified the COW-shared pages");
            s.l("p: expect a pmd                   # cow.c skips when MADV_COLLAPSE failed");
        }
        let observe = |s: &mut Scn| {
            if observe_pages {
                s.l("p: observe a");
                s.l("c: observe a");
            }
        };
        observe(&mut s);
        s.l("p: write a 0xff");
        s.l(format!(
            "c: expect {checked} == 0x1              # no leak from parent into child"
        ));
        observe(&mut s);
        s.l("c: exit");
        out.push(File {
            path: PathBuf::from(format!("collapse/{slug}.scn")),
            text: s.text(),
        });
    }
    out
}

fn non_anon_files() -> Vec<File> {
    let cases = [
        ("cow", "Basic COW"),
        ("ro-pin", "R/O longterm GUP pin"),
        ("ro-pin-fast", "R/O longterm GUP-fast pin"),
    ];
    let backings = [
        ("zeropage", "with shared zeropage"),
        ("memfd", "with memfd"),
        ("tmpfile", "with tmpfile"),
        ("huge-zeropage", "with huge zeropage"),
    ];
    let mut out = Vec::new();
    for (cslug, cdesc) in cases {
        for (bslug, bdesc) in backings {
            let mut notes: Vec<&str> = Vec::new();
            if cslug != "cow" {
                notes.push("R/O GUP pins are model-only: the probe has no gup_test (this kernel skips them too).");
            }
            match bslug {
                "memfd" | "tmpfile" => notes.push(
                    "A private and a shared read-only mapping of a one-page file on tmpfs (memfd and tmpfile alike).",
                ),
                "huge-zeropage" => notes.push(
                    "cow.c at 49850bd02658 reads the pointer, not the memory (FORCE_READ(mem)), so nothing is populated and this kernel skips the test; here the memory is read as intended.",
                ),
                _ => {}
            }
            let mut s = Scn::new(&format!("{cdesc} ... {bdesc}"), &notes);
            let size = if bslug == "huge-zeropage" {
                s.l("thp 2M=madvise");
                PMD_SIZE
            } else {
                PAGE
            };
            if matches!(bslug, "memfd" | "tmpfile") {
                s.l("file f 4K");
            }
            s.l("spawn p");
            match bslug {
                "zeropage" => {
                    s.l("p: map a 4K align=4K");
                    s.l("p: map s 4K prot=r align=4K");
                }
                "memfd" | "tmpfile" => {
                    s.l("p: map a 4K file f private align=4K");
                    s.l("p: map s 4K file f shared prot=r align=4K");
                }
                _ => {
                    s.l("p: map a 2M");
                    s.l("p: map s 2M prot=r");
                    s.l("p: advise a hugepage");
                    s.l("p: advise s hugepage");
                }
            }
            s.l("p: read a                         # populate");
            s.l("p: read s");
            match bslug {
                "zeropage" => {
                    s.l("p: expect a zeropage");
                    s.l("p: expect s zeropage");
                }
                "huge-zeropage" => {
                    s.l("p: expect a zeropage            # cow.c skips when no huge zeropage was populated");
                    s.l(format!("p: expect a order == {}", order(size)));
                    s.l("p: expect s zeropage");
                    s.l(format!("p: expect s order == {}", order(size)));
                }
                _ => {}
            }
            match cslug {
                "cow" => {
                    s.l("p: read s                         # save the old contents");
                    s.l("p: write a 0xff");
                    s.l("p: expect s == 0x0                # the other mapping is unchanged");
                    s.l("p: expect a == 0xff");
                }
                _ => {
                    let fast = if cslug == "ro-pin-fast" { " fast" } else { "" };
                    s.l(format!("p: pin k a ro longterm{fast}"));
                    s.l("p: write a 0xff");
                    s.l("p: expect pin k == 0xff           # the pin sees the write");
                    s.l("p: release k");
                }
            }
            out.push(File {
                path: PathBuf::from(format!("non-anon/{cslug}-{bslug}.scn")),
                text: s.text(),
            });
        }
    }
    out
}

/// Every scenario of `tests/cow/`, in a fixed order.
pub fn generate() -> Vec<File> {
    generate_with(false)
}

/// `generate()`, or with `observe_pages` the anonymous scenarios also record every page of
/// their regions after the setup, before each child exits and at the end (`observe`). Those
/// records include the kpageflags of every page, and the model does not age pages
/// (PG_referenced, PG_active) as the kernel does, so this variant is for reading the
/// differences of `foliolab check`, not for committing (`cowgen --observe DIR`).
pub fn generate_with(observe_pages: bool) -> Vec<File> {
    let mut v = anon_files(observe_pages);
    v.extend(collapse_files(observe_pages));
    v.extend(non_anon_files());
    v
}

/// Every `.scn` file under `dir`, sorted.
pub fn scn_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(scn_files(&p));
        } else if p.extension().is_some_and(|x| x == "scn") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// What differs between `dir` and `files`: one line per missing, changed or extra file.
pub fn differences(dir: &Path, files: &[File]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        match std::fs::read_to_string(dir.join(&f.path)) {
            Ok(t) if t == f.text => {}
            Ok(_) => out.push(format!("changed: {}", f.path.display())),
            Err(_) => out.push(format!("missing: {}", f.path.display())),
        }
    }
    for p in scn_files(dir) {
        let rel = p.strip_prefix(dir).unwrap();
        if !files.iter().any(|f| f.path == rel) {
            out.push(format!("extra: {}", rel.display()));
        }
    }
    out
}
