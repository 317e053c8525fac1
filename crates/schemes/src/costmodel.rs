//! The cost model of the paths each design changes: fork (`copy_present_ptes`) and munmap
//! (`zap_present_ptes` and the freeing after the TLB flush) of PTE-mapped anon folios, the
//! shape of David Hildenbrand's `pte-mapped-folio-benchmarks.c` (1 GiB of folios of one
//! size). For each design it counts every per-page and per-folio operation its kernel code
//! performs there ([`Work`], each with the kernel function it comes from), not only its
//! mapcount fields; weights in nanoseconds per operation are fitted to published runtimes
//! ([`PUBLISHED`]) by non-negative least squares, and each design's predicted runtime ratio
//! is shown next to the published one. docs/cost-model.md gives the sources.

use foliolab_types::Order;

/// The two measured operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Fork,
    Munmap,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Fork => "fork",
            Op::Munmap => "munmap",
        }
    }
}

/// A kind of work, counted per folio; its weight is fitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Per page table entry of fork: read the parent's PTE, write-protect it (an atomic
    /// bit clear on x86), write the child's (`copy_present_ptes`, `folio_pte_batch`,
    /// `wrprotect_ptes`, `set_ptes`).
    ForkPte,
    /// Per page of munmap independent of the design: `get_and_clear_full_ptes` (an xchg
    /// per PTE), the TLB gather, and freeing the page (`free_pages_prepare`,
    /// `free_tail_page_prepare` per tail page).
    ZapPage,
    /// One call of the per-PTE-batch path: `copy_present_ptes`/`zap_present_ptes` with
    /// `vm_normal_page`, `page_folio`, the rmap call, rss accounting, and its atomic on the
    /// folio's `_refcount` (`folio_get`/`folio_ref_add` at fork, `folios_put_refs` or
    /// `release_pages` at munmap); per page before batching (6.9), per batch after. The
    /// refcount atomic is not a kind of its own: it comes once per call in every kernel, so
    /// no published runtime can tell the two apart.
    Call,
    /// An atomic on a tail `struct page` word: `_mapcount` (`atomic_inc` in
    /// `__folio_try_dup_anon_rmap`, `atomic_add_negative` in `__folio_remove_rmap`),
    /// `ClearPageAnonExclusive` at fork (`clear_bit`), or `exact`'s per-(MM, page) pair.
    PageAtomic,
    /// An atomic on a folio word in page[1]: `_large_mapcount`, `_nr_pages_mapped`,
    /// `_entire_mapcount`, rmap-id's values and seqcount, vma-count's VMA count.
    FolioAtomic,
    /// The MM_ID bit spinlock around the page[1] words (`folio_lock_large_mapcount`).
    Lock,
    /// A statistics update: `__lruvec_stat_mod_folio` (NR_ANON_MAPPED) when pages become
    /// unmapped; per page before batching.
    Stat,
    /// Per folio freed: `free_unref_folios`/`__free_pages_ok`, the buddy merge.
    FreeFolio,
}

/// Every work kind, in report order.
pub const WORKS: [Work; 8] = [
    Work::ForkPte,
    Work::ZapPage,
    Work::Call,
    Work::PageAtomic,
    Work::FolioAtomic,
    Work::Lock,
    Work::Stat,
    Work::FreeFolio,
];

impl Work {
    pub fn name(self) -> &'static str {
        match self {
            Work::ForkPte => "fork PTE",
            Work::ZapPage => "zap+free page",
            Work::Call => "call + refcount",
            Work::PageAtomic => "struct page atomic",
            Work::FolioAtomic => "page[1] atomic",
            Work::Lock => "MM_ID lock",
            Work::Stat => "stat update",
            Work::FreeFolio => "free folio",
        }
    }
}

/// How `_nr_pages_mapped` is kept on removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NrPagesMapped {
    None,
    /// One `atomic_dec_return` per page (6.2 to 6.11).
    PerPage,
    /// One `atomic_sub_return` per batch (6.12+, lore:20240807115515.1640951-1-david@redhat.com).
    PerBatch,
}

/// What a design's kernel does on the fork and zap paths.
#[derive(Clone, Copy, Debug)]
pub struct Paths {
    pub name: &'static str,
    /// PTE batching of fork and zap (6.9+).
    pub batched: bool,
    /// Per-page `_mapcount` (PAGE_MAPCOUNT).
    pub page_mapcount: bool,
    /// PageAnonExclusive cleared page by page at fork (5.19+).
    pub anon_exclusive: bool,
    pub nr_pages_mapped: NrPagesMapped,
    /// `_large_mapcount` updated atomically (6.10 to 6.14; under the MM_ID lock after).
    pub large_mapcount_atomic: bool,
    pub mm_id: bool,
    /// Further atomics on page[1] words per rmap call, by folio order (rmap-id's values and
    /// seqcount, vma-count's VMA count).
    pub extra_folio_atomics: fn(Order) -> u64,
    /// `exact`'s per-(MM, page) pair update per page.
    pub pair_per_page: bool,
}

fn none(_: Order) -> u64 {
    0
}

fn one(_: Order) -> u64 {
    1
}

/// rmap-id: one value per sub-id (1, 2 or 4 by order) and the seqcount's two updates.
fn rmap_id_atomics(o: Order) -> u64 {
    crate::rmap_id::rmap_values(o) + 2
}

const PRE_BATCHING: Paths = Paths {
    name: "",
    batched: false,
    page_mapcount: true,
    anon_exclusive: true,
    nr_pages_mapped: NrPagesMapped::PerPage,
    large_mapcount_atomic: false,
    mm_id: false,
    extra_folio_atomics: none,
    pair_per_page: false,
};

/// 6.9: batched, `_nr_pages_mapped` still per page, no `_large_mapcount` yet: the kernel
/// the batching series was measured on.
pub const LINUX_6_9: Paths = Paths {
    name: "linux-6.9",
    batched: true,
    ..PRE_BATCHING
};

/// 6.11 with the per-batch `_nr_pages_mapped`: the base the MM_ID series was measured on.
pub const LINUX_6_11: Paths = Paths {
    name: "linux-6.11",
    batched: true,
    nr_pages_mapped: NrPagesMapped::PerBatch,
    large_mapcount_atomic: true,
    ..PRE_BATCHING
};

/// The paths of a registered design (`None` for a name the model has none for).
pub fn paths(design: &str) -> Option<Paths> {
    let p = match design {
        "linux-5.7" => Paths {
            anon_exclusive: false,
            nr_pages_mapped: NrPagesMapped::None,
            ..PRE_BATCHING
        },
        "linux-6.1" => Paths {
            nr_pages_mapped: NrPagesMapped::None,
            ..PRE_BATCHING
        },
        "linux-6.5" => PRE_BATCHING,
        "linux-6.14" => LINUX_6_11,
        "linux-6.18" => Paths {
            large_mapcount_atomic: false,
            mm_id: true,
            ..LINUX_6_11
        },
        "linux-6.18-npm" | "rfc-2026" => Paths {
            page_mapcount: false,
            nr_pages_mapped: NrPagesMapped::None,
            large_mapcount_atomic: false,
            mm_id: true,
            ..LINUX_6_11
        },
        "vma-count" => Paths {
            page_mapcount: false,
            nr_pages_mapped: NrPagesMapped::None,
            large_mapcount_atomic: false,
            extra_folio_atomics: one,
            ..LINUX_6_11
        },
        // The RFC (Nov 2023) came before PTE batching of fork and zap (6.9).
        "rmap-id" => Paths {
            extra_folio_atomics: rmap_id_atomics,
            ..PRE_BATCHING
        },
        "exact" => Paths {
            pair_per_page: true,
            mm_id: true,
            nr_pages_mapped: NrPagesMapped::None,
            ..LINUX_6_11
        },
        _ => return None,
    };
    Some(Paths {
        name: design_name(design)?,
        ..p
    })
}

fn design_name(design: &str) -> Option<&'static str> {
    crate::registry::design(design).map(|d| d.name)
}

/// Operations per folio of `order`, mapped by PTEs in one VMA and one page table, for
/// `op`, by [`WORKS`] index.
pub fn counts(p: &Paths, op: Op, order: Order) -> [f64; 8] {
    let n = order.nr_pages() as f64;
    let calls = if p.batched { 1.0 } else { n };
    let mut c = [0.0; 8];
    c[2] = calls;
    let large = order.0 > 0;
    // A small folio's only mapcount is its page's `_mapcount`, in every design.
    let per_page_count = p.page_mapcount || !large;
    let page_atomics = (per_page_count as u64 as f64 + p.pair_per_page as u64 as f64) * n;
    let folio_atomics = |c: &mut [f64; 8]| {
        if large {
            c[4] +=
                calls * (p.large_mapcount_atomic as u64 + (p.extra_folio_atomics)(order)) as f64;
            c[5] = calls * p.mm_id as u64 as f64;
        }
    };
    match op {
        Op::Fork => {
            c[0] = n;
            c[3] = page_atomics + n * p.anon_exclusive as u64 as f64;
            folio_atomics(&mut c);
        }
        Op::Munmap => {
            c[1] = n;
            c[3] = page_atomics;
            folio_atomics(&mut c);
            if large {
                c[4] += match p.nr_pages_mapped {
                    NrPagesMapped::None => 0.0,
                    NrPagesMapped::PerPage => n,
                    NrPagesMapped::PerBatch => calls,
                };
            }
            c[6] = calls;
            c[7] = 1.0;
        }
    }
    c
}

/// Predicted time for 1 GiB of folios of `order`, in the weights' unit (ns), from the
/// per-folio counts.
pub fn predict(p: &Paths, op: Op, order: Order, w: &[f64; 8]) -> f64 {
    let folios = (1u64 << 18) as f64 / order.nr_pages() as f64;
    let c = counts(p, op, order);
    folios * c.iter().zip(w).map(|(c, w)| c * w).sum::<f64>()
}

/// The folio sizes of the published tables: 4K, 16K, ..., 2M.
pub const ORDERS: [Order; 9] = [
    Order(0),
    Order(2),
    Order(3),
    Order(4),
    Order(5),
    Order(6),
    Order(7),
    Order(8),
    Order(9),
];
