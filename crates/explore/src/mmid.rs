//! The MM_ID words of one large folio (`_large_mapcount`, `_mm_id_mapcount[2]`, `_mm_ids`),
//! raw and biased as in the kernel, updated one store at a time as
//! `folio_add_return_large_mapcount` and `folio_sub_return_large_mapcount`
//! (`include/linux/rmap.h`, 6.15+) do under `folio_lock_large_mapcount`, and read without the
//! lock as `folio_maybe_mapped_shared` does.
//!
//! The designs keep their own copy of these words and update it atomically; this stepwise
//! copy lets a lockless reader or an unlocked writer interleave between the stores. Run
//! without interleaving, it ends where the designs' atomic helpers end (tests/stepwise.rs).

use foliolab_types::MmId;

const MM_ID_MASK: u64 = (1 << 31) - 1;
const SHARED_BIT: u64 = 1 << 63;

/// The raw words. `large_mapcount` and `mm_id_mapcount` are biased by -1 (raw -1 means 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MmIdWords {
    pub large_mapcount: i32,
    pub mm_id_mapcount: [i32; 2],
    /// Two 31-bit MM ids (bits 0-30, 32-62); bit 63 is "maybe mapped shared". The lock bit
    /// (31) is modelled as [`crate::locks::Lock::LargeMapcount`].
    pub mm_ids: u64,
}

impl Default for MmIdWords {
    fn default() -> MmIdWords {
        MmIdWords {
            large_mapcount: -1,
            mm_id_mapcount: [-1, -1],
            mm_ids: 0,
        }
    }
}

/// The true values, for traces and comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmIdView {
    pub l: i64,
    pub slots: [Option<(MmId, i64)>; 2],
    pub shared: bool,
}

impl MmIdWords {
    /// `folio_set_large_mapcount`: the first mapping of a new folio (not yet visible).
    pub fn set(n: i32, mm: MmId) -> MmIdWords {
        let mut w = MmIdWords {
            large_mapcount: n - 1,
            ..MmIdWords::default()
        };
        w.set_slot(0, mm, n);
        w
    }
    pub fn id(&self, k: usize) -> MmId {
        MmId(((self.mm_ids >> (32 * k)) & MM_ID_MASK) as u32)
    }
    /// Slot `k` = (`id`, `count` mappings); `MmId::DUMMY` and 0 free it.
    pub fn set_slot(&mut self, k: usize, id: MmId, count: i32) {
        let shift = 32 * k;
        self.mm_ids = (self.mm_ids & !(MM_ID_MASK << shift)) | ((id.0 as u64) << shift);
        self.mm_id_mapcount[k] = count - 1;
    }
    pub fn shared(&self) -> bool {
        self.mm_ids & SHARED_BIT != 0
    }
    fn set_shared(&mut self, on: bool) {
        if on {
            self.mm_ids |= SHARED_BIT;
        } else {
            self.mm_ids &= !SHARED_BIT;
        }
    }
    /// `folio_large_mapcount`: one atomic read.
    pub fn large(&self) -> i64 {
        self.large_mapcount as i64 + 1
    }

    /// Store 1 of add/sub: `atomic_set(&_large_mapcount, loaded + diff)`; returns the true
    /// new value. (`loaded` is the true value read by the previous step.)
    pub fn store_large(&mut self, loaded: i64, diff: i64) -> i64 {
        let new = loaded + diff;
        self.large_mapcount = (new - 1) as i32;
        new
    }

    /// Add, store 2: the slot of `mm` (an existing one, or a free one taken). Returns
    /// whether the helper then sets the shared bit.
    pub fn add_slot(&mut self, mm: MmId, diff: i32, l_new: i64) -> bool {
        for k in 0..2 {
            if self.id(k) == mm {
                self.mm_id_mapcount[k] += diff;
                return false;
            }
        }
        if self.id(0) == MmId::DUMMY {
            self.set_slot(0, mm, diff);
            return l_new != diff as i64;
        }
        if self.id(1) == MmId::DUMMY {
            self.set_slot(1, mm, diff);
            return true;
        }
        false
    }
    /// Add, store 3: `_mm_ids |= FOLIO_MM_IDS_SHARED_BIT`.
    pub fn mark_shared(&mut self) {
        self.set_shared(true);
    }

    /// Sub, store 2: the slot of `mm` goes down, freed at 0. Returns whether the helper goes
    /// on to the shared-bit re-check (`false`: the MM's slot still counts mappings).
    pub fn sub_slot(&mut self, mm: MmId, diff: i32) -> bool {
        for k in 0..2 {
            if self.id(k) == mm {
                self.mm_id_mapcount[k] -= diff;
                if self.mm_id_mapcount[k] >= 0 {
                    return false;
                }
                self.set_slot(k, MmId::DUMMY, 0);
                return true;
            }
        }
        true
    }
    /// Sub, store 3: clear the shared bit if one slot now owns every mapping (raw compare,
    /// so a free slot matches only an unmapped folio).
    pub fn recheck_shared(&mut self, l_new: i64) {
        let raw = (l_new - 1) as i32;
        if self.mm_id_mapcount[0] == raw || self.mm_id_mapcount[1] == raw {
            self.set_shared(false);
        }
    }

    /// The whole helper at once (for setup and for the equivalence test).
    pub fn add_atomic(&mut self, mm: MmId, diff: i32) {
        let l = self.store_large(self.large(), diff as i64);
        if self.add_slot(mm, diff, l) {
            self.mark_shared();
        }
    }
    pub fn sub_atomic(&mut self, mm: MmId, diff: i32) {
        let l = self.store_large(self.large(), -(diff as i64));
        if self.sub_slot(mm, diff) {
            self.recheck_shared(l);
        }
    }

    pub fn view(&self) -> MmIdView {
        let slot = |k: usize| {
            (self.id(k) != MmId::DUMMY).then(|| (self.id(k), self.mm_id_mapcount[k] as i64 + 1))
        };
        MmIdView {
            l: self.large(),
            slots: [slot(0), slot(1)],
            shared: self.shared(),
        }
    }
}
