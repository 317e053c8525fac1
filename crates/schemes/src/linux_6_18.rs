//! Linux 6.18 with THP, MM_ID and PAGE_MAPCOUNT (this machine's kernel).
//!
//! Storage mirrors the kernel's words, raw (biased) values included (kernel note 0.3, 1.1):
//! every page has `_mapcount` (raw −1 = unmapped); page[1] of a large folio holds
//! `_large_mapcount` (raw −1), `_nr_pages_mapped` (raw 0, `ENTIRELY_MAPPED` bit),
//! `_entire_mapcount` (raw −1), `_mm_id_mapcount[2]` (raw −1) and `_mm_ids` (two 31-bit ids,
//! the lock bit 31 and the shared bit 63). The refcount and `_pincount` are the model's.

use crate::cost::{lines, Costs, Layout};
use crate::event::{
    small_run, Cause, Ctx, FolioCounters, FolioRef, Level, Removed, SmallRun, Span, StatDelta,
};
use crate::kit::first_page_mismatch;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, Folio618, PageMapcount};
use foliolab_types::{FolioTruth, MmId, Pfn, PfnArray};

/// `ENTIRELY_MAPPED` (2^23), added to `_nr_pages_mapped` while `_entire_mapcount >= 1`.
pub const ENTIRELY_MAPPED: i32 = 0x80_0000;
/// `FOLIO_PAGES_MAPPED`: the low bits of `_nr_pages_mapped` counting PTE-mapped pages.
pub const FOLIO_PAGES_MAPPED: i32 = ENTIRELY_MAPPED - 1;
const MM_ID_MASK: u64 = (1 << 31) - 1;
const SHARED_BIT: u64 = 1 << 63;
const LOCK_BIT: u64 = 1 << 31;

/// A page's `_mapcount` word as stored: [`PageMapcount`] whose default is the raw −1 of a
/// page fresh from the allocator (unmapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapcount(PageMapcount);

impl Default for Mapcount {
    fn default() -> Mapcount {
        Mapcount(PageMapcount { mapcount: -1 })
    }
}

/// Whether every `_mapcount` of `words` is at its initial −1: an OR of each XOR −1 (no
/// early exit, so the check of a 2 MiB folio's 512 words vectorises).
#[inline]
fn all_unmapped(words: &[Mapcount]) -> bool {
    words.iter().fold(0, |a, m| a | (m.0.mapcount ^ -1)) == 0
}

/// Linux 6.18, PAGE_MAPCOUNT configuration.
#[derive(Clone)]
pub struct Linux618 {
    /// Every page's `_mapcount`, by PFN (raw; −1 unmapped).
    mapcounts: PfnArray<Mapcount>,
    /// The folio words of each large folio, kept where the kernel keeps them, in page[1],
    /// and only there: one slot per pair of pages, by `head >> 1` (a large folio's head is
    /// even), so memory of small folios never materialises these sections.
    folios: PfnArray<Folio618>,
    costs: Costs,
    /// Deliberate bugs, so tests can show the checks and the fuzzer catch them.
    #[cfg(feature = "test-variants")]
    pub bugs: Bugs,
}

/// Deliberately broken behaviours of linux-6.18 (tests only).
#[cfg(feature = "test-variants")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    /// fork forgets `folio_try_dup_anon_rmap` for large folios.
    pub forget_large_dup: bool,
    /// fork forgets the dup when both MM_ID slots are held by other MMs (the third MM).
    pub forget_third_mm_dup: bool,
    /// fork's dup of a large folio's PTEs forgets the `_mapcount` of page `i` of the
    /// folio (the folio-wide counts stay right).
    pub forget_page_dup: Option<u64>,
    /// fork forgets the `_mapcount` dup of every small folio whose PFN is this modulo 512
    /// (one folio in the middle of each PMD range of small folios).
    pub forget_small_dup: Option<u64>,
}

impl Linux618 {
    pub fn new(nr_pages: u64) -> Linux618 {
        Linux618 {
            mapcounts: PfnArray::new(nr_pages),
            folios: PfnArray::new(nr_pages.div_ceil(2)),
            costs: Costs::default(),
            #[cfg(feature = "test-variants")]
            bugs: Bugs::default(),
        }
    }

    /// Whether a deliberate bug drops this dup (always false outside tests).
    fn bug_drops_dup(&self, f: FolioRef, ctx: Ctx) -> bool {
        #[cfg(feature = "test-variants")]
        {
            let w = self.f1(f);
            let taken_by_other =
                |k| Self::slot_id(w, k) != MmId::DUMMY && Self::slot_id(w, k) != ctx.mm;
            if f.is_large()
                && (self.bugs.forget_large_dup
                    || (self.bugs.forget_third_mm_dup && taken_by_other(0) && taken_by_other(1)))
            {
                return true;
            }
        }
        let _ = (f, ctx);
        false
    }

    /// Undoes the dup of one page's `_mapcount` in the PTE dup of `nr` pages from `first`
    /// when a deliberate bug says so (nothing outside tests).
    fn bug_page_dup(&mut self, f: FolioRef, first: Pfn, nr: u64) {
        #[cfg(feature = "test-variants")]
        if let Some(i) = self.bugs.forget_page_dup {
            let page = f.head.add(i);
            if (first..first.add(nr)).contains(&page) {
                self.mapcounts.get_mut(page).0.mapcount -= 1;
            }
        }
        let _ = (f, first, nr);
    }

    /// Whether a deliberate bug drops the dup of the small folio at `head` (always false
    /// outside tests).
    #[inline]
    fn bug_drops_small_dup(&self, head: Pfn) -> bool {
        #[cfg(feature = "test-variants")]
        if self.bugs.forget_small_dup == Some(head.0 % 512) {
            return true;
        }
        let _ = head;
        false
    }

    /// The folio's words, in page[1].
    #[inline]
    fn f1(&self, f: FolioRef) -> &Folio618 {
        self.folios.get(Pfn(f.head.0 >> 1))
    }
    #[inline]
    fn f1_mut(&mut self, f: FolioRef) -> &mut Folio618 {
        debug_assert!(f.is_large());
        self.folios.get_mut(Pfn(f.head.0 >> 1))
    }
    fn slot_id(w: &Folio618, k: usize) -> MmId {
        MmId(((w.mm_ids >> (32 * k)) & MM_ID_MASK) as u32)
    }
    /// Puts `id` in slot `k` with `count` mappings (true value; stored raw, `count` − 1: a
    /// free slot is `MM_ID_DUMMY` with raw −1).
    fn set_slot(w: &mut Folio618, k: usize, id: MmId, count: i32) {
        let shift = 32 * k;
        w.mm_ids = (w.mm_ids & !(MM_ID_MASK << shift)) | ((id.0 as u64) << shift);
        w.mm_id_mapcount[k] = count - 1;
    }
    fn shared(w: &Folio618) -> bool {
        w.mm_ids & SHARED_BIT != 0
    }
    fn set_shared(w: &mut Folio618, on: bool) {
        if on {
            w.mm_ids |= SHARED_BIT;
        } else {
            w.mm_ids &= !SHARED_BIT;
        }
    }

    /// `folio_add_return_large_mapcount` (kernel note 3.2). Returns the new large mapcount.
    fn add_large(&mut self, f: FolioRef, diff: i32, mm: MmId) -> i32 {
        Self::add_large_in(self.f1_mut(f), diff, mm)
    }

    /// [`Linux618::add_large`] on the folio's words, found by the caller.
    #[inline]
    fn add_large_in(w: &mut Folio618, diff: i32, mm: MmId) -> i32 {
        let l_new = w.large_mapcount + 1 + diff;
        w.large_mapcount = l_new - 1;
        if Self::slot_id(w, 0) == mm {
            w.mm_id_mapcount[0] += diff;
        } else if Self::slot_id(w, 1) == mm {
            w.mm_id_mapcount[1] += diff;
        } else if Self::slot_id(w, 0) == MmId::DUMMY {
            Self::set_slot(w, 0, mm, diff);
            if l_new != diff {
                Self::set_shared(w, true);
            }
        } else if Self::slot_id(w, 1) == MmId::DUMMY {
            Self::set_slot(w, 1, mm, diff);
            Self::set_shared(w, true);
        }
        l_new
    }

    /// `folio_sub_return_large_mapcount` (kernel note 3.3).
    fn sub_large(&mut self, f: FolioRef, diff: i32, mm: MmId) -> i32 {
        Self::sub_large_in(self.f1_mut(f), diff, mm)
    }

    /// [`Linux618::sub_large`] on the folio's words, found by the caller.
    #[inline]
    fn sub_large_in(w: &mut Folio618, diff: i32, mm: MmId) -> i32 {
        let l_new = w.large_mapcount + 1 - diff;
        w.large_mapcount = l_new - 1;
        for k in 0..2 {
            if Self::slot_id(w, k) == mm {
                w.mm_id_mapcount[k] -= diff;
                if w.mm_id_mapcount[k] + 1 >= 1 {
                    return l_new;
                }
                Self::set_slot(w, k, MmId::DUMMY, 0);
                break;
            }
        }
        if w.mm_id_mapcount[0] == l_new - 1 || w.mm_id_mapcount[1] == l_new - 1 {
            Self::set_shared(w, false);
        }
        l_new
    }

    /// `folio_remove_rmap_pte` of a small folio, but for its cost.
    #[inline]
    fn remove_small(&mut self, f: FolioRef) -> Removed {
        let w = &mut self.mapcounts.get_mut(f.head).0;
        w.mapcount -= 1;
        Removed {
            stat: StatDelta {
                nr: -((w.mapcount == -1) as i64),
                nr_pmd: 0,
            },
            partially_mapped: false,
        }
    }

    /// The first page whose `_mapcount` is not its PTE mappings in `truth`.
    fn first_wrong_page(&self, f: FolioRef, truth: &FolioTruth) -> Option<usize> {
        let want = &truth.pte_maps_per_page[..];
        match self.mapcounts.range(f.head, f.nr_pages() as usize) {
            Some(words) => first_page_mismatch(words, want, |w| w.0.mapcount as i64 + 1),
            // A section never written: every `_mapcount` is the raw −1 of an unmapped page.
            None if truth.pages_pte_mapped() == 0 => None,
            None => want.iter().position(|&n| n != 0),
        }
    }

    fn page_mc(&self, page: Pfn) -> i32 {
        self.mapcounts.get(page).0.mapcount + 1
    }

    fn add_ptes_large(&mut self, f: FolioRef, first: Pfn, nr: u64, ctx: Ctx) -> StatDelta {
        let (mm, cause) = (ctx.mm, ctx.cause);
        let mut first_maps = 0;
        for w in self.mapcounts.range_mut(first, nr as usize) {
            w.0.mapcount += 1;
            if w.0.mapcount == 0 {
                first_maps += 1;
            }
        }
        let mut stat = StatDelta::default();
        self.cost_ptes(f, first, nr, first_maps > 0, cause);
        if first_maps > 0 {
            let w = self.f1_mut(f);
            w.nr_pages_mapped += first_maps;
            if w.nr_pages_mapped < ENTIRELY_MAPPED {
                stat.nr = first_maps as i64;
            }
        }
        self.add_large(f, nr as i32, mm);
        stat
    }

    fn add_pmd_large(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        let mm = ctx.mm;
        let n = f.nr_pages() as i64;
        let mut stat = StatDelta::default();
        let w = self.f1_mut(f);
        w.entire_mapcount += 1;
        let first = w.entire_mapcount == 0;
        if first {
            w.nr_pages_mapped += ENTIRELY_MAPPED;
            if w.nr_pages_mapped < 2 * ENTIRELY_MAPPED {
                stat.nr_pmd = n;
                stat.nr = (n - (w.nr_pages_mapped & FOLIO_PAGES_MAPPED) as i64).max(0);
            }
        }
        self.add_large(f, 1, mm);
        self.costs.record(ctx.cause, 2 + first as u64, 1);
        stat
    }

    /// `folio_remove_rmap_ptes` of a large folio: one pass over the pages' `_mapcount`s
    /// (branch-free, counting those back at the raw −1 of an unmapped page), then the
    /// folio's words in page[1], found once.
    #[inline]
    fn remove_ptes_large(&mut self, f: FolioRef, first: Pfn, nr: u64, ctx: Ctx) -> Removed {
        let words = self.mapcounts.range_mut(first, nr as usize);
        let last = words.iter_mut().fold(0, |last, w| {
            w.0.mapcount -= 1;
            last + (w.0.mapcount == -1) as i32
        });
        let w = self.f1_mut(f);
        Self::sub_large_in(w, nr as i32, ctx.mm);
        let mut r = Removed::default();
        if last > 0 {
            w.nr_pages_mapped -= last;
            if w.nr_pages_mapped < ENTIRELY_MAPPED {
                r.stat.nr = -(last as i64);
            }
            r.partially_mapped = r.stat.nr != 0 && w.nr_pages_mapped != 0;
        }
        self.cost_ptes(f, first, nr, last > 0, ctx.cause);
        r
    }

    fn remove_pmd_large(&mut self, f: FolioRef, ctx: Ctx) -> Removed {
        let mm = ctx.mm;
        let n = f.nr_pages() as i64;
        self.sub_large(f, 1, mm);
        let mut r = Removed::default();
        let w = self.f1_mut(f);
        w.entire_mapcount -= 1;
        let last = w.entire_mapcount == -1;
        if last {
            w.nr_pages_mapped -= ENTIRELY_MAPPED;
            if w.nr_pages_mapped < ENTIRELY_MAPPED {
                r.stat.nr_pmd = -n;
                let nr = (n - w.nr_pages_mapped as i64).max(0);
                r.stat.nr = -nr;
                r.partially_mapped = nr > 0 && nr < n;
            }
        }
        self.costs.record(ctx.cause, 2 + last as u64, 1);
        r
    }

    /// A PTE batch: one atomic per page `_mapcount`, one for `_nr_pages_mapped` if a page
    /// changed state, one for the large-mapcount bit spinlock; the pages plus page[1].
    #[inline]
    fn cost_ptes(&mut self, f: FolioRef, first: Pfn, nr: u64, npm: bool, cause: Cause) {
        let start = f.index_of(first) as u64;
        self.costs
            .record(cause, nr + npm as u64 + 1, lines(start, nr, &[1]));
    }

    /// [`RmapEvents::free_folio`] of a folio some word of which is not at its initial
    /// value: a `bad_page` message for each, and the word reset (out of line: a bug).
    #[inline(never)]
    fn free_bad_folio(&mut self, f: FolioRef) -> Result<(), String> {
        let mut bad = Vec::new();
        if f.is_large() {
            let w = *self.f1(f);
            if w != Folio618::default() {
                bad.push(format!("page[1] words not reset: {w:?}"));
                *self.f1_mut(f) = Folio618::default();
            }
        }
        let nr = f.nr_pages() as usize;
        if self.mapcounts.range(f.head, nr).is_none_or(all_unmapped) {
            return self.bad_page(f, bad);
        }
        for i in 0..f.nr_pages() {
            let mc = self.mapcounts.get(f.head.add(i)).0.mapcount;
            if mc != -1 {
                bad.push(format!("page[{i}] _mapcount {}", mc + 1));
                *self.mapcounts.get_mut(f.head.add(i)) = Mapcount::default();
            }
        }
        self.bad_page(f, bad)
    }

    /// `bad_page` for what a free found, if anything.
    fn bad_page(&self, f: FolioRef, bad: Vec<String>) -> Result<(), String> {
        if bad.is_empty() {
            return Ok(());
        }
        Err(format!(
            "bad page state in {:?}: {}",
            f.head,
            bad.join("; ")
        ))
    }

    fn check_slots(&self, f: FolioRef, truth: &FolioTruth, out: &mut Vec<String>) {
        let w = self.f1(f);
        let l = w.large_mapcount as i64 + 1;
        if w.mm_ids & LOCK_BIT != 0 {
            out.push("M5: large-mapcount lock bit left set".into());
        }
        let mut tracked = 0;
        for k in 0..2 {
            let (id, t) = (Self::slot_id(w, k), w.mm_id_mapcount[k] as i64 + 1);
            if (id == MmId::DUMMY) != (t == 0) || t < 0 {
                out.push(format!("M1: slot{k} is ({id:?}, {t})"));
            }
            if id != MmId::DUMMY {
                let r = truth.entries_per_mm.get(&id).unwrap_or(0) as i64;
                if t > r {
                    out.push(format!(
                        "M2: slot{k} tracks {t} mappings of {id:?}, which has {r}"
                    ));
                }
                tracked += t;
            }
        }
        if Self::slot_id(w, 0) == Self::slot_id(w, 1) && Self::slot_id(w, 0) != MmId::DUMMY {
            out.push("M1: both slots hold the same MM".into());
        }
        if tracked > l {
            out.push(format!("M3: slots track {tracked} > large mapcount {l}"));
        }
        let one_slot_all = (0..2)
            .any(|k| Self::slot_id(w, k) != MmId::DUMMY && w.mm_id_mapcount[k] as i64 + 1 == l);
        if Self::shared(w) == (l == 0 || one_slot_all) {
            out.push(format!("M4: shared bit {} with L={l}", Self::shared(w)));
        }
        if !Self::shared(w) && l >= 1 && truth.nr_mms() != 1 {
            out.push(format!(
                "M6: shared bit clear but {} MMs map the folio",
                truth.nr_mms()
            ));
        }
    }
}

impl RmapEvents for Linux618 {
    /// Nothing to write: every word of a free page is at its initial value, as the free
    /// below checks and restores only where it is not (`free_tail_page_prepare` and
    /// `free_page_is_bad` check rather than clear).
    fn prep_folio(&mut self, f: FolioRef) {
        debug_assert!((0..f.nr_pages()).all(|i| self.page_mc(f.head.add(i)) == 0));
        debug_assert!(!f.is_large() || *self.f1(f) == Folio618::default());
    }

    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        // Almost always every word is back at its initial value: one look says so, with
        // the words of page[1] compared whole and the pages' in one branch-free pass.
        let nr = f.nr_pages() as usize;
        if (!f.is_large() || *self.f1(f) == Folio618::default())
            && self.mapcounts.range(f.head, nr).is_none_or(all_unmapped)
        {
            return Ok(());
        }
        self.free_bad_folio(f)
    }

    /// The frees of the folios: a run of small folios at consecutive PFNs checked in one
    /// branch-free pass over their words (almost always clean, then nothing to write), a
    /// folio of a run that is not, and a large folio, on its own.
    fn free_folios(&mut self, folios: &[FolioRef], errors: &mut Vec<String>) {
        let mut i = 0;
        while i < folios.len() {
            let f = folios[i];
            if f.is_large() {
                if let Err(e) = self.free_folio(f) {
                    errors.push(e);
                }
                i += 1;
                continue;
            }
            let run = small_run(&folios[i..], |f| *f);
            let clean = self.mapcounts.range(f.head, run).is_none_or(all_unmapped);
            if !clean {
                for &f in &folios[i..i + run] {
                    if self.page_mc(f.head) != 0 {
                        if let Err(e) = self.free_folio(f) {
                            errors.push(e);
                        }
                    }
                }
            }
            i += run;
        }
    }

    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        let n = f.nr_pages() as i64;
        let touched = if f.pmd_mappable() { 1 } else { f.nr_pages() };
        self.costs.record(ctx.cause, 0, touched);
        if !f.is_large() {
            self.mapcounts.get_mut(f.head).0.mapcount = 0;
            return StatDelta { nr: 1, nr_pmd: 0 };
        }
        let w = self.f1_mut(f);
        if f.pmd_mappable() {
            w.entire_mapcount = 0;
            w.nr_pages_mapped = ENTIRELY_MAPPED;
            Self::set_slot(w, 0, ctx.mm, 1);
            w.large_mapcount = 0;
            return StatDelta { nr: n, nr_pmd: n };
        }
        w.nr_pages_mapped = n as i32;
        Self::set_slot(w, 0, ctx.mm, n as i32);
        w.large_mapcount = n as i32 - 1;
        for w in self.mapcounts.range_mut(f.head, f.nr_pages() as usize) {
            w.0.mapcount = 0;
        }
        StatDelta { nr: n, nr_pmd: 0 }
    }

    fn add(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        if !f.is_large() {
            self.costs.record(ctx.cause, 1, 1);
            let w = &mut self.mapcounts.get_mut(f.head).0;
            w.mapcount += 1;
            return StatDelta {
                nr: (w.mapcount == 0) as i64,
                nr_pmd: 0,
            };
        }
        match level {
            Level::Pte => self.add_ptes_large(f, first, nr, ctx),
            Level::Pmd => self.add_pmd_large(f, ctx),
        }
    }

    fn dup(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) {
        if self.bug_drops_dup(f, ctx) {
            return;
        }
        if !f.is_large() {
            self.costs.record(ctx.cause, 1, 1);
            if !self.bug_drops_small_dup(f.head) {
                self.mapcounts.get_mut(f.head).0.mapcount += 1;
            }
            return;
        }
        match level {
            Level::Pte => {
                for w in self.mapcounts.range_mut(first, nr as usize) {
                    w.0.mapcount += 1;
                }
                self.bug_page_dup(f, first, nr);
                self.add_large(f, nr as i32, ctx.mm);
                self.cost_ptes(f, first, nr, false, ctx.cause);
            }
            Level::Pmd => {
                self.f1_mut(f).entire_mapcount += 1;
                self.add_large(f, 1, ctx.mm);
                self.costs.record(ctx.cause, 2, 1);
            }
        }
    }

    fn remove(&mut self, f: FolioRef, first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        if !f.is_large() {
            self.costs.record(ctx.cause, 1, 1);
            return self.remove_small(f);
        }
        match level {
            Level::Pte => self.remove_ptes_large(f, first, nr, ctx),
            Level::Pmd => self.remove_pmd_large(f, ctx),
        }
    }

    /// The `dup`s of the spans: a run of small folios at consecutive PFNs in one pass over
    /// their words, their costs added once.
    fn dup_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx) {
        let mut small = 0;
        let mut i = 0;
        while i < spans.len() {
            let s = spans[i];
            if s.folio.is_large() {
                self.dup(s.folio, s.first, s.nr, level, ctx);
                i += 1;
                continue;
            }
            let run = small_run(&spans[i..], |s| s.folio);
            let head = s.folio.head;
            for (k, w) in self.mapcounts.range_mut(head, run).iter_mut().enumerate() {
                w.0.mapcount += 1;
                #[cfg(feature = "test-variants")]
                if self.bugs.forget_small_dup == Some(head.add(k as u64).0 % 512) {
                    w.0.mapcount -= 1;
                }
                let _ = k;
            }
            small += run as u64;
            i += run;
        }
        self.costs.record_calls(ctx.cause, small, small, small);
    }

    /// The `remove`s of the spans: a run of small folios at consecutive PFNs in one pass
    /// over their words, their costs added once.
    fn remove_batch(&mut self, spans: &[Span], level: Level, ctx: Ctx, out: &mut [Removed]) {
        let mut small = 0;
        let mut i = 0;
        while i < spans.len() {
            for (s, r) in spans[i..].iter().zip(&mut out[i..]) {
                if !s.folio.is_large() {
                    break;
                }
                *r = match level {
                    Level::Pte => self.remove_ptes_large(s.folio, s.first, s.nr, ctx),
                    Level::Pmd => self.remove_pmd_large(s.folio, ctx),
                };
                i += 1;
            }
            let Some(s) = spans.get(i) else {
                break;
            };
            let run = small_run(&spans[i..], |s| s.folio);
            // `remove_small`, written in place: only the page count can differ from the
            // default result.
            let words = self.mapcounts.range_mut(s.folio.head, run);
            for (w, r) in words.iter_mut().zip(&mut out[i..i + run]) {
                w.0.mapcount -= 1;
                r.stat.nr = -((w.0.mapcount == -1) as i64);
            }
            small += run as u64;
            i += run;
        }
        self.costs.record_calls(ctx.cause, small, small, small);
    }
}

impl Queries for Linux618 {
    fn mapcount(&self, f: FolioRef) -> i64 {
        if f.is_large() {
            self.f1(f).large_mapcount as i64 + 1
        } else {
            self.page_mc(f.head) as i64
        }
    }

    fn page_mapcount(&self, f: FolioRef, page: Pfn) -> i64 {
        let mut mc = self.page_mc(page) as i64;
        if f.is_large() {
            mc += self.f1(f).entire_mapcount as i64 + 1;
        }
        mc
    }

    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        if !f.is_large() {
            return self.mapcount(f) > 1;
        }
        let w = self.f1(f);
        if w.large_mapcount < 1 {
            return false;
        }
        Self::shared(w)
    }

    /// linux-6.18 keeps the precise mapped pages of [`Queries::nr_mapped_pages`].
    fn small_mapped_pages_precise(&self) -> bool {
        true
    }

    fn can_reuse_large(&self, f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        let l = self.mapcount(f);
        l > 1 && !Self::shared(self.f1(f)) && l == refcount
    }
}

impl Reporting for Linux618 {
    fn name(&self) -> &'static str {
        "linux-6.18"
    }

    fn counters(&self, f: FolioRef) -> FolioCounters {
        if !f.is_large() {
            return FolioCounters {
                mapcount: Some(self.mapcount(f)),
                maybe_shared: Some(self.maybe_mapped_shared(f)),
                ..Default::default()
            };
        }
        let w = self.f1(f);
        let slot = |k: usize| {
            let id = Self::slot_id(w, k);
            if id == MmId::DUMMY {
                None
            } else {
                Some((id, w.mm_id_mapcount[k] as i64 + 1))
            }
        };
        FolioCounters {
            mapcount: Some(self.mapcount(f)),
            large_mapcount: Some(w.large_mapcount as i64 + 1),
            entire_mapcount: Some(w.entire_mapcount as i64 + 1),
            nr_pages_mapped: Some((w.nr_pages_mapped & FOLIO_PAGES_MAPPED) as i64),
            slot0: Some(slot(0)),
            slot1: Some(slot(1)),
            maybe_shared: Some(self.maybe_mapped_shared(f)),
        }
    }

    /// Each small folio's `_mapcount` (raw, plus one) against the entries mapping it, in
    /// one pass over the run's words: [`Reporting::check`]'s one rule for a small folio.
    fn small_run_ok(&self, run: SmallRun<'_>) -> bool {
        let ok = match self.mapcounts.range(run.first, run.len()) {
            // One pass with no early exit, in 32-bit lanes: runs are short and almost
            // always right (`_mapcount` + 1 is exact in 32 bits: it is at least −2^31 + 1,
            // and the entries are below 2^30).
            Some(words) => words.iter().zip(run.entries).fold(true, |ok, (w, &e)| {
                ok & (w.0.mapcount.wrapping_add(1) as u32 == e)
            }),
            // A section never written: every `_mapcount` is the raw −1 of an unmapped page.
            None => run.entries.iter().all(|&e| e == 0),
        };
        debug_assert_eq!(ok, run.iter().all(|(f, t)| self.check(f, &t).is_empty()));
        ok
    }

    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let mut out = Vec::new();
        if !f.is_large() {
            let mc = self.mapcount(f);
            if mc != truth.total_entries() as i64 {
                out.push(format!(
                    "_mapcount {mc}, page tables map it {} times",
                    truth.total_entries()
                ));
            }
            return out;
        }
        let w = self.f1(f);
        let (l, e) = (w.large_mapcount as i64 + 1, w.entire_mapcount as i64 + 1);
        if l != truth.total_entries() as i64 {
            out.push(format!(
                "_large_mapcount {l}, page tables map it {} times",
                truth.total_entries()
            ));
        }
        if e != truth.pmd_maps as i64 {
            out.push(format!(
                "_entire_mapcount {e}, {} PMD mappings",
                truth.pmd_maps
            ));
        }
        if let Some(i) = self.first_wrong_page(f, truth) {
            out.push(format!(
                "page[{i}] _mapcount {}, {} PTE mappings",
                self.page_mc(f.head.add(i as u64)),
                truth.pte_maps_per_page[i]
            ));
        }
        let npm = w.nr_pages_mapped;
        if (npm & FOLIO_PAGES_MAPPED) as u64 != truth.pages_pte_mapped() {
            out.push(format!(
                "_nr_pages_mapped {}, {} pages PTE-mapped",
                npm & FOLIO_PAGES_MAPPED,
                truth.pages_pte_mapped()
            ));
        }
        if (npm >= ENTIRELY_MAPPED) != (e >= 1) || !(0..2 * ENTIRELY_MAPPED).contains(&npm) {
            out.push(format!(
                "_nr_pages_mapped {npm:#x} inconsistent with _entire_mapcount {e}"
            ));
        }
        self.check_slots(f, truth, &mut out);
        out
    }

    fn costs(&self) -> Costs {
        self.costs.clone()
    }

    fn layout(&self) -> Layout {
        Layout {
            folio_bytes: bytes::<Folio618>(),
            page_bytes: bytes::<PageMapcount>(),
            ..Layout::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::Order;

    fn page_message(out: &[String], page: u64, mapcount: i32, ptes: u64) -> bool {
        let want = format!("page[{page}] _mapcount {mapcount}, {ptes} PTE mappings");
        out.contains(&want)
    }

    /// The per-page part of the check compares every page of a 2M folio: a wrong
    /// `_mapcount` on any one page is reported, whether the folio is mapped by a PMD alone
    /// (the truth has no PTE mapping), by PTEs, or its words were never written.
    #[test]
    fn a_wrong_page_mapcount_anywhere_in_a_2m_folio_is_caught() {
        let f = FolioRef {
            head: Pfn(1 << 9),
            order: Order(9),
            anon: true,
        };
        for page in [0, 1, 63, 64, 300, 511] {
            let (mut s, pmd_only) = (Linux618::new(1 << 12), FolioTruth::new(512));
            assert!(!page_message(&s.check(f, &pmd_only), page, 0, 0));
            s.mapcounts.get_mut(f.head.add(page)).0.mapcount = 0;
            assert!(page_message(&s.check(f, &pmd_only), page, 1, 0));

            let mut ptes = FolioTruth::new(512);
            (0..512).for_each(|i| ptes.pte_maps_per_page.add(i));
            let mut s = Linux618::new(1 << 12);
            assert!(page_message(&s.check(f, &ptes), 0, 0, 1), "never written");
            for w in s.mapcounts.range_mut(f.head, 512) {
                w.0.mapcount = 0;
            }
            assert!(s.check(f, &ptes).iter().all(|m| !m.starts_with("page[")));
            s.mapcounts.get_mut(f.head.add(page)).0.mapcount = 1;
            assert!(page_message(&s.check(f, &ptes), page, 2, 1));
        }
    }
}

#[cfg(test)]
mod free_tests {
    use super::*;
    use foliolab_types::Order;

    /// Freeing a run of small folios at once reports what freeing each does: the folios
    /// whose `_mapcount` was left mapped (anywhere in the run, several, none), each reset,
    /// with large folios and gaps between runs.
    #[test]
    fn a_run_of_small_frees_reports_what_each_free_does() {
        let small = |pfn: u64| FolioRef {
            head: Pfn(pfn),
            order: Order(0),
            anon: true,
        };
        let large = FolioRef {
            head: Pfn(4096),
            order: Order(4),
            anon: true,
        };
        let mut folios: Vec<FolioRef> = (1024..1100).map(small).collect();
        folios.push(large);
        folios.extend((1500..1530).chain(2047..2050).map(small));
        let mut rng = foliolab_types::prng::Prng::new(0x7f4a_7c15);
        for _ in 0..200 {
            let mut s = Linux618::new(1 << 13);
            let mut dirtied = std::collections::BTreeSet::new();
            if rng.below(3) == 0 {
                s.f1_mut(large).large_mapcount = 0;
                dirtied.insert(large.head);
            }
            for _ in 0..rng.below(4) {
                let f = folios[rng.below(folios.len() as u64) as usize];
                dirtied.insert(f.head);
                s.mapcounts
                    .get_mut(f.head.add(rng.below(f.nr_pages())))
                    .0
                    .mapcount += 1;
            }
            let (mut one_by_one, mut want) = (s.clone(), Vec::new());
            for &f in &folios {
                if let Err(e) = one_by_one.free_folio(f) {
                    want.push(e);
                }
            }
            let mut got = Vec::new();
            s.free_folios(&folios, &mut got);
            assert_eq!(got, want);
            assert_eq!(
                got.len(),
                dirtied.len(),
                "one bad page report per dirtied folio"
            );
            for &f in &folios {
                assert!(s.free_folio(f).is_ok(), "{f:?} reset by the run's free");
            }
        }
    }
}
