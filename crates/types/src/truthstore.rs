//! The oracle's truth of every mapped folio, stored by PFN as the kernel keeps per-page
//! state: a folio's truth is found from its head, or from any of its pages, in a few loads
//! (no tree search), iterated in PFN order, and the truth of a folio whose last mapping went
//! is recycled, allocations and all, for the next folio counted in. Most small folios (one
//! page, at most two MMs) take 16 bytes, a [`SmallTruth`] at their page, not a slot.

use crate::{FolioTruth, Pfn, PfnSet, SmallStep, SmallTruth};
use std::borrow::Cow;
use std::fmt;

/// Pages per chunk of a [`PageIndex`] (one PMD range: a folio of at most PMD order lies in one).
const CHUNK_SHIFT: u32 = 9;
const CHUNK_PAGES: usize = 1 << CHUNK_SHIFT;

/// Slots per chunk of the store's slab.
const SLOT_CHUNK: usize = 1 << 12;

/// A `u32` per PFN, 0 until set, in chunks allocated on first write: the store costs what
/// was mapped, not the model's memory size.
#[derive(Clone, Default)]
struct PageIndex {
    chunks: Vec<Option<Box<[u32; CHUNK_PAGES]>>>,
}

impl PageIndex {
    #[inline]
    fn get(&self, pfn: Pfn) -> u32 {
        let (c, i) = (
            (pfn.0 >> CHUNK_SHIFT) as usize,
            pfn.0 as usize % CHUNK_PAGES,
        );
        match self.chunks.get(c) {
            Some(Some(chunk)) => chunk[i],
            _ => 0,
        }
    }

    #[inline]
    fn set(&mut self, pfn: Pfn, v: u32) {
        let (c, i) = (
            (pfn.0 >> CHUNK_SHIFT) as usize,
            pfn.0 as usize % CHUNK_PAGES,
        );
        if self.chunks.len() <= c {
            if v == 0 {
                return;
            }
            self.chunks.resize(c + 1, None);
        }
        let chunk = self.chunks[c].get_or_insert_with(|| Box::new([0; CHUNK_PAGES]));
        chunk[i] = v;
    }
}

impl PageIndex {
    /// Calls `f` with each chunk's part of the `nr` PFNs from `first` (a folio lies in one
    /// chunk: one call), the chunks allocated when `alloc`, else skipped when absent.
    #[inline]
    fn each_part(&mut self, first: Pfn, nr: u64, alloc: bool, mut f: impl FnMut(&mut [u32])) {
        let (mut pfn, end) = (first.0, first.0 + nr);
        while pfn < end {
            let c = (pfn >> CHUNK_SHIFT) as usize;
            let i = pfn as usize % CHUNK_PAGES;
            let n = (CHUNK_PAGES - i).min((end - pfn) as usize);
            if alloc && self.chunks.len() <= c {
                self.chunks.resize(c + 1, None);
            }
            let chunk = match self.chunks.get_mut(c) {
                Some(slot) if alloc => Some(slot.get_or_insert_with(|| Box::new([0; CHUNK_PAGES]))),
                Some(Some(chunk)) => Some(chunk),
                _ => None,
            };
            if let Some(chunk) = chunk {
                f(&mut chunk[i..i + n]);
            }
            pfn += n as u64;
        }
    }

    /// Chunk `c`, allocated (zero) if it was not.
    #[inline]
    fn chunks_mut(&mut self, c: usize) -> &mut [u32; CHUNK_PAGES] {
        if self.chunks.len() <= c {
            self.chunks.resize(c + 1, None);
        }
        self.chunks[c].get_or_insert_with(|| Box::new([0; CHUNK_PAGES]))
    }

    /// Sets the `nr` PFNs from `first` to `v` (not 0).
    #[inline]
    fn fill(&mut self, first: Pfn, nr: u64, v: u32) {
        if nr == 1 {
            return self.set(first, v);
        }
        self.each_part(first, nr, true, |part| part.fill(v));
    }

    /// Sets to 0 those of the `nr` PFNs from `first` that hold `v`.
    #[inline]
    fn clear_if(&mut self, first: Pfn, nr: u64, v: u32) {
        if nr == 1 {
            if self.get(first) == v {
                self.set(first, 0);
            }
            return;
        }
        self.each_part(first, nr, false, |part| {
            part.iter_mut()
                .for_each(|x| *x = if *x == v { 0 } else { *x })
        });
    }
}

/// The bit of a PFN index entry that says its folio is one page (that page) kept in the
/// slab: the run walk takes it as a small folio without reading the folio's truth first.
const SMALL: u32 = 1 << 31;

/// The PFN index's entry of a one-page folio kept as a [`SmallTruth`] at its page (no
/// slot's tag: slots stay below `SMALL - 2 * SLOT_CHUNK`, so that the slot it would name
/// lies past any slab chunk a stretch walk or read compares it with).
const COMPACT: u32 = u32::MAX;

/// The PFN index's entry for the pages of the folio in slot `s` of `nr_pages`.
#[inline]
fn tag(s: usize, nr_pages: u64) -> u32 {
    debug_assert!(
        s + 2 * SLOT_CHUNK < SMALL as usize,
        "slot {s} past the index's range"
    );
    (s as u32 + 1) | if nr_pages == 1 { SMALL } else { 0 }
}

/// The slot a PFN index entry names (`None`: no folio holds the page, or a [`SmallTruth`]
/// at the page does).
#[inline]
fn untag(v: u32) -> Option<usize> {
    if v == COMPACT {
        return None;
    }
    ((v & !SMALL) as usize).checked_sub(1)
}

/// The small truths of the one-page folios whose PFN index entry is [`COMPACT`], at their
/// pages, in chunks of the index's (allocated with the first such folio in the chunk).
#[derive(Clone, Default)]
struct Smalls {
    chunks: Vec<Option<Box<[SmallTruth; CHUNK_PAGES]>>>,
}

impl Smalls {
    /// The small truth at `pfn` (whose index entry is [`COMPACT`]).
    #[inline]
    fn at(&self, pfn: Pfn) -> &SmallTruth {
        let chunk = self.chunks[(pfn.0 >> CHUNK_SHIFT) as usize].as_ref();
        &chunk.expect("a compact entry's chunk")[pfn.0 as usize % CHUNK_PAGES]
    }

    /// Chunk `c`, allocated (unmapped truths) if it was not.
    #[inline]
    fn chunk_mut(&mut self, c: usize) -> &mut [SmallTruth; CHUNK_PAGES] {
        if self.chunks.len() <= c {
            self.chunks.resize(c + 1, None);
        }
        self.chunks[c].get_or_insert_with(|| Box::new([SmallTruth::default(); CHUNK_PAGES]))
    }

    #[inline]
    fn at_mut(&mut self, pfn: Pfn) -> &mut SmallTruth {
        &mut self.chunk_mut((pfn.0 >> CHUNK_SHIFT) as usize)[pfn.0 as usize % CHUNK_PAGES]
    }
}

/// What [`TruthStore::each_small`] changes besides the PFN index, and what it calls.
struct Walk<'a, N, S, F> {
    slab: &'a mut Slab,
    heads: &'a mut PfnSet,
    smalls: &'a mut Smalls,
    is_new_small: N,
    small: S,
    f: F,
}

impl<N, S, F> Walk<'_, N, S, F>
where
    N: FnMut(Pfn) -> bool,
    S: FnMut(Pfn, &mut SmallTruth) -> SmallStep,
    F: FnMut(Pfn, &mut FolioTruth) -> bool,
{
    /// [`TruthStore::each_small`] over `index`, the PFN index's entries of the pages from
    /// `first` (in chunk `c`): how many pages it walked.
    #[inline]
    fn each_in(&mut self, index: &mut [u32], first: Pfn, c: usize) -> usize {
        let mut k = 0;
        while k < index.len() {
            let v = index[k];
            if v == COMPACT || (v == 0 && (self.is_new_small)(first.add(k as u64))) {
                k = self.each_compact_in(index, k, first, c);
            } else if v & SMALL != 0 {
                k = self.each_stored_small_in(index, k, first);
            } else {
                return k;
            }
        }
        index.len()
    }

    /// The small truths from `index[k]` on (whose entry is [`COMPACT`], or a new small
    /// folio's, stored here), changed by `small`, forgotten when it says so: where they
    /// end (past `k`), or the first that `small` cannot change, moved to the slab for
    /// [`Walk::each_stored_small_in`].
    #[inline(always)]
    fn each_compact_in(&mut self, index: &mut [u32], mut k: usize, first: Pfn, c: usize) -> usize {
        let base = first.0 as usize % CHUNK_PAGES;
        let recs = &mut self.smalls.chunk_mut(c)[base..base + index.len()];
        let mut new = index[k] == 0;
        while k < index.len() {
            let pfn = first.add(k as u64);
            match index[k] {
                COMPACT => {}
                0 if new || (self.is_new_small)(pfn) => {
                    (index[k], recs[k]) = (COMPACT, SmallTruth::default());
                    self.heads.insert(pfn);
                }
                _ => break,
            }
            new = false;
            match (self.small)(pfn, &mut recs[k]) {
                SmallStep::Keep => {}
                SmallStep::Forget => {
                    index[k] = 0;
                    self.heads.remove(&pfn);
                }
                SmallStep::General => {
                    // Kept whole from now on: the slab's walk changes it (one call of
                    // `f`, inlined).
                    let s = self
                        .slab
                        .alloc_with(pfn, std::mem::take(&mut recs[k]).to_truth());
                    index[k] = tag(s, 1);
                    return k;
                }
            }
            k += 1;
        }
        k
    }

    /// The stored small folios of the slab from `index[k]` on whose slots lie in the same
    /// chunk of the slab as its (the folios of consecutive pages mostly took consecutive
    /// slots), with that chunk found once, changed by `f`: where it stopped (past `k`).
    #[inline(always)]
    fn each_stored_small_in(&mut self, index: &mut [u32], mut k: usize, first: Pfn) -> usize {
        let Slab { slots, free, .. } = &mut *self.slab;
        let s = untag(index[k]).expect("a stored folio's tag");
        let base = s - s % SLOT_CHUNK;
        let chunk = &mut slots[s / SLOT_CHUNK][..];
        while k < index.len() {
            let v = index[k];
            // A compact entry names a slot past the chunk (see `COMPACT`).
            let i = ((v & !SMALL) as usize).wrapping_sub(base + 1);
            if v & SMALL == 0 || i >= chunk.len() {
                break;
            }
            let (head, t) = &mut chunk[i];
            let pfn = first.add(k as u64);
            debug_assert!(
                *head == pfn && t.nr_pages == 1,
                "a small folio's tag at {pfn:?}"
            );
            if (self.f)(pfn, t) {
                index[k] = 0;
                self.heads.remove(&pfn);
                free.push((base + i) as u32);
            }
            k += 1;
        }
        k
    }
}

/// Head and truth by slot, in chunks of [`SLOT_CHUNK`] that never move (no copy when the
/// store grows); a free slot keeps its allocations for the next folio stored.
#[derive(Clone, Default)]
struct Slab {
    slots: Vec<Vec<(Pfn, FolioTruth)>>,
    nr_slots: usize,
    free: Vec<u32>,
}

impl Slab {
    #[inline]
    fn at(&self, s: usize) -> &(Pfn, FolioTruth) {
        &self.slots[s / SLOT_CHUNK][s % SLOT_CHUNK]
    }

    #[inline]
    fn at_mut(&mut self, s: usize) -> &mut (Pfn, FolioTruth) {
        &mut self.slots[s / SLOT_CHUNK][s % SLOT_CHUNK]
    }

    /// A slot holding `head`, an unmapped folio of `nr_pages` (a free one reused).
    #[inline(never)]
    fn alloc(&mut self, head: Pfn, nr_pages: u64) -> usize {
        if let Some(s) = self.free.pop() {
            let (h, t) = self.at_mut(s as usize);
            *h = head;
            t.reset(nr_pages);
            return s as usize;
        }
        self.push(head, FolioTruth::new(nr_pages))
    }

    /// A slot holding `head` and `truth` (a free one reused).
    #[inline(never)]
    fn alloc_with(&mut self, head: Pfn, truth: FolioTruth) -> usize {
        if let Some(s) = self.free.pop() {
            *self.at_mut(s as usize) = (head, truth);
            return s as usize;
        }
        self.push(head, truth)
    }

    /// A new slot holding `head` and `truth`.
    fn push(&mut self, head: Pfn, truth: FolioTruth) -> usize {
        if self.nr_slots.is_multiple_of(SLOT_CHUNK) {
            self.slots.push(Vec::with_capacity(SLOT_CHUNK));
        }
        let chunk = self.slots.last_mut().expect("a chunk with room");
        chunk.push((head, truth));
        self.nr_slots += 1;
        self.nr_slots - 1
    }
}

/// Truth of every folio some page table maps, keyed by head PFN (see the module
/// documentation). Reads like the ordered map it replaces: [`TruthStore::get`], iteration
/// in ascending head order, equality of the (head, truth) pairs. A one-page folio that at
/// most two MMs map is kept as a [`SmallTruth`] at its page (16 bytes), read as the
/// [`FolioTruth`] it stands for (built: the readers get a `Cow`); any other folio's truth
/// is kept whole in a slot.
#[derive(Clone, Default)]
pub struct TruthStore {
    /// At each page of a folio: 1 + its slot (the folio an entry mapping that page was
    /// counted for), or [`COMPACT`]; at its head, how the folio is found from its head.
    cover: PageIndex,
    slab: Slab,
    smalls: Smalls,
    heads: PfnSet,
}

impl TruthStore {
    pub fn new() -> TruthStore {
        TruthStore::default()
    }

    #[inline]
    fn at(&self, s: usize) -> &(Pfn, FolioTruth) {
        self.slab.at(s)
    }

    #[inline]
    fn at_mut(&mut self, s: usize) -> &mut (Pfn, FolioTruth) {
        self.slab.at_mut(s)
    }

    /// The slot of the folio at `head` (a cover entry is non-zero only for a stored folio:
    /// [`TruthStore::remove`] clears them; the slot's head says whether `head` is its head).
    #[inline]
    fn slot(&self, head: Pfn) -> Option<usize> {
        let s = untag(self.cover.get(head))?;
        (self.at(s).0 == head).then_some(s)
    }

    /// Whether page `pfn` holds a one-page folio kept as a [`SmallTruth`].
    #[inline]
    fn is_compact(&self, pfn: Pfn) -> bool {
        self.cover.get(pfn) == COMPACT
    }

    /// Moves the small truth at `pfn` into a slot (as the truth it stands for), if one is
    /// there: what a change the small truth cannot hold needs first.
    #[inline]
    fn unpack(&mut self, pfn: Pfn) {
        if self.is_compact(pfn) {
            let truth = std::mem::take(self.smalls.at_mut(pfn)).to_truth();
            let s = self.slab.alloc_with(pfn, truth);
            self.cover.set(pfn, tag(s, 1));
        }
    }

    /// The truth of the folio whose head is `head`.
    #[inline]
    pub fn get(&self, head: &Pfn) -> Option<Cow<'_, FolioTruth>> {
        if self.is_compact(*head) {
            return Some(Cow::Owned(self.smalls.at(*head).to_truth()));
        }
        self.slot(*head).map(|s| Cow::Borrowed(&self.at(s).1))
    }

    /// The truth of the folio whose head is `head`, to change (kept whole from then on).
    #[inline]
    pub fn get_mut(&mut self, head: &Pfn) -> Option<&mut FolioTruth> {
        self.unpack(*head);
        let s = self.slot(*head)?;
        Some(&mut self.at_mut(s).1)
    }

    pub fn contains_key(&self, head: &Pfn) -> bool {
        self.heads.contains(head)
    }

    /// The slot of the folio holding page `pfn`, if one is stored in a slot.
    #[inline]
    fn covering(&self, pfn: Pfn) -> Option<usize> {
        let s = untag(self.cover.get(pfn))?;
        let (head, t) = self.at(s);
        (*head <= pfn && pfn < head.add(t.nr_pages)).then_some(s)
    }

    /// The folio holding page `pfn` and its truth, if one is stored.
    #[inline]
    pub fn containing(&self, pfn: Pfn) -> Option<(Pfn, Cow<'_, FolioTruth>)> {
        if self.is_compact(pfn) {
            return Some((pfn, Cow::Owned(self.smalls.at(pfn).to_truth())));
        }
        let (head, t) = self.at(self.covering(pfn)?);
        Some((*head, Cow::Borrowed(t)))
    }

    /// The folio holding page `pfn` and its truth to change (kept whole from then on).
    #[inline]
    pub fn containing_mut(&mut self, pfn: Pfn) -> Option<(Pfn, &mut FolioTruth)> {
        self.unpack(pfn);
        let s = self.covering(pfn)?;
        let (head, t) = self.at_mut(s);
        Some((*head, t))
    }

    /// The folio holding page `pfn` and its truth; if none is stored, the folio `folio()`
    /// names (head, pages), stored unmapped. One lookup when it is found.
    #[inline]
    pub fn containing_or_insert(
        &mut self,
        pfn: Pfn,
        folio: impl FnOnce() -> (Pfn, u64),
    ) -> (Pfn, &mut FolioTruth) {
        self.unpack(pfn);
        if let Some(s) = self.covering(pfn) {
            let (head, t) = self.at_mut(s);
            return (*head, t);
        }
        let (head, nr_pages) = folio();
        (head, self.get_or_insert(head, nr_pages))
    }

    /// The truth of the folio at `head`, an unmapped folio of `nr_pages` if none is stored.
    #[inline]
    pub fn get_or_insert(&mut self, head: Pfn, nr_pages: u64) -> &mut FolioTruth {
        self.unpack(head);
        if let Some(s) = self.slot(head) {
            return &mut self.at_mut(s).1;
        }
        let s = self.slab.alloc(head, nr_pages);
        self.heads.insert(head);
        self.cover.fill(head, nr_pages, tag(s, nr_pages));
        &mut self.at_mut(s).1
    }

    /// Forgets the folio at `head`; whether it was stored.
    pub fn remove(&mut self, head: &Pfn) -> bool {
        if self.is_compact(*head) {
            self.cover.set(*head, 0);
            self.heads.remove(head);
            return true;
        }
        let Some(s) = self.slot(*head) else {
            return false;
        };
        self.forget_slot(s);
        true
    }

    /// Changes the truth of the folio holding page `pfn` with `f`, which says whether to
    /// forget the folio then (its last mapping went): one lookup for both, what counting an
    /// entry out of a small folio costs. The folio's head, if one holds `pfn`.
    #[inline]
    pub fn update_containing(
        &mut self,
        pfn: Pfn,
        f: impl FnOnce(Pfn, &mut FolioTruth) -> bool,
    ) -> Option<Pfn> {
        self.unpack(pfn);
        let s = self.covering(pfn)?;
        let (head, t) = self.at_mut(s);
        let head = *head;
        if f(head, t) {
            self.forget_slot(s);
        }
        Some(head)
    }

    /// Walks the `nr` pages from `first` while each is a one-page folio (the run of small
    /// folios a run of PTEs maps) in one pass over the PFN index: calls `small(pfn, truth)`
    /// for each kept as a [`SmallTruth`] and `f(pfn, truth)` for each kept whole (or whose
    /// small truth cannot hold the change: `small` said [`SmallStep::General`]), forgetting
    /// the folio when they say so (its last mapping went). A page no stored folio holds is
    /// first stored, as an unmapped one-page folio, when `is_new_small(pfn)` says it is
    /// one. Stops at the first page that is not a small folio (part of a larger one, or
    /// absent and not new): the caller takes that one the general way. Returns how many
    /// pages it walked.
    #[inline]
    pub fn each_small(
        &mut self,
        first: Pfn,
        nr: u64,
        mut is_new_small: impl FnMut(Pfn) -> bool,
        small: impl FnMut(Pfn, &mut SmallTruth) -> SmallStep,
        f: impl FnMut(Pfn, &mut FolioTruth) -> bool,
    ) -> u64 {
        let mut done = 0;
        let c = (first.0 >> CHUNK_SHIFT) as usize;
        let absent = !matches!(self.cover.chunks.get(c), Some(Some(_)));
        if nr == 0 || (absent && !is_new_small(first)) {
            return 0;
        }
        let TruthStore {
            cover,
            slab,
            smalls,
            heads,
        } = self;
        let mut walk = Walk {
            slab,
            heads,
            smalls,
            is_new_small,
            small,
            f,
        };
        while done < nr {
            let pfn = first.add(done);
            let i = pfn.0 as usize % CHUNK_PAGES;
            let n = (CHUNK_PAGES - i).min((nr - done) as usize);
            let c = (pfn.0 >> CHUNK_SHIFT) as usize;
            let absent = !matches!(cover.chunks.get(c), Some(Some(_)));
            if absent && done > 0 && !(walk.is_new_small)(pfn) {
                break;
            }
            let k = walk.each_in(&mut cover.chunks_mut(c)[i..i + n], pfn, c);
            done += k as u64;
            if k < n {
                break;
            }
        }
        done
    }

    /// The entries mapping each of the one-page folios at the pages from `first` (one
    /// per element of `out`, which stays within `first`'s PMD-order block), as
    /// `get(&pfn).map_or(0, FolioTruth::total_entries)` gives them, in one pass over the
    /// PFN index: what the touched check reads of a run of small folios. Stops at the
    /// first page a larger stored folio covers (the caller looks that one up the general
    /// way). Returns how many it filled.
    #[inline]
    pub fn small_entries(&self, first: Pfn, out: &mut [u64]) -> usize {
        let (c, i) = (
            (first.0 >> CHUNK_SHIFT) as usize,
            first.0 as usize % CHUNK_PAGES,
        );
        let out_len = out.len().min(CHUNK_PAGES - i);
        let out = &mut out[..out_len];
        let Some(Some(chunk)) = self.cover.chunks.get(c) else {
            out.fill(0);
            return out.len();
        };
        let index = &chunk[i..i + out.len()];
        let recs = self.smalls.chunks.get(c).and_then(Option::as_deref);
        let mut k = 0;
        while k < out.len() {
            match index[k] {
                0 => {
                    out[k] = 0;
                    k += 1;
                }
                COMPACT => {
                    out[k] = recs.expect("a compact entry's chunk")[i + k].entries();
                    k += 1;
                }
                v if v & SMALL != 0 => k = self.small_entries_in(index, k, first, out),
                _ => return k,
            }
        }
        out.len()
    }

    /// Whether a stored folio's head lies among the `nr` pages from `first`: `get` answers
    /// `None` for each of them when not. A word of the head bitmap at a time.
    #[inline]
    pub fn heads_in(&self, first: Pfn, nr: usize) -> bool {
        let any = self.heads.absent_len(first, nr) < nr;
        debug_assert_eq!(
            any,
            (0..nr as u64).any(|k| self.get(&first.add(k)).is_some())
        );
        any
    }

    /// [`TruthStore::small_entries`] of the stored small folios from `index[k]` on whose
    /// slots lie in the same chunk of the slab as its, with that chunk found once: where
    /// it stopped (past `k`). A one-page folio's tag is at its page alone.
    #[inline(always)]
    fn small_entries_in(&self, index: &[u32], mut k: usize, first: Pfn, out: &mut [u64]) -> usize {
        let s = untag(index[k]).expect("a stored folio's tag");
        let base = s - s % SLOT_CHUNK;
        let slots = &self.slab.slots[s / SLOT_CHUNK][..];
        while k < out.len() {
            let v = index[k];
            // A compact entry names a slot past the chunk (see `COMPACT`).
            let j = ((v & !SMALL) as usize).wrapping_sub(base + 1);
            if v & SMALL == 0 || j >= slots.len() {
                break;
            }
            let (head, t) = &slots[j];
            debug_assert!(*head == first.add(k as u64) && t.nr_pages == 1);
            out[k] = t.pte_maps_per_page.small() + t.pmd_maps;
            k += 1;
        }
        k
    }

    /// Forgets the folio in slot `s`.
    #[inline]
    fn forget_slot(&mut self, s: usize) {
        let (head, t) = self.at(s);
        let (head, nr_pages) = (*head, t.nr_pages);
        self.cover.clear_if(head, nr_pages, tag(s, nr_pages));
        self.heads.remove(&head);
        self.slab.free.push(s as u32);
    }

    /// Folios stored.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// (head, truth) in ascending order of head.
    pub fn iter(&self) -> impl Iterator<Item = (Pfn, Cow<'_, FolioTruth>)> + '_ {
        self.heads.iter().map(move |h| {
            let t = self.get(&h).expect("a stored head's truth");
            (h, t)
        })
    }

    /// Heads in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.heads.iter()
    }

    /// Truths in ascending order of head.
    pub fn values(&self) -> impl Iterator<Item = Cow<'_, FolioTruth>> + '_ {
        self.iter().map(|(_, t)| t)
    }
}

impl<'a> IntoIterator for &'a TruthStore {
    type Item = (Pfn, Cow<'a, FolioTruth>);
    type IntoIter = Box<dyn Iterator<Item = (Pfn, Cow<'a, FolioTruth>)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// The same (head, truth) pairs.
impl PartialEq for TruthStore {
    fn eq(&self, other: &TruthStore) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for TruthStore {}

/// Printed as a map from head to truth.
impl fmt::Debug for TruthStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Prng;
    use crate::MmId;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_an_ordered_map_of_folios() {
        let mut s = TruthStore::new();
        let mut reference: BTreeMap<Pfn, FolioTruth> = BTreeMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let order = (x >> 50) % 4;
            let head = Pfn(((x % (1 << 16)) >> order) << order);
            let nr = 1u64 << order;
            if x & (1 << 40) != 0 && !reference.keys().any(|h| overlaps(*h, &reference, head, nr)) {
                let t = s.get_or_insert(head, nr);
                *t.entries_per_mm.counter(MmId(x as u32 % 7)) += 1;
                t.pte_maps_per_page.add((x >> 20) as usize % nr as usize);
                reference.insert(head, t.clone());
            } else if let Some(h) = reference.keys().nth((x % 17) as usize).copied() {
                assert!(s.remove(&h));
                reference.remove(&h);
            }
            assert!(s
                .iter()
                .map(|(h, t)| (h, t.into_owned()))
                .eq(reference.clone()));
        }
        for (h, t) in &reference {
            let last = h.add(t.nr_pages - 1);
            assert_eq!(s.containing_mut(last).map(|(h, _)| h), Some(*h));
        }
        assert_eq!(s.len(), reference.len());
    }

    fn overlaps(h: Pfn, m: &BTreeMap<Pfn, FolioTruth>, head: Pfn, nr: u64) -> bool {
        h < head.add(nr) && head < h.add(m[&h].nr_pages)
    }

    /// A `small` change for [`TruthStore::each_small`] that fails the test.
    fn no_small(p: Pfn, _: &mut SmallTruth) -> SmallStep {
        panic!("{p:?} is kept whole")
    }

    /// The run walk takes the small folios in PFN order, stores the new ones it is told
    /// of, forgets those it is asked to, and stops at a page of a larger folio or at an
    /// absent page that is not new: broken any of those ways, this fails.
    #[test]
    fn the_run_walk_takes_small_folios_and_stops_at_anything_else() {
        let mut s = TruthStore::new();
        for h in [510, 511, 512, 513] {
            s.get_or_insert(Pfn(h), 1).pte_maps_per_page.add(0);
        }
        s.get_or_insert(Pfn(516), 4);
        let mut seen = Vec::new();
        let mut new = Vec::new();
        // 510..=513 stored whole, 514 new (a small truth), 515 absent and not new.
        let walked = s.each_small(
            Pfn(510),
            10,
            |p| p == Pfn(514),
            |p, r| {
                new.push((p, r.entries()));
                r.count_in(MmId(1))
            },
            |p, t| {
                seen.push((p, t.pte_maps_per_page[0]));
                p == Pfn(511)
            },
        );
        assert_eq!(walked, 5);
        let want: Vec<(Pfn, u64)> = [(510, 1), (511, 1), (512, 1), (513, 1)]
            .into_iter()
            .map(|(p, n)| (Pfn(p), n))
            .collect();
        assert_eq!(seen, want);
        assert_eq!(new, vec![(Pfn(514), 0)]);
        assert!(s.get(&Pfn(511)).is_none() && s.containing(Pfn(511)).is_none());
        let mut one = FolioTruth::new(1);
        one.pte_maps_per_page.add(0);
        *one.entries_per_mm.counter(MmId(1)) += 1;
        assert_eq!(s.get(&Pfn(514)).as_deref(), Some(&one));
        // A page of the larger folio ends the walk at once, head or tail.
        let never = |_: Pfn, _: &mut FolioTruth| false;
        assert_eq!(s.each_small(Pfn(516), 4, |_| true, no_small, never), 0);
        assert_eq!(s.each_small(Pfn(518), 2, |_| true, no_small, never), 0);
        let heads: Vec<u64> = s.keys().map(|p| p.0).collect();
        assert_eq!(heads, vec![510, 512, 513, 514, 516]);
        assert_eq!(s.len(), 5);
    }

    /// The run walk finds a stored small folio's truth in its slot's chunk, found once for
    /// a stretch of folios whose slots lie in it: folios of consecutive pages whose slots
    /// lie in different chunks, or out of order in one, or freed, each get their own
    /// truth, and the pages new to it become small truths. A stretch walked on into
    /// another chunk's slots fails it (or trips the head assertion first).
    #[test]
    fn the_run_walk_finds_each_folio_whatever_chunk_its_slot_is_in() {
        let first = 10_000u64;
        let nr = SLOT_CHUNK as u64;
        let mut s = TruthStore::new();
        // Slots 0.. for the pages from `first` but the last two, then the one before
        // `first`; page `first + 5` forgotten (new to the walk, as the last two and the
        // two after them).
        for p in (first..first + nr - 2).chain([first - 1]) {
            s.get_or_insert(Pfn(p), 1);
        }
        assert!(s.remove(&Pfn(first + 5)));
        let end = first + nr + 2;
        let mut new = Vec::new();
        let walked = s.each_small(
            Pfn(first - 1),
            end - (first - 1),
            |_| true,
            |p, r| {
                new.push(p.0);
                r.count_in(MmId(7))
            },
            |p, t| {
                *t.pte_maps_per_page.small_mut() += p.0;
                false
            },
        );
        assert_eq!(walked, end - (first - 1));
        assert_eq!(
            new,
            [
                first + 5,
                first + nr - 2,
                first + nr - 1,
                first + nr,
                first + nr + 1
            ]
        );
        for p in first - 1..end {
            let want = if new.contains(&p) { 1 } else { p };
            assert_eq!(
                s.get(&Pfn(p)).expect("stored").pte_maps_per_page[0],
                want,
                "page {p}"
            );
        }
        assert_eq!(s.len() as u64, end - (first - 1));
    }

    /// Small truths counted in and out through the run walk (up to two MMs, a third one
    /// moving the folio to a slot) read, through every reader, as the truths the general
    /// way keeps for the same entries: a small truth that lost or misread an MM's count,
    /// or a folio moved to a slot without its counts, fails it.
    #[test]
    fn small_truths_read_as_the_truths_kept_whole() {
        let mut rng = Prng::new(3);
        let (mut s, mut whole) = (TruthStore::new(), TruthStore::new());
        let mut moved = 0;
        for _ in 0..3000 {
            let first = Pfn(1000 + rng.below(1100));
            let nr = 1 + rng.below(40);
            let mm = MmId(1 + rng.below(4) as u32);
            let mapped =
                |w: &TruthStore, k: u64| w.get(&first.add(k)).is_some_and(|t| t.mapped_by(mm));
            let out = rng.below(3) == 0 && (0..nr).all(|k| mapped(&whole, k));
            for k in 0..nr {
                let t = whole.get_or_insert(first.add(k), 1);
                if out {
                    t.pte_maps_per_page.sub(0);
                    t.entries_per_mm.sub(mm, 1);
                    if !t.is_mapped() {
                        whole.remove(&first.add(k));
                    }
                } else {
                    t.pte_maps_per_page.add(0);
                    t.entries_per_mm.add(mm, 1);
                }
            }
            let general = |_: Pfn, t: &mut FolioTruth| {
                if out {
                    t.pte_maps_per_page.sub(0);
                    t.entries_per_mm.sub(mm, 1);
                } else {
                    t.pte_maps_per_page.add(0);
                    t.entries_per_mm.add(mm, 1);
                }
                !t.is_mapped()
            };
            let small = |_: Pfn, r: &mut SmallTruth| {
                let step = if out { r.count_out(mm) } else { r.count_in(mm) };
                moved += (step == SmallStep::General) as u32;
                step
            };
            assert_eq!(s.each_small(first, nr, |_| true, small, general), nr);
            assert_eq!(s, whole);
        }
        assert!(moved > 100, "{moved} folios moved to a slot");
        let mut entries = vec![0; CHUNK_PAGES];
        for pfn in (0..4).map(|c| Pfn(CHUNK_PAGES as u64 * (1 + c))) {
            assert_eq!(s.small_entries(pfn, &mut entries), CHUNK_PAGES);
            for (k, n) in entries.iter().enumerate() {
                let t = whole.get(&pfn.add(k as u64));
                assert_eq!(*n, t.map_or(0, |t| t.total_entries()));
            }
        }
        for (h, t) in whole.iter() {
            assert_eq!(
                s.containing(h).map(|(p, t)| (p, t.into_owned())),
                Some((h, t.into_owned()))
            );
        }
        // Changed the general way: kept whole from then on, as the same truth.
        let h = whole.keys().nth(7).expect("folios");
        s.get_mut(&h).expect("stored").pmd_maps += 1;
        whole.get_mut(&h).expect("stored").pmd_maps += 1;
        let h = whole.keys().next().expect("folios");
        assert!(s.remove(&h) && whole.remove(&h));
        assert_eq!(s, whole);
    }

    /// The run read of small folios' entries gives `get`'s answers, 0 for an absent page,
    /// and stops at a page a larger folio covers.
    #[test]
    fn small_entries_read_a_run_as_get_does() {
        let mut s = TruthStore::new();
        for (h, n) in [(510, 2), (511, 1), (513, 3)] {
            let t = s.get_or_insert(Pfn(h), 1);
            (0..n).for_each(|_| t.pte_maps_per_page.add(0));
        }
        s.get_or_insert(Pfn(516), 4).pmd_maps = 1;
        let count_in = |_: Pfn, r: &mut SmallTruth| r.count_in(MmId(2));
        let never = |_: Pfn, _: &mut FolioTruth| false;
        assert_eq!(s.each_small(Pfn(514), 1, |_| true, count_in, never), 1);
        let mut out = [9; 8];
        assert_eq!(s.small_entries(Pfn(510), &mut out[..2]), 2);
        assert_eq!(out[..2], [2, 1]);
        // 512 starts a new block: 512..=515 are read (514 a small truth, 515 absent),
        // 516 stops it.
        assert_eq!(s.small_entries(Pfn(512), &mut out), 4);
        assert_eq!(out[..4], [0, 3, 1, 0]);
        assert_eq!(s.small_entries(Pfn(517), &mut out), 0);
        // A block the index never wrote reads unmapped.
        assert_eq!(s.small_entries(Pfn(1 << 20), &mut out), 8);
        assert_eq!(out, [0; 8]);
    }

    /// The run read of small folios' entries finds each folio's truth in its slot's chunk
    /// as the run walk does: over folios whose slots lie out of order in one chunk, and
    /// in the next chunk, it reads what `get` reads. A stretch read on into another
    /// chunk's slots fails it.
    #[test]
    fn small_entries_read_folios_in_any_chunk_as_get_does() {
        let first = 10_000u64;
        let nr = SLOT_CHUNK as u64;
        let mut s = TruthStore::new();
        // Slots 0.. for the pages from `first` but the last, then the one before `first`
        // (chunk 0's last slot), then the last page (chunk 1); page `first + 7` absent.
        for p in (first..first + nr - 1).chain([first - 1, first + nr - 1]) {
            let t = s.get_or_insert(Pfn(p), 1);
            (0..p % 11).for_each(|_| t.pte_maps_per_page.add(0));
        }
        assert!(s.remove(&Pfn(first + 7)));
        let want = |p: u64| s.get(&Pfn(p)).map_or(0, |t| t.total_entries());
        let mut out = vec![u64::MAX; CHUNK_PAGES];
        let mut pfn = first - 1;
        while pfn < first + nr {
            // Every page a small folio's or absent: each read goes to its index block's end.
            let n = s.small_entries(Pfn(pfn), &mut out);
            assert_eq!(
                n,
                CHUNK_PAGES - pfn as usize % CHUNK_PAGES,
                "stopped in {pfn}'s block"
            );
            for (k, got) in out[..n].iter().enumerate() {
                assert_eq!(*got, want(pfn + k as u64), "page {}", pfn + k as u64);
            }
            pfn += n as u64;
        }
    }

    #[test]
    fn heads_in_says_whether_get_finds_a_folio_in_a_range() {
        let mut s = TruthStore::new();
        s.get_or_insert(Pfn(100), 1);
        s.get_or_insert(Pfn(512), 4);
        assert!(s.heads_in(Pfn(90), 11) && !s.heads_in(Pfn(90), 10));
        assert!(!s.heads_in(Pfn(101), 300));
        // Pages of a larger folio but its head: get finds nothing there.
        assert!(!s.heads_in(Pfn(513), 3) && s.heads_in(Pfn(510), 3));
        assert!(!s.heads_in(Pfn(1 << 24), 64));
    }

    #[test]
    fn a_recycled_slot_starts_unmapped() {
        let mut s = TruthStore::new();
        let t = s.get_or_insert(Pfn(512), 4);
        t.pmd_maps = 1;
        *t.entries_per_mm.counter(MmId(3)) += 2;
        assert!(s.remove(&Pfn(512)));
        assert!(s.containing_mut(Pfn(513)).is_none());
        assert_eq!(*s.get_or_insert(Pfn(7), 1), FolioTruth::new(1));
        assert_eq!(s.keys().collect::<Vec<_>>(), vec![Pfn(7)]);
    }
}
