//! `linux-5.7`: the 6.1-era accounting ([`crate::linux_6_1::Era61`]) with the COW rule from
//! before 5.8: `do_wp_page` reused an anon page when `reuse_swap_page` found its mapcount
//! (for a THP, the largest page mapcount, `page_trans_huge_map_swapcount`) at most one,
//! whatever the reference count. A GUP or vmsplice reference held by another process does not
//! count, so the writer reuses a page someone else still reads: CVE-2020-29374, fixed in 5.8
//! by "gup: document and work around "COW can break either way" issue" and the move to
//! `page_count == 1`. Unlike 6.18, a PTE-mapped THP whose pages are each mapped once is reused
//! page by page, even while other MMs map other pages of it.

use crate::linux_6_1::{CowRule, Era61, St61};

/// A `linux-5.7` scheme.
pub fn new() -> Era61 {
    Era61::new(CowRule::Before58)
}

/// Small page: reuse iff mapped once (the swap count is zero in this model).
pub fn reuse_small(s: &St61) -> bool {
    s.page_mapcount(0) <= 1
}

/// THP: reuse iff no page of the folio is mapped more than once.
pub fn reuse_large(s: &St61) -> bool {
    s.max_page_mapcount() <= 1
}
