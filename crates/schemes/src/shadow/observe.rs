//! The observation step of one shadow design: its answers about one folio against the truth
//! ([`judge`]), kept per folio so that the step after a statement re-judges only the folios
//! the statement touched ([`Observed`]). A folio's answers and truth change only through rmap
//! events (page-table changes without one, mremap's PTE moves, keep the truth per MM), so
//! the running sums equal a judgement of every live folio after every statement.

use super::explain::{Site, Wrong};
use super::tally::Tally;
use crate::event::{FolioRef, StatDelta};
use crate::scheme::Scheme;
use foliolab_types::{FolioTruth, Pfn, PAGE_SIZE};
use std::collections::BTreeMap;

/// A page's PSS in smaps' fixed point (`PAGE_SIZE << PSS_SHIFT`).
const PSS_PAGE: u64 = PAGE_SIZE << 12;

/// What is wrong about one folio after a statement: flags (0 or 1) and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FolioErr {
    pub mapcount: u64,
    pub kpagecount: u64,
    pub bit56_fp: u64,
    pub bit56_fn: u64,
    pub ms_fp: u64,
    pub ms_fn: u64,
    pub stats: u64,
    pub pss: u64,
    pub pss_bytes: u64,
    pub uss_bytes: u64,
    pub anon_bytes: u64,
    pub stranded_bytes: u64,
}

impl FolioErr {
    fn fields(&mut self) -> [&mut u64; 12] {
        [
            &mut self.mapcount,
            &mut self.kpagecount,
            &mut self.bit56_fp,
            &mut self.bit56_fn,
            &mut self.ms_fp,
            &mut self.ms_fn,
            &mut self.stats,
            &mut self.pss,
            &mut self.pss_bytes,
            &mut self.uss_bytes,
            &mut self.anon_bytes,
            &mut self.stranded_bytes,
        ]
    }
    /// `self += o` (`add`) or `self -= o`.
    fn apply(&mut self, mut o: FolioErr, add: bool) {
        for (a, b) in self.fields().into_iter().zip(o.fields()) {
            *a = if add { *a + *b } else { *a - *b };
        }
    }
    fn is_clear(&self) -> bool {
        *self == FolioErr::default()
    }
}

/// What the judgement of one folio needs besides the design: its NR_ANON_MAPPED share by
/// the design and whether the design ever flagged it partially mapped.
pub struct FolioView<'a> {
    pub f: FolioRef,
    pub truth: &'a FolioTruth,
    pub stat: StatDelta,
    pub flagged: bool,
}

/// Per page: the PSS and USS the design's answers give against the exact ones, in smaps'
/// fixed point and bytes, and whether kpagecount or bit 56 is wrong.
#[derive(Default)]
struct Pages {
    pss: u64,
    pss_true: u64,
    pss_err: u64,
    uss_err: u64,
    kpc: bool,
    fp: bool,
    fneg: bool,
}

fn pages(s: &dyn Scheme, v: &FolioView<'_>) -> Pages {
    let mut p = Pages::default();
    for i in 0..v.f.nr_pages() {
        let real = v.truth.page_mapcount(i as usize);
        if real == 0 {
            continue;
        }
        let page = v.f.head.add(i);
        let mc = s.page_mapcount(v.f, page);
        p.kpc |= mc != real as i64;
        let mine = real * (PSS_PAGE / mc.max(1) as u64);
        let exact = real * (PSS_PAGE / real);
        p.pss += mine;
        p.pss_true += exact;
        p.pss_err += mine.abs_diff(exact);
        let ex = s.page_mapped_exclusively(v.f, page);
        p.fp |= !ex && real == 1;
        p.fneg |= ex && real > 1;
        p.uss_err += match (ex, real == 1) {
            (false, true) => PAGE_SIZE,
            (true, false) => real * PAGE_SIZE,
            _ => 0,
        };
    }
    p
}

/// One shadow's answers for a folio against the oracle's truth: smaps charges each mapping
/// of a page `PSS_PAGE / mapcount`, so the folio's mappings add up to one page per mapped
/// page only with the right mapcounts.
pub fn judge(s: &dyn Scheme, v: &FolioView<'_>) -> FolioErr {
    let (f, truth) = (v.f, v.truth);
    let total = truth.total_entries();
    let p = pages(s, v);
    let mut e = FolioErr {
        mapcount: (s.mapcount(f) != total as i64) as u64,
        kpagecount: p.kpc as u64,
        bit56_fp: p.fp as u64,
        bit56_fn: p.fneg as u64,
        pss: (p.pss != p.pss_true) as u64,
        pss_bytes: p.pss_err >> 12,
        uss_bytes: p.uss_err,
        ..FolioErr::default()
    };
    if total > 0 {
        let shared = truth.is_mapped_shared();
        let ms = s.maybe_mapped_shared(f);
        e.ms_fp = (ms && !shared) as u64;
        e.ms_fn = (!ms && shared) as u64;
    }
    let pmd = if truth.pmd_maps > 0 {
        f.nr_pages() as i64
    } else {
        0
    };
    let mapped = truth.pages_mapped() as i64;
    e.stats = (v.stat.nr != mapped || v.stat.nr_pmd != pmd || e.pss == 1) as u64;
    if f.anon {
        e.anon_bytes = v.stat.nr.abs_diff(mapped) * PAGE_SIZE;
        if f.order.0 >= 2 && truth.is_partially_mapped() && !v.flagged {
            e.stranded_bytes = (f.nr_pages() - mapped as u64) * PAGE_SIZE;
        }
    }
    e
}

/// One shadow's judgement of every live folio it has seen, with the sums over them.
#[derive(Default)]
pub struct Observed {
    per_folio: BTreeMap<Pfn, FolioErr>,
    sums: FolioErr,
}

impl Observed {
    /// Replaces the folio's judgement (`None`: the folio is gone); returns the old one.
    pub fn set(&mut self, head: Pfn, new: Option<FolioErr>) -> FolioErr {
        let old = self.per_folio.remove(&head).unwrap_or_default();
        self.sums.apply(old, false);
        if let Some(n) = new.filter(|n| !n.is_clear()) {
            self.sums.apply(n, true);
            self.per_folio.insert(head, n);
        }
        old
    }

    /// The end of a statement: the sums over every live folio go into the tally.
    pub fn tally(&self, t: &mut Tally) {
        let s = &self.sums;
        t.statements += 1;
        t.mapcount_errors += s.mapcount;
        t.kpagecount_errors += s.kpagecount;
        t.bit56_fp += s.bit56_fp;
        t.bit56_fn += s.bit56_fn;
        t.maybe_shared_fp += s.ms_fp;
        t.maybe_shared_fn += s.ms_fn;
        t.stats_errors += s.stats;
        t.pss_errors += s.pss;
        let m = &mut t.magnitudes;
        m.pss.observe(s.pss_bytes);
        m.uss.observe(s.uss_bytes);
        m.anon_pages.observe(s.anon_bytes);
        m.stranded.observe(s.stranded_bytes);
    }
}

/// The wrong answers that turned wrong between `old` and `new` (for `--explain`).
pub fn turned_wrong(stmt: u64, f: FolioRef, old: &FolioErr, new: &FolioErr, out: &mut Vec<Wrong>) {
    let kinds = [
        (
            old.mapcount,
            new.mapcount,
            Site::Mapcount,
            "wrong folio mapcount",
        ),
        (
            old.kpagecount,
            new.kpagecount,
            Site::Kpagecount,
            "wrong kpagecount on some page",
        ),
        (
            old.bit56_fp,
            new.bit56_fp,
            Site::Pagemap,
            "false shared: bit 56 clear on a page mapped once",
        ),
        (
            old.bit56_fn,
            new.bit56_fn,
            Site::Pagemap,
            "false exclusive: bit 56 set on a shared page",
        ),
        (
            old.ms_fp,
            new.ms_fp,
            Site::MaybeShared,
            "false shared: one MM maps it",
        ),
        (
            old.ms_fn,
            new.ms_fn,
            Site::MaybeShared,
            "false exclusive: several MMs map it",
        ),
        (
            old.stats,
            new.stats,
            Site::Stats,
            "wrong NR_*_MAPPED share or PSS",
        ),
    ];
    for (was, is, site, what) in kinds {
        if was == 0 && is > 0 {
            out.push(Wrong {
                stmt,
                site,
                head: f.head,
                order: f.order,
                detail: what.to_string(),
            });
        }
    }
}
