//! The MM_ID owner slots of 6.15+ (kernel note 3.2, 3.3, 6), on true (unbiased) values, for
//! the designs built on them (`linux-6.18-npm`, `rfc-2026`). `linux-6.18` keeps its own copy
//! on the raw kernel words.

use foliolab_types::{FolioTruth, MmId};

/// `_large_mapcount`, two (MM, count) slots and the "maybe mapped shared" bit, as true
/// (unbiased) values; the kernel words are in [`crate::words::Folio618`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmSlots {
    /// `L`: all entries mapping the folio (raw `_large_mapcount` + 1). For a small folio the
    /// designs built on this keep its mapcount here (no slots).
    pub l: i64,
    /// The slots' MMs; `MM_ID_DUMMY` (0) for a free slot.
    pub ids: [MmId; 2],
    /// `t_k`: entries of slot k's MM, >= 1 while the slot is taken, 0 when free (raw
    /// `_mm_id_mapcount[k]` + 1).
    pub t: [i64; 2],
    /// `S`: maybe mapped shared (bit 63 of `_mm_ids`); may stay set after the sharing ended.
    pub shared: bool,
}

impl MmSlots {
    /// `folio_set_large_mapcount`: the first mapping of a new folio.
    pub fn set(&mut self, n: i64, mm: MmId) {
        *self = MmSlots::default();
        self.l = n;
        self.ids[0] = mm;
        self.t[0] = n;
    }

    /// `folio_add_return_large_mapcount`.
    pub fn add(&mut self, diff: i64, mm: MmId) -> i64 {
        self.l += diff;
        if self.ids[0] == mm {
            self.t[0] += diff;
        } else if self.ids[1] == mm {
            self.t[1] += diff;
        } else if self.ids[0] == MmId::DUMMY {
            self.ids[0] = mm;
            self.t[0] = diff;
            self.shared |= self.l != diff;
        } else if self.ids[1] == MmId::DUMMY {
            self.ids[1] = mm;
            self.t[1] = diff;
            self.shared = true;
        }
        self.l
    }

    /// `folio_sub_return_large_mapcount`.
    pub fn sub(&mut self, diff: i64, mm: MmId) -> i64 {
        self.l -= diff;
        for k in 0..2 {
            if self.ids[k] == mm {
                self.t[k] -= diff;
                if self.t[k] >= 1 {
                    return self.l;
                }
                self.ids[k] = MmId::DUMMY;
                self.t[k] = 0;
                break;
            }
        }
        if self.t[0] == self.l || self.t[1] == self.l {
            self.shared = false;
        }
        self.l
    }

    /// `folio_maybe_mapped_shared` for a large folio.
    /// `folio_maybe_mapped_shared`: small folios by their mapcount, large by the slots.
    pub fn maybe_mapped_shared(&self, large: bool) -> bool {
        if large {
            self.maybe_shared()
        } else {
            self.l > 1
        }
    }

    /// A slot for reports: `None` when free.
    pub fn slot(&self, k: usize) -> Option<(MmId, i64)> {
        (self.ids[k] != MmId::DUMMY).then_some((self.ids[k], self.t[k]))
    }

    pub fn maybe_shared(&self) -> bool {
        self.l > 1 && self.shared
    }

    /// `__wp_can_reuse_large_anon_folio`.
    pub fn can_reuse(&self, refcount: i64) -> bool {
        self.l > 1 && !self.shared && self.l == refcount
    }

    /// The slot invariants that hold whatever the imprecision (kernel note 6.2): the large
    /// mapcount is exact, slots are consistent, and a clear bit means one MM (M6).
    pub fn check(&self, truth: &FolioTruth, out: &mut Vec<String>) {
        if self.l != truth.total_entries() as i64 {
            out.push(format!(
                "_large_mapcount {}, page tables map it {} times",
                self.l,
                truth.total_entries()
            ));
        }
        for k in 0..2 {
            if (self.ids[k] == MmId::DUMMY) != (self.t[k] == 0) {
                out.push(format!("M1: slot{k} is ({:?}, {})", self.ids[k], self.t[k]));
            }
        }
        if !self.shared && self.l >= 1 && truth.nr_mms() != 1 {
            out.push(format!(
                "M6: shared bit clear but {} MMs map the folio",
                truth.nr_mms()
            ));
        }
    }
}
