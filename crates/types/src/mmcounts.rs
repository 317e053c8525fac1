//! [`MmCounts`]: the entries each MM has mapping one folio (the `r_x` of the MM_ID
//! invariants), a map from MM to count kept three ways by how many MMs map the folio and how
//! their ids spread: inline for a few (most folios), a dense array of counts indexed from a
//! base id when the ids are close (the children of one forking parent take consecutive
//! ids), a sorted vector otherwise (ids far apart: a dense array would be mostly holes).

use crate::MmId;
use std::cell::{Ref, RefCell};
use std::fmt;
use std::rc::Rc;

/// MMs kept inline before a [`MmCounts`] moves them behind its pointer.
const MM_INLINE: usize = 2;

/// The count of an MM a [`Many`] keeps a place for but which maps nothing (a hole of the
/// dense array, a tombstone of the sorted vector).
const GONE: u32 = u32::MAX;

/// MMs a sorted vector holds at least before it turns dense (below, both are small).
const DENSE_MIN_MMS: usize = 16;

/// A sorted vector turns dense once the ids of its MMs span at most this many ids per MM:
/// the dense array (4 bytes an id) then takes no more memory than the vector (8 bytes an MM).
const TO_DENSE_SPAN_PER_MM: usize = 2;

/// A dense array turns back into a sorted vector once its ids span more than this many ids
/// per MM plus [`DENSE_SLACK`] (twice the vector's memory at most; between this and
/// [`TO_DENSE_SPAN_PER_MM`] neither changes, so a folio does not flip at every fork or exit).
const TO_SPARSE_SPAN_PER_MM: usize = 4;

/// Ids a dense array may span beyond [`TO_SPARSE_SPAN_PER_MM`] per MM (a few MMs forked
/// from the same parent at different times), and holes at its front it keeps before
/// dropping them.
const DENSE_SLACK: usize = 64;

/// Entries per MM of one folio (PTEs and PMDs of that MM mapping any of its pages, 0 up to
/// `u32::MAX - 1`: an MM maps a page at most once per VMA), an MM with none absent,
/// iterated in ascending order of MM. Inline (32 bytes in all) while at most two MMs map the
/// folio; past that behind one pointer, kept for reuse: a dense array of 4-byte counts from
/// a base id while the MMs' ids are close, so that a folio shared by thousands of forked
/// children gains one at fork by an append and loses one at exit by a store (the parent,
/// whose id lies below its children's, is kept aside once the children next to it
/// exited, so that the array need not span the ids of the children gone); a sorted
/// vector (8 bytes an MM, found by an interpolating search, removals leaving tombstones
/// that an MM taking the same id again revives) when they are far apart. Either way a
/// folio mapped by thousands of MMs gains or loses one in O(log n) at most, and memory
/// stays within twice the sorted vector's.
#[derive(Clone, Default)]
pub struct MmCounts {
    /// Entries in `inline` while `many` holds none.
    nr_inline: usize,
    inline: Inline,
    /// The entries once more than `MM_INLINE` were held (until no MM is left), shared with
    /// other folios whose entries are the same (copy on write, or changed in place by a run
    /// that changes every folio holding them: [`RunShare`]).
    many: Option<Shared>,
}

/// Entries behind the pointer, shared by the folios holding them (the `Rc`'s strong count
/// is how many hold them); changed through the cell only by a run that met every holder
/// ([`RunShare::settle`] undoes it otherwise), else copied first.
type Shared = Rc<RefCell<Many>>;

/// The entries of a folio mapped by more than [`MM_INLINE`] MMs.
#[derive(Clone, Default)]
struct Many {
    /// MMs counted (entries that are not [`GONE`]); 0: the inline entries are the map.
    live: usize,
    /// `dense` holds the entries, else `sparse` does (the other is empty).
    is_dense: bool,
    /// (MM, count) sorted by MM, with tombstones.
    sparse: Vec<(MmId, u32)>,
    /// The count of MM `base + i` at `i`, [`GONE`] for an MM with none; never ends with a
    /// hole.
    dense: Vec<u32>,
    /// The id of `dense[0]`.
    base: u32,
    /// `dense[..first]` are holes (dropped once they are many).
    first: usize,
    /// With `dense`, one MM whose id lies below the array's, kept aside: a forking parent
    /// whose children (the array) exit in the order they were forked, so that the array
    /// need not span the ids of the children gone.
    low: Option<(MmId, u32)>,
}

impl Many {
    /// Index of `mm` in `dense` if it falls inside it.
    #[inline]
    fn dense_index(&self, mm: MmId) -> Option<usize> {
        let i = mm.0.checked_sub(self.base)? as usize;
        (i < self.dense.len()).then_some(i)
    }

    /// Where `mm`'s count is (maybe [`GONE`]), if it has a place.
    #[inline]
    fn place(&self, mm: MmId) -> Option<&u32> {
        if self.is_dense {
            if let Some((id, n)) = &self.low {
                if *id == mm {
                    return Some(n);
                }
            }
            self.dense_index(mm).map(|i| &self.dense[i])
        } else {
            search(&self.sparse, mm).ok().map(|i| &self.sparse[i].1)
        }
    }

    #[inline]
    fn place_mut(&mut self, mm: MmId) -> Option<&mut u32> {
        if self.is_dense {
            if self.low.is_some_and(|(id, _)| id == mm) {
                return self.low.as_mut().map(|(_, n)| n);
            }
            self.dense_index(mm).map(|i| &mut self.dense[i])
        } else {
            let i = search(&self.sparse, mm).ok()?;
            Some(&mut self.sparse[i].1)
        }
    }

    /// [`MmCounts::add`] of an MM with a place in the dense array, or of the MM just past
    /// its end while the array still fits (the next child of a forking parent): whether it
    /// added.
    #[inline(always)]
    fn add_dense(&mut self, mm: MmId, nr: u32) -> bool {
        let (i, len) = (mm.0.wrapping_sub(self.base) as usize, self.dense.len());
        if i < len {
            let n = &mut self.dense[i];
            if *n == GONE {
                return false;
            }
            *n += nr;
            return true;
        }
        if i == len && len > 0 && Many::dense_fits(len + 1 - self.first, self.live + 1) {
            self.dense.push(nr);
            self.live += 1;
            return true;
        }
        false
    }

    /// Ids the dense array would span with `mm` in it.
    fn span_with(&self, mm: MmId) -> usize {
        if self.dense.is_empty() {
            return 1;
        }
        let lo = (self.base as usize + self.first).min(mm.0 as usize);
        let hi = (self.base as usize + self.dense.len()).max(mm.0 as usize + 1);
        hi - lo
    }

    /// Whether `nr_ids` ids spanned by `nr_mms` MMs are few enough for a dense array.
    fn dense_fits(nr_ids: usize, nr_mms: usize) -> bool {
        nr_ids <= TO_SPARSE_SPAN_PER_MM * nr_mms + DENSE_SLACK
    }

    /// The count of `mm`, inserted as 0 when it has none.
    #[inline]
    fn counter(&mut self, mm: MmId) -> &mut u32 {
        if self.is_dense {
            // The common cases: an MM with a place, or the next child of a forking parent.
            if self.low.is_some_and(|(id, _)| id == mm) {
                return &mut self.low.as_mut().expect("low").1;
            }
            let len = self.dense.len();
            if let Some(i) = self.dense_index(mm) {
                if self.dense[i] == GONE {
                    self.dense[i] = 0;
                    self.live += 1;
                    self.first = self.first.min(i);
                }
                return &mut self.dense[i];
            }
            let fits = Many::dense_fits(len + 1 - self.first, self.live + 1);
            if len > 0 && mm.0 == self.base + len as u32 && fits {
                self.dense.push(0);
                self.live += 1;
                return &mut self.dense[len];
            }
        }
        self.counter_slow(mm)
    }

    /// [`Many::counter`] when `mm` changes the layout (a new place, maybe a new layout).
    fn counter_slow(&mut self, mm: MmId) -> &mut u32 {
        // Looked at when the MMs double (amortized O(1): the span skips tombstones).
        let grown = (self.live + 1).is_power_of_two();
        if !self.is_dense && grown && self.live + 1 >= DENSE_MIN_MMS {
            let (ids, ids_above_lowest) = self.sparse_spans_with(mm);
            if ids <= TO_DENSE_SPAN_PER_MM * (self.live + 1) {
                self.make_dense(false);
            } else if ids_above_lowest <= TO_DENSE_SPAN_PER_MM * self.live {
                self.make_dense(true);
            }
        }
        let below = self.low.is_some() && (mm.0 as usize) < self.base as usize + self.first;
        if self.is_dense && (below || !Many::dense_fits(self.span_with(mm), self.live + 1)) {
            self.make_sparse();
        }
        let slot = if self.is_dense {
            let i = self.dense_slot(mm);
            &mut self.dense[i]
        } else {
            let i = self.sparse_slot(mm);
            &mut self.sparse[i].1
        };
        if *slot == GONE {
            *slot = 0;
            self.live += 1;
        }
        slot
    }

    /// Ids the sorted vector's MMs span with `mm` (which it lacks), and those of all but
    /// the lowest MM when that is not `mm` (a dense array can keep it aside; else as many
    /// as all).
    fn sparse_spans_with(&self, mm: MmId) -> (usize, usize) {
        let mut live = self.sparse.iter().filter(|(_, n)| *n != GONE).map(|e| e.0);
        let (first, second) = (live.next(), live.next());
        let hi = live
            .next_back()
            .or(second)
            .or(first)
            .map_or(mm, |h| h.max(mm));
        let lo = first.map_or(mm, |f| f.min(mm));
        let above = match first {
            Some(f) if f < mm => second.map_or(mm, |s| s.min(mm)),
            _ => lo,
        };
        ((hi.0 - lo.0) as usize + 1, (hi.0 - above.0) as usize + 1)
    }

    /// `mm`'s index in the dense array, made (a hole) when it falls outside.
    fn dense_slot(&mut self, mm: MmId) -> usize {
        if self.dense.is_empty() {
            (self.base, self.first) = (mm.0, 0);
        }
        if mm.0 < self.base {
            let shift = (self.base - mm.0) as usize;
            self.dense
                .splice(0..0, std::iter::repeat_n(GONE, shift))
                .for_each(drop);
            (self.base, self.first) = (mm.0, 0);
        }
        let i = (mm.0 - self.base) as usize;
        if i >= self.dense.len() {
            self.dense.resize(i + 1, GONE);
        }
        self.first = self.first.min(i);
        i
    }

    /// `mm`'s index in the sorted vector, made (a tombstone) when it has none.
    fn sparse_slot(&mut self, mm: MmId) -> usize {
        search(&self.sparse, mm).unwrap_or_else(|i| {
            self.sparse.insert(i, (mm, GONE));
            i
        })
    }

    /// Forgets `mm` (which has a count), returning its count.
    fn remove(&mut self, mm: MmId) -> Option<u32> {
        let slot = self.place_mut(mm).filter(|n| **n != GONE)?;
        let n = std::mem::replace(slot, GONE);
        self.forgot_one();
        Some(n)
    }

    /// `nr` entries fewer for `mm` (none below 0), forgotten at 0, from one search.
    #[inline]
    fn sub(&mut self, mm: MmId, nr: u32) {
        if self.is_dense && self.sub_dense(mm, nr) {
            return;
        }
        let Some(slot) = self.place_mut(mm).filter(|n| **n != GONE) else {
            return;
        };
        *slot = slot.saturating_sub(nr);
        if *slot == 0 {
            *slot = GONE;
            self.forgot_one();
        }
    }

    /// [`Many::sub`] of an MM with a place in the dense array but its last, when the array
    /// still fits after (an exit from a fork tree: a child in the middle, or the first,
    /// whose holes the front then skips): what [`Many::forgot_one`] would leave, without
    /// its general passes. Whether it did it (else nothing changed).
    #[inline(always)]
    fn sub_dense(&mut self, mm: MmId, nr: u32) -> bool {
        let (i, len) = (mm.0.wrapping_sub(self.base) as usize, self.dense.len());
        if i >= len || self.dense[i] == GONE {
            return false;
        }
        if self.dense[i] > nr {
            self.dense[i] -= nr;
            return true;
        }
        // Not the last (the array never ends with a hole), and the front stays a place.
        if i + 1 == len || i < self.first || self.dense[self.first] == GONE {
            return false;
        }
        let mut first = self.first;
        if i == first {
            first += 1;
            while self.dense[first] == GONE {
                first += 1;
            }
        }
        if !Many::dense_fits(len - first, self.live - 1) {
            return false;
        }
        self.dense[i] = GONE;
        self.live -= 1;
        self.first = first;
        self.drain_front();
        true
    }

    /// Keeps the layout in shape after an MM's count became a hole or a tombstone.
    fn forgot_one(&mut self) {
        self.live -= 1;
        if self.low.is_some_and(|(_, n)| n == GONE) {
            self.low = None;
        } else if self.is_dense {
            self.trim_dense();
        } else if self.sparse.len() - self.live > self.live + 2 * MM_INLINE {
            // Tombstones outnumber the MMs: amortized O(1) a removal.
            self.sparse.retain(|(_, n)| *n != GONE);
        }
    }

    /// Drops the dense array's holes at its end, and at its front once they are many; back
    /// to a sorted vector once the array is mostly holes.
    fn trim_dense(&mut self) {
        while self.dense.last() == Some(&GONE) {
            self.dense.pop();
        }
        self.first = self.first.min(self.dense.len());
        while self.first < self.dense.len() && self.dense[self.first] == GONE {
            self.first += 1;
        }
        self.drain_front();
        let fits = Many::dense_fits(self.dense.len() - self.first, self.live);
        if self.live > 0 && !fits && !self.set_aside_low() {
            self.make_sparse();
        }
    }

    /// Drops the holes at the array's front once they are many (amortized O(1)).
    fn drain_front(&mut self) {
        if self.first >= DENSE_SLACK && 2 * self.first >= self.dense.len() {
            self.dense.drain(..self.first);
            self.base += self.first as u32;
            self.first = 0;
        }
    }

    /// Moves the array's first MM aside (to `low`) if the rest then fits a dense array;
    /// whether it did.
    fn set_aside_low(&mut self) -> bool {
        if self.low.is_some() {
            return false;
        }
        let i = self.first;
        let rest = (i + 1..self.dense.len()).find(|&j| self.dense[j] != GONE);
        let Some(next) = rest.filter(|&n| Many::dense_fits(self.dense.len() - n, self.live)) else {
            return false;
        };
        self.low = Some((MmId(self.base + i as u32), self.dense[i]));
        self.dense[i] = GONE;
        self.first = next;
        self.drain_front();
        true
    }

    fn make_sparse(&mut self) {
        self.sparse.clear();
        self.sparse.extend(self.low.take());
        let (base, first) = (self.base + self.first as u32, self.first);
        self.sparse.extend(
            self.dense[first..]
                .iter()
                .enumerate()
                .filter(|(_, n)| **n != GONE)
                .map(|(i, &n)| (MmId(base + i as u32), n)),
        );
        self.dense.clear();
        self.first = 0;
        self.is_dense = false;
    }

    /// The dense layout of the sorted vector's MMs, the lowest kept aside if `aside`.
    fn make_dense(&mut self, aside: bool) {
        self.dense.clear();
        self.first = 0;
        let mut sparse = std::mem::take(&mut self.sparse);
        let mut live = sparse.iter().copied().filter(|(_, n)| *n != GONE);
        self.low = if aside { live.next() } else { None };
        if let Some((lo, _)) = live.next() {
            self.base = lo.0;
        }
        let skip = self.low.is_some() as usize;
        for &(mm, n) in sparse.iter().filter(|(_, n)| *n != GONE).skip(skip) {
            let i = self.dense_slot(mm);
            self.dense[i] = n;
        }
        sparse.clear();
        self.sparse = sparse;
        self.is_dense = true;
    }

    /// A copy with room for one more MM in its array (a clone's vectors have none: the
    /// fork's append would copy the array a second time).
    fn clone_with_room(&self) -> Many {
        let room = |len: usize| len + len / 8 + 1;
        let mut dense = Vec::with_capacity(if self.is_dense {
            room(self.dense.len())
        } else {
            0
        });
        dense.extend_from_slice(&self.dense);
        let mut sparse = Vec::with_capacity(if self.is_dense {
            0
        } else {
            room(self.sparse.len())
        });
        sparse.extend_from_slice(&self.sparse);
        Many {
            live: self.live,
            is_dense: self.is_dense,
            sparse,
            dense,
            base: self.base,
            first: self.first,
            low: self.low,
        }
    }

    /// `nr` more entries for `mm`.
    fn add(&mut self, mm: MmId, nr: u32) {
        if !(self.is_dense && self.add_dense(mm, nr)) {
            *self.counter(mm) += nr;
        }
    }

    /// Forgets every MM, keeping the allocations.
    fn clear(&mut self) {
        self.live = 0;
        self.low = None;
        self.sparse.clear();
        self.dense.clear();
        self.first = 0;
    }
}

/// The entries of an [`MmCounts`] kept inline.
type Inline = [(MmId, u32); MM_INLINE];

/// One change (`nr` entries more, or fewer, for one MM) made to each of a run of folios
/// by [`MmCounts::add_shared`] or [`MmCounts::sub_shared`], and what it made of the
/// entries it met: a fork adds its child to every folio its parent maps, and folios whose
/// entries were the same before share what they became (one array of thousands of MMs
/// for a run of 512 small folios, not 512 arrays).
pub struct RunShare {
    mm: MmId,
    nr: u32,
    /// Additions (else removals).
    adds: bool,
    /// Folios the run may change (0 up to the run's pages): a shared array held by at most
    /// this many may be every holder's, and is changed in place.
    room: usize,
    /// A shared array of entries a folio of the run had, and the one it became.
    shared: Option<(Shared, Shared)>,
    /// Full inline entries a folio of the run had, and the array they became.
    spilled: Option<(Inline, Shared)>,
    /// A shared array the run changed in place.
    in_place: Option<InPlace>,
    /// Where that array is (null: none), what a folio's pointer is compared with.
    in_place_at: *const RefCell<Many>,
    /// Its holders the run met (1 up to [`InPlace::holders`]; 0 without one).
    met: usize,
}

/// A shared array changed in place by a run: right if the run meets every holder, else
/// undone by [`RunShare::settle`].
struct InPlace {
    array: Shared,
    /// Folios holding it when the run first met it (its strong count then, 2 and up).
    holders: usize,
    /// The count of the run's MM before (`None`: it had none).
    before: Option<u32>,
}

/// What [`RunShare::settle`] tells the caller to do when a run changed a shared array in
/// place without meeting all its holders: the array went back to what it was, and the
/// run's folios that held it take what it became ([`MmCounts::repoint`]).
pub struct Repoint {
    from: Shared,
    to: Shared,
}

impl RunShare {
    /// The MM whose entries change.
    pub fn mm(&self) -> MmId {
        self.mm
    }

    /// `nr` more entries for `mm` in each folio of a run.
    pub fn adding(mm: MmId, nr: u32) -> RunShare {
        RunShare {
            mm,
            nr,
            adds: true,
            room: 0,
            shared: None,
            spilled: None,
            in_place: None,
            in_place_at: std::ptr::null(),
            met: 0,
        }
    }

    /// `nr` entries fewer for `mm` in each folio of a run.
    pub fn removing(mm: MmId, nr: u32) -> RunShare {
        let mut run = RunShare::adding(mm, nr);
        run.adds = false;
        run
    }

    /// The same run over at most `folios` folios, which may change a shared array in place
    /// (the caller then [`RunShare::settle`]s it).
    pub fn over(mut self, folios: u64) -> RunShare {
        self.room = folios.try_into().unwrap_or(usize::MAX);
        self
    }

    /// Changes `m`, an array other folios share, in place if the run may meet all its
    /// holders and changed no other in place: whether it did.
    #[inline(never)]
    fn try_in_place(&mut self, m: &Shared) -> bool {
        let holders = Rc::strong_count(m);
        if self.in_place.is_some() || holders > self.room {
            return false;
        }
        let mut many = m.borrow_mut();
        let before = many.place(self.mm).copied().filter(|n| *n != GONE);
        if self.adds {
            many.add(self.mm, self.nr);
        } else {
            many.sub(self.mm, self.nr);
            if many.live == 0 {
                many.clear();
            }
        }
        self.in_place = Some(InPlace {
            array: m.clone(),
            holders,
            before,
        });
        (self.in_place_at, self.met) = (Rc::as_ptr(m), 1);
        true
    }

    /// Whether `m` is the array the run changed in place (counting one more holder met):
    /// a compare and an add per folio holding it.
    #[inline(always)]
    fn met_in_place(&mut self, m: &Option<Shared>) -> bool {
        let met = m
            .as_ref()
            .is_some_and(|m| Rc::as_ptr(m) == self.in_place_at);
        self.met += met as usize;
        met
    }

    /// Ends the run: `None` when every folio it met reads what the change made of it; else
    /// the array it changed in place had holders it did not meet, and went back to what
    /// it was: the caller hands the [`Repoint`] to [`MmCounts::repoint`] of each folio of
    /// the run.
    pub fn settle(&mut self) -> Option<Repoint> {
        (self.shared, self.spilled) = (None, None);
        let p = self.in_place.take()?;
        let met = std::mem::take(&mut self.met);
        self.in_place_at = std::ptr::null();
        if met == p.holders {
            return None;
        }
        let mut many = p.array.borrow_mut();
        let to = Rc::new(RefCell::new(many.clone_with_room()));
        match p.before {
            Some(n) => *many.counter(self.mm) = n,
            None => {
                many.remove(self.mm);
                if many.live == 0 {
                    many.clear();
                }
            }
        }
        drop(many);
        Some(Repoint { from: p.array, to })
    }
}

impl Drop for RunShare {
    fn drop(&mut self) {
        debug_assert!(
            std::thread::panicking() || self.in_place.is_none(),
            "a run that changed a shared array in place ended unsettled"
        );
    }
}

impl MmCounts {
    /// No MM (what `default` gives).
    pub const EMPTY: MmCounts = MmCounts {
        nr_inline: 0,
        inline: [(MmId(0), 0); MM_INLINE],
        many: None,
    };

    /// The entries behind the pointer, when they are the map.
    #[inline]
    fn many(&self) -> Option<Ref<'_, Many>> {
        self.many
            .as_deref()
            .map(RefCell::borrow)
            .filter(|m| m.live > 0)
    }

    /// Whether the entries behind the pointer are the map.
    #[inline(always)]
    fn has_many(&self) -> bool {
        self.many.as_ref().is_some_and(|m| m.borrow().live > 0)
    }

    /// The entries behind the pointer, when they are the map, to change: copied first if
    /// other folios share them (copy on write).
    #[inline]
    fn many_mut(&mut self) -> Option<&mut Many> {
        if !self.has_many() {
            return None;
        }
        self.many.as_mut().map(|m| Rc::make_mut(m).get_mut())
    }

    /// The entries behind the pointer, when they are the map and no other folio shares
    /// them (what the fast paths change in place).
    #[inline(always)]
    fn many_own(&mut self) -> Option<&mut Many> {
        self.many
            .as_mut()
            .and_then(Rc::get_mut)
            .map(RefCell::get_mut)
            .filter(|m| m.live > 0)
    }

    /// Index of `mm` among the inline entries (`Ok`) or where it would go (`Err`).
    fn find_inline(&self, mm: MmId) -> Result<usize, usize> {
        self.inline[..self.nr_inline].binary_search_by_key(&mm, |(m, _)| *m)
    }

    /// Entries of `mm`, if it has any.
    pub fn get(&self, mm: &MmId) -> Option<u32> {
        match self.many() {
            Some(m) => m.place(*mm).copied().filter(|n| *n != GONE),
            None => Some(self.inline[self.find_inline(*mm).ok()?].1),
        }
    }

    pub fn get_mut(&mut self, mm: &MmId) -> Option<&mut u32> {
        if self.has_many() {
            let m = self.many_mut()?;
            return m.place_mut(*mm).filter(|n| **n != GONE);
        }
        let i = self.find_inline(*mm).ok()?;
        Some(&mut self.inline[i].1)
    }

    /// The entries of `mm`, inserted as 0 when it has none (remove it again if it stays 0).
    #[inline]
    pub fn counter(&mut self, mm: MmId) -> &mut u32 {
        if self.has_many() {
            return self.many_mut().expect("many").counter(mm);
        }
        match self.find_inline(mm) {
            Ok(i) => &mut self.inline[i].1,
            Err(i) if self.nr_inline < MM_INLINE => {
                self.inline.copy_within(i..self.nr_inline, i + 1);
                self.inline[i] = (mm, 0);
                self.nr_inline += 1;
                &mut self.inline[i].1
            }
            Err(_) => self.spill(mm),
        }
    }

    /// `nr` more entries for `mm` (inserted when it had none): what counting in a run of
    /// its PTEs writes. The common cases in a few instructions, inlined into the caller's
    /// loop: an MM with an inline place or one appended inline, an MM with a place in the
    /// dense array, the next child of a forking parent appended to it.
    #[inline(always)]
    pub fn add(&mut self, mm: MmId, nr: u32) {
        let added = if self.has_many() {
            self.many_own()
                .is_some_and(|m| m.is_dense && m.add_dense(mm, nr))
        } else {
            self.add_inline(mm, nr)
        };
        if !added {
            self.add_slow(mm, nr);
        }
    }

    /// [`MmCounts::add`] when the inline entries are the map and `mm` has a place there or
    /// comes after them with room left: whether it added.
    #[inline(always)]
    fn add_inline(&mut self, mm: MmId, nr: u32) -> bool {
        let k = self.nr_inline;
        if let Some((_, n)) = self.inline[..k].iter_mut().find(|(m, _)| *m == mm) {
            *n += nr;
            return true;
        }
        if k < MM_INLINE && (k == 0 || self.inline[k - 1].0 < mm) {
            self.inline[k] = (mm, nr);
            self.nr_inline = k + 1;
            return true;
        }
        false
    }

    /// [`MmCounts::add`] in general (a new place, maybe a new layout).
    #[inline(never)]
    fn add_slow(&mut self, mm: MmId, nr: u32) {
        *self.counter(mm) += nr;
    }

    /// Moves the inline entries behind the pointer, with `mm` (counted 0).
    fn spill(&mut self, mm: MmId) -> &mut u32 {
        if self.many.as_mut().is_some_and(|m| Rc::get_mut(m).is_none()) {
            self.many = None;
        }
        let many = Rc::make_mut(self.many.get_or_insert_with(Rc::default)).get_mut();
        many.clear();
        let first = self.inline[0].0;
        let ids = (first
            .min(mm)
            .0
            .abs_diff(self.inline[MM_INLINE - 1].0.max(mm).0)) as usize;
        many.is_dense = Many::dense_fits(ids + 1, MM_INLINE + 1);
        for &(m, n) in &self.inline {
            *many.counter(m) = n;
        }
        self.nr_inline = 0;
        many.counter(mm)
    }

    pub fn contains_key(&self, mm: &MmId) -> bool {
        self.get(mm).is_some()
    }

    pub fn remove(&mut self, mm: &MmId) -> Option<u32> {
        if let Some(m) = self.many_mut() {
            let n = m.remove(*mm);
            if m.live == 0 {
                m.clear();
            }
            return n;
        }
        let i = self.find_inline(*mm).ok()?;
        let n = self.inline[i].1;
        self.inline.copy_within(i + 1..self.nr_inline, i);
        self.nr_inline -= 1;
        Some(n)
    }

    /// `nr` entries fewer for `mm` (none below 0), forgotten once it has none: one search
    /// where [`MmCounts::get_mut`] then [`MmCounts::remove`] take two.
    #[inline(always)]
    pub fn sub(&mut self, mm: MmId, nr: u32) {
        if self.has_many() {
            // An exit from a fork tree in the caller's loop, anything else out of line.
            if let Some(m) = self.many_own() {
                if m.is_dense && m.sub_dense(mm, nr) {
                    return;
                }
            }
            return self.sub_many(mm, nr);
        }
        let k = self.nr_inline;
        let Some(i) = self.inline[..k].iter().position(|(m, _)| *m == mm) else {
            return;
        };
        let n = &mut self.inline[i].1;
        *n = n.saturating_sub(nr);
        if *n == 0 {
            // The entries after it move down one (a loop: `copy_within` is a memmove call).
            for j in i..k - 1 {
                self.inline[j] = self.inline[j + 1];
            }
            self.nr_inline = k - 1;
        }
    }

    /// [`MmCounts::sub`] when the entries behind the pointer are the map (out of line: the
    /// inline case stays a few instructions in the caller's loop).
    #[inline(never)]
    fn sub_many(&mut self, mm: MmId, nr: u32) {
        if let Some(m) = self.many_mut() {
            m.sub(mm, nr);
            if m.live == 0 {
                m.clear();
            }
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.many().map_or(self.nr_inline, |m| m.live)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every MM, keeping the allocation.
    pub fn clear(&mut self) {
        self.nr_inline = 0;
        let shared = self.many.as_mut().is_some_and(|m| Rc::get_mut(m).is_none());
        if shared {
            // Other folios' entries: this one lets go of them.
            self.many = None;
        } else if let Some(m) = self.many.as_mut().and_then(Rc::get_mut) {
            m.get_mut().clear();
        }
    }

    /// [`MmCounts::add`] of the change `run` makes (`nr` more entries for `mm`) to one of
    /// a run of folios it makes to all: a folio whose entries are those another folio of
    /// the run had before it (the same shared array, or the same MMs inline) takes what
    /// they became, one pointer, not a copy; an array only this folio holds changes in
    /// place, and so does a shared one the run may meet every holder of (a fork adding its
    /// child to a run of folios that share one array: [`RunShare::settle`] then says
    /// whether it did); another shared one is copied once for the run (copy on write).
    #[inline(always)]
    pub fn add_shared(&mut self, run: &mut RunShare) {
        debug_assert!(run.adds, "a run of additions");
        if run.met_in_place(&self.many) || self.take_shared(run) {
            return;
        }
        let (mm, nr) = (run.mm, run.nr);
        match &self.many {
            Some(m) if m.borrow().live > 0 && Rc::strong_count(m) > 1 => {
                if run.try_in_place(m) {
                    return;
                }
                let from = m.clone();
                let mut to = from.borrow().clone_with_room();
                to.add(mm, nr);
                self.share(from, to, run);
            }
            Some(m) if m.borrow().live > 0 => self.add(mm, nr),
            _ => {
                if !self.add_inline(mm, nr) {
                    self.spill_shared(run);
                }
            }
        }
    }

    /// [`MmCounts::sub`] of the change `run` makes (`nr` entries fewer for `mm`) to one of
    /// a run of folios, sharing what the run's folios become as
    /// [`MmCounts::add_shared`] does.
    #[inline(always)]
    pub fn sub_shared(&mut self, run: &mut RunShare) {
        debug_assert!(!run.adds, "a run of removals");
        if run.met_in_place(&self.many) || self.take_shared(run) {
            return;
        }
        match &self.many {
            Some(m) if m.borrow().live > 0 && Rc::strong_count(m) > 1 => {
                if run.try_in_place(m) {
                    return;
                }
                let from = m.clone();
                let mut to = Many::clone(&from.borrow());
                to.sub(run.mm, run.nr);
                if to.live == 0 {
                    to.clear();
                }
                self.share(from, to, run);
            }
            _ => self.sub(run.mm, run.nr),
        }
    }

    /// Takes what the entries became if `run` changed the same shared entries before:
    /// whether it did.
    #[inline(always)]
    fn take_shared(&mut self, run: &RunShare) -> bool {
        match (&self.many, &run.shared) {
            (Some(m), Some((from, to))) if Rc::ptr_eq(m, from) => {
                self.many = Some(to.clone());
                true
            }
            _ => false,
        }
    }

    /// Makes `to` (what the shared entries `from` became) this folio's entries, and the
    /// next ones' that share `from`.
    fn share(&mut self, from: Shared, to: Many, run: &mut RunShare) {
        let to = Rc::new(RefCell::new(to));
        self.many = Some(to.clone());
        run.shared = Some((from, to));
    }

    /// [`MmCounts::add_shared`] of entries kept inline that `run`'s MM does not fit in:
    /// they move behind the pointer, into the array the run's last folio with the same
    /// inline entries moved to if there is one.
    #[inline(never)]
    fn spill_shared(&mut self, run: &mut RunShare) {
        let full = self.nr_inline == MM_INLINE;
        if let Some((inline, to)) = run.spilled.as_ref().filter(|_| full) {
            if *inline == self.inline {
                self.nr_inline = 0;
                self.many = Some(to.clone());
                return;
            }
        }
        let inline = self.inline;
        self.add_slow(run.mm, run.nr);
        if full {
            run.spilled = self.many.clone().map(|to| (inline, to));
        }
    }

    /// Takes what a shared array became (`r`, from [`RunShare::settle`]) if it holds that
    /// array: what a folio of a run that changed it in place but missed some of its
    /// holders does.
    #[inline]
    pub fn repoint(&mut self, r: &Repoint) {
        if self.many.as_ref().is_some_and(|m| Rc::ptr_eq(m, &r.from)) {
            self.many = Some(r.to.clone());
        }
    }

    /// MMs in ascending order.
    pub fn keys(&self) -> impl Iterator<Item = MmId> + '_ {
        self.iter().map(|(m, _)| m)
    }

    /// (MM, entries) in ascending order of MM.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inline: &self.inline[..self.nr_inline],
            many: self.many(),
            at: 0,
        }
    }
}

/// [`MmCounts::iter`]: (MM, entries) in ascending order of MM.
pub struct Iter<'a> {
    inline: &'a [(MmId, u32)],
    /// The entries behind the pointer when they are the map (then `inline` is not).
    many: Option<Ref<'a, Many>>,
    /// Place of the next entry: in `inline`, else in the sorted vector, else the one kept
    /// aside (0) and the dense array's from its first (1 on).
    at: usize,
}

impl Iterator for Iter<'_> {
    type Item = (MmId, u32);

    fn next(&mut self) -> Option<(MmId, u32)> {
        loop {
            let at = self.at;
            self.at += 1;
            let (mm, n) = match &self.many {
                None => *self.inline.get(at)?,
                Some(m) if !m.is_dense => *m.sparse.get(at)?,
                Some(m) if at == 0 => match m.low {
                    Some(e) => e,
                    None => continue,
                },
                Some(m) => {
                    let i = m.first + at - 1;
                    (MmId(m.base + i as u32), *m.dense.get(i)?)
                }
            };
            if n != GONE {
                return Some((mm, n));
            }
        }
    }
}

/// Where `mm` is in the sorted `s` (`Ok`) or would go (`Err`). The MMs mapping a folio
/// shared across a fork tree are mostly ids handed out in turn, spread evenly: the search
/// starts where `mm` would be if they were, and gallops from there (one or two probes
/// instead of a binary search's cache misses over thousands of MMs; O(log n) at worst).
fn search(s: &[(MmId, u32)], mm: MmId) -> Result<usize, usize> {
    let within = |from: usize, to: usize| {
        s[from..to]
            .binary_search_by_key(&mm, |(m, _)| *m)
            .map(|i| i + from)
            .map_err(|i| i + from)
    };
    let (first, last) = match (s.first(), s.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => return Err(0),
    };
    if last < mm {
        return Err(s.len());
    }
    if s.len() <= 8 || mm <= first {
        return within(0, s.len());
    }
    let span = (last.0 - first.0) as usize;
    let guess = (mm.0 - first.0) as usize * (s.len() - 1) / span;
    if s[guess].0 == mm {
        return Ok(guess);
    }
    let mut step = 1;
    if s[guess].0 < mm {
        // s[last index] >= mm bounds the gallop to the right.
        let mut from = guess + 1;
        loop {
            let to = (guess + step).min(s.len() - 1);
            if s[to].0 >= mm {
                return within(from, to + 1);
            }
            from = to + 1;
            step *= 2;
        }
    }
    // s[0] < mm bounds the gallop to the left.
    let mut to = guess;
    loop {
        let from = guess.saturating_sub(step);
        if s[from].0 <= mm {
            return within(from, to);
        }
        to = from;
        step *= 2;
    }
}

impl PartialEq for MmCounts {
    fn eq(&self, other: &MmCounts) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for MmCounts {}

/// Printed as a map, as `BTreeMap` prints.
impl fmt::Debug for MmCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Prng;
    use std::collections::BTreeMap;

    /// Checks `c` against `reference` in every way the map is read, and its layout's bound.
    fn same(c: &MmCounts, reference: &BTreeMap<MmId, u32>, mm: MmId) {
        assert!(c.iter().eq(reference.iter().map(|(&m, &n)| (m, n))));
        assert_eq!(c.len(), reference.len());
        assert_eq!(c.get(&mm), reference.get(&mm).copied());
        assert_eq!(c.contains_key(&mm), reference.contains_key(&mm));
        assert_eq!(format!("{c:?}"), format!("{reference:?}"));
        if let Some(m) = c.many() {
            assert_eq!(m.live, reference.len());
            let ids = m.dense.len() - m.first;
            assert!(!m.is_dense || Many::dense_fits(ids, m.live), "{ids} ids");
            assert!(m.dense.last() != Some(&GONE) && m.dense[..m.first].iter().all(|&n| n == GONE));
            if let Some((id, n)) = m.low {
                assert!(m.is_dense && n != GONE && (id.0 as usize) < m.base as usize + m.first);
            }
        }
    }

    #[test]
    fn mm_counts_behave_like_a_map_inline_dense_or_sorted() {
        // Few MMs (inline), close ids (dense), far ids (sorted), and ids that move between.
        for (nr_mms, spread) in [(6u64, 1u32), (40, 1), (300, 1), (300, 97), (2000, 3)] {
            let mut c = MmCounts::default();
            let mut reference: BTreeMap<MmId, u32> = BTreeMap::new();
            let mut rng = Prng::new(nr_mms ^ spread as u64);
            let mut layouts = [false; 2];
            for step in 0..6000u64 {
                // A window sliding over the ids: forks take new ones, exits drop old ones.
                let base = (step / 8) as u32;
                let mm = MmId(1 + (base + (rng.next_u64() % nr_mms) as u32) * spread);
                let r = rng.next_u64();
                if !r.is_multiple_of(3) {
                    // Half through `add`, whose fast paths must agree with `counter`.
                    if r & 16 != 0 {
                        c.add(mm, 2);
                    } else {
                        *c.counter(mm) += 2;
                    }
                    *reference.entry(mm).or_insert(0) += 2;
                } else if r & 8 != 0 {
                    c.sub(mm, 1);
                    if let Some(n) = reference.get_mut(&mm) {
                        *n -= 1;
                        if *n == 0 {
                            reference.remove(&mm);
                        }
                    }
                } else {
                    assert_eq!(c.remove(&mm), reference.remove(&mm));
                }
                same(&c, &reference, mm);
                if let Some(m) = c.many() {
                    layouts[m.is_dense as usize] = true;
                }
                let mut rebuilt = MmCounts::default();
                reference
                    .iter()
                    .for_each(|(&m, &n)| *rebuilt.counter(m) = n);
                assert_eq!(
                    c, rebuilt,
                    "equal whatever holes or tombstones either holds"
                );
            }
            // Close ids go dense, far ids stay sorted.
            let want = match spread {
                1 => [layouts[0], true],
                97 => [true, false],
                _ => layouts,
            };
            assert_eq!(layouts, want, "{nr_mms} MMs, ids {spread} apart");
        }
    }

    /// One step of [`runs_of_folios_share_what_their_entries_become`] on `folios` and
    /// their `reference` maps.
    fn run_step(
        rng: &mut Prng,
        folios: &mut [MmCounts],
        reference: &mut [BTreeMap<MmId, u32>],
    ) -> bool {
        let nr = folios.len() as u64;
        // Half the runs over every folio (a fork of the whole mapping), half over some.
        let (lo, hi) = match rng.below(2) {
            0 => (0, folios.len()),
            _ => {
                let lo = rng.below(nr) as usize;
                (lo, lo + 1 + rng.below(nr - lo as u64) as usize)
            }
        };
        let mm = MmId(1 + rng.below(24) as u32);
        let sub = |r: &mut BTreeMap<MmId, u32>| {
            if let Some(n) = r.get_mut(&mm) {
                *n -= 1;
                if *n == 0 {
                    r.remove(&mm);
                }
            }
        };
        match rng.below(16) {
            0..=8 => {
                let mut run = RunShare::adding(mm, 1).over((hi - lo) as u64);
                for (c, r) in folios[lo..hi].iter_mut().zip(&mut reference[lo..hi]) {
                    c.add_shared(&mut run);
                    *r.entry(mm).or_insert(0) += 1;
                }
                return settle(&mut run, &mut folios[lo..hi]);
            }
            9..=12 => {
                let mut run = RunShare::removing(mm, 1).over((hi - lo) as u64);
                for (c, r) in folios[lo..hi].iter_mut().zip(&mut reference[lo..hi]) {
                    c.sub_shared(&mut run);
                    sub(r);
                }
                return settle(&mut run, &mut folios[lo..hi]);
            }
            // One folio alone (a write fault's copy, a zap of one page).
            13 => {
                folios[lo].add(mm, 2);
                *reference[lo].entry(mm).or_insert(0) += 2;
            }
            14 => {
                folios[lo].sub(mm, 1);
                sub(&mut reference[lo]);
            }
            _ => {
                folios[lo].clear();
                reference[lo].clear();
            }
        }
        false
    }

    /// Ends `run` over `folios`, as the oracle ends a run of small folios.
    fn settle(run: &mut RunShare, folios: &mut [MmCounts]) -> bool {
        let r = run.settle();
        if let Some(r) = &r {
            folios.iter_mut().for_each(|c| c.repoint(r));
        }
        r.is_some()
    }

    /// Runs of folios changed together (a fork adding its child to each, an exit taking it
    /// from each) over folios whose entries are inline, shared with their neighbours or
    /// their own, and folios changed alone between: each folio reads as its own map after
    /// every step. A folio taking what other entries became, or a shared array changed in
    /// place, fails it.
    #[test]
    fn runs_of_folios_share_what_their_entries_become() {
        let mut rng = Prng::new(11);
        let mut folios = vec![MmCounts::default(); 24];
        let mut reference = vec![BTreeMap::new(); 24];
        let (mut shared, mut undone) = (0, 0);
        for _ in 0..4000 {
            undone += run_step(&mut rng, &mut folios, &mut reference) as u32;
            for (c, r) in folios.iter().zip(&reference) {
                same(c, r, MmId(1));
                shared += c
                    .many()
                    .is_some_and(|_| Rc::strong_count(c.many.as_ref().expect("many")) > 1)
                    as u32;
            }
        }
        assert!(shared > 1000, "{shared} folios read shared entries");
        assert!(
            undone > 5,
            "{undone} runs missed holders of an array changed in place"
        );
    }

    /// A run that meets every holder of a shared array changes it in place (no copy); one
    /// that misses some (told it may meet as many as there are) changes it in place, then
    /// [`RunShare::settle`] puts it back for the holders it missed and hands the folios it
    /// met what it became. A settle that takes every run as having met all holders leaves
    /// the folios it missed reading the change, and this fails (seen).
    #[test]
    fn a_shared_array_changes_in_place_only_for_a_run_meeting_all_its_holders() {
        let mut folios = vec![MmCounts::default(); 6];
        let mut run = RunShare::adding(MmId(3), 1).over(6);
        for c in &mut folios {
            c.add(MmId(1), 1);
            c.add(MmId(2), 1);
            c.add_shared(&mut run);
        }
        assert!(!settle(&mut run, &mut folios));
        let array = |c: &MmCounts| Rc::as_ptr(c.many.as_ref().expect("behind the pointer"));
        let first = array(&folios[0]);
        assert!(
            folios.iter().all(|c| array(c) == first),
            "one array for the run"
        );
        // Every holder met: changed in place, still one array.
        let mut run = RunShare::adding(MmId(4), 2).over(6);
        folios.iter_mut().for_each(|c| c.add_shared(&mut run));
        assert!(!settle(&mut run, &mut folios));
        assert!(folios.iter().all(|c| array(c) == first), "changed in place");
        let want = |mms: &[(u32, u32)]| mms.iter().map(|&(m, n)| (MmId(m), n)).collect::<Vec<_>>();
        let all = want(&[(1, 1), (2, 1), (3, 1), (4, 2)]);
        assert!(folios.iter().all(|c| c.iter().eq(all.iter().copied())));
        // Some of the holders met, adding and removing: the others read what they had.
        for (adds, mm, met, missed) in [
            (true, 5, 0..4, true),
            (false, 4, 2..6, true),
            (false, 3, 0..6, false),
        ] {
            let before: Vec<Vec<(MmId, u32)>> = folios.iter().map(|c| c.iter().collect()).collect();
            let mut run = match adds {
                true => RunShare::adding(MmId(mm), 1),
                false => RunShare::removing(MmId(mm), 1),
            }
            .over(6);
            for c in &mut folios[met.clone()] {
                match adds {
                    true => c.add_shared(&mut run),
                    false => c.sub_shared(&mut run),
                }
            }
            assert_eq!(settle(&mut run, &mut folios[met.clone()]), missed, "{mm}");
            for (k, c) in folios.iter().enumerate() {
                let mut want: BTreeMap<MmId, u32> = before[k].iter().copied().collect();
                if met.contains(&k) {
                    match adds {
                        true => *want.entry(MmId(mm)).or_insert(0) += 1,
                        false => {
                            let n = want.get_mut(&MmId(mm)).expect("mapped");
                            *n -= 1;
                            if *n == 0 {
                                want.remove(&MmId(mm));
                            }
                        }
                    }
                }
                assert!(c.iter().eq(want.into_iter()), "{mm}: folio {k} reads {c:?}");
            }
        }
    }

    #[test]
    fn forked_children_append_and_exits_drop_the_front() {
        // A parent (id 1) and its children (2..=5001), which exit in the order forked.
        let mut c = MmCounts::default();
        for m in 1..=5001 {
            c.add(MmId(m), 512);
        }
        let m = c.many().expect("behind the pointer");
        assert!(m.is_dense && m.dense.len() == 5001 && m.base == 1);
        drop(m);
        for m in 2..=4991 {
            c.sub(MmId(m), 512);
            let m = c.many().expect("many");
            assert!(m.is_dense, "the parent is set aside, the array stays dense");
        }
        let m = c.many().expect("eleven left");
        assert_eq!(m.low, Some((MmId(1), 512)));
        assert!(
            m.dense.len() - m.first == 10 && m.dense.len() <= 2 * DENSE_SLACK,
            "exits in fork order drop the front: {} slots",
            m.dense.len()
        );
        drop(m);
        assert!(c.keys().eq([1].into_iter().chain(4992..=5001).map(MmId)));
        assert_eq!(c.get(&MmId(1)), Some(512));
        assert_eq!(c.remove(&MmId(1)), Some(512));
        assert_eq!(c.len(), 10);
        for m in 4992..=5001 {
            c.remove(&MmId(m));
        }
        assert!(c.is_empty() && c.many.as_ref().is_some_and(|m| m.borrow().dense.is_empty()));
    }

    #[test]
    fn a_parent_and_children_exiting_about_in_fork_order_behave_like_a_map() {
        let mut rng = Prng::new(7);
        let mut c = MmCounts::default();
        let mut reference: BTreeMap<MmId, u32> = BTreeMap::new();
        let step = |c: &mut MmCounts, reference: &mut BTreeMap<MmId, u32>, mm, add| {
            if add {
                *c.counter(mm) += 1;
                *reference.entry(mm).or_insert(0) += 1;
            } else {
                assert_eq!(c.remove(&mm), reference.remove(&mm));
            }
            same(c, reference, mm);
        };
        let (mut next, mut set_aside) = (2u32, 0);
        step(&mut c, &mut reference, MmId(1), true);
        for _ in 0..4 {
            // Forks: the parent's next children (now and then a write fault in one).
            for _ in 0..500 + rng.below(1500) {
                step(
                    &mut c,
                    &mut reference,
                    MmId(next - rng.below(2) as u32),
                    true,
                );
                next += 1;
            }
            // Exits: mostly the oldest child; now and then another one, a child long gone
            // taking its id again, or the parent exiting and a new parent coming.
            while c.len() > 20 {
                let oldest = reference.keys().nth(1).expect("children").0;
                let r = rng.below(100);
                let mm = match r {
                    0..=89 => MmId(oldest),
                    90..=97 => MmId(oldest + rng.below(50) as u32),
                    98 => MmId(1 + rng.below(next as u64) as u32),
                    _ => MmId(1),
                };
                let add = r == 98 || (r == 99 && !reference.contains_key(&mm));
                step(&mut c, &mut reference, mm, add);
                set_aside += c.many().is_some_and(|m| m.low.is_some()) as u32;
            }
        }
        assert!(
            set_aside > 100,
            "the parent was set aside {set_aside} times"
        );
    }

    #[test]
    fn far_apart_ids_take_no_dense_array() {
        let mut c = MmCounts::default();
        for i in 0..1000 {
            *c.counter(MmId(1 + i * 1_000_000)) += 1;
        }
        let m = c.many().expect("behind the pointer");
        assert!(!m.is_dense && m.dense.capacity() == 0 && m.sparse.len() == 1000);
        drop(m);
        // Children of one parent fill the gap after the last: still sorted (the span is
        // what decides, not the newcomers).
        for i in 0..100 {
            *c.counter(MmId(999_000_002 + i)) += 1;
        }
        assert!(!c.many().expect("many").is_dense);
        assert_eq!(c.len(), 1100);
        // A dense array an MM far away would stretch turns sorted.
        let mut d = MmCounts::default();
        (1..=100).for_each(|m| *d.counter(MmId(m)) += 1);
        assert!(d.many().expect("many").is_dense);
        *d.counter(MmId(1_000_000)) += 1;
        let m = d.many().expect("many");
        assert!(!m.is_dense && m.dense.is_empty() && m.sparse.len() == 101);
        assert!(d.keys().eq((1..=100).chain([1_000_000]).map(MmId)));
    }

    #[test]
    fn a_sorted_vector_turns_dense_when_ids_close_up() {
        let mut c = MmCounts::default();
        *c.counter(MmId(1)) += 1;
        *c.counter(MmId(100_000)) += 1;
        *c.counter(MmId(200_000)) += 1;
        assert!(!c.many().expect("many").is_dense);
        c.remove(&MmId(1));
        c.remove(&MmId(100_000));
        for m in 200_001..200_100 {
            *c.counter(MmId(m)) += 1;
        }
        let m = c.many().expect("many");
        assert!(m.is_dense && m.dense.len() == 100, "{}", m.dense.len());
        assert!(c.keys().eq((200_000..200_100).map(MmId)));
    }
}
