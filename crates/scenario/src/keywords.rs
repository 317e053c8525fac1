//! Names and keywords: a name is `[a-z][a-z0-9_]*` and not one of [`KEYWORDS`].

/// Every bare word the version-1 grammar uses as a literal (statement words, kinds,
/// protections, advices, states, options, smaps/folio/page fields, booleans). Words that only
/// appear inside a `KEY=VALUE` token (THP keys and values, `prot`, `align`, `shift`) and
/// counter names are not keywords.
pub const KEYWORDS: &[&str] = &[
    // statements (3.1 - 3.4)
    "scenario",
    "schemes",
    "thp",
    "swap",
    "file",
    "spawn",
    "shrink",
    "khugepaged",
    "expect",
    "stat",
    "observe",
    "stats",
    "map",
    "unmap",
    "protect",
    "advise",
    "move",
    "write",
    "read",
    "fork",
    "exit",
    "pin",
    "splice",
    "release",
    "migrate",
    "remember",
    // expectation words
    "same",
    "new",
    "at",
    "present",
    "zeropage",
    "swapped",
    "none",
    "mapcount",
    "exclusive",
    "shared",
    "pmd",
    "pte",
    "order",
    "faults",
    "smaps",
    "rss",
    "pipe",
    "folio",
    "page",
    // map kinds
    "anon",
    "shmem",
    "private",
    "driver",
    "mixedmap",
    "pfnmap",
    // protections and pin options
    "r",
    "rw",
    "rx",
    "rwx",
    "ro",
    "longterm",
    "short",
    "fast",
    // advices
    "hugepage",
    "nohugepage",
    "dontneed",
    "free",
    "pageout",
    "cold",
    "willneed",
    "dontfork",
    "dofork",
    "wipeonfork",
    "keeponfork",
    "collapse",
    "populate_read",
    "populate_write",
    // smaps fields not listed above
    "pss",
    "pss_dirty",
    "shared_clean",
    "shared_dirty",
    "private_clean",
    "private_dirty",
    "referenced",
    "anonymous",
    "lazyfree",
    "anon_huge",
    "shmem_pmd_mapped",
    "file_pmd_mapped",
    "swap_pss",
    // folio and page fields not listed above
    "refcount",
    "large_mapcount",
    "entire_mapcount",
    "nr_pages_mapped",
    "pincount",
    "slot0",
    "slot1",
    "maybe_shared",
    "partially_mapped",
    "deferred",
    "page_mapcount",
    "anon_exclusive",
    "writable",
    // booleans
    "true",
    "false",
];

/// True when `word` is a keyword.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// True when `text` has the shape of a name (`[a-z][a-z0-9_]*`), keyword or not.
pub(crate) fn name_shaped(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Why `text` is not a valid name, if it is not.
pub(crate) fn name_error(text: &str) -> Option<String> {
    if !name_shaped(text) {
        Some("a name is a lower-case letter followed by lower-case letters, digits or `_`".into())
    } else if is_keyword(text) {
        Some(format!("`{text}` is a keyword and cannot be a name"))
    } else {
        None
    }
}
