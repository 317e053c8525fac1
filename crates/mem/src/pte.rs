//! Page-table entries. A [`Pte`] (and a PMD leaf, which uses the same encoding) is one `u64`:
//! flag bits below bit 12, the PFN (present) or the swap offset (swap entry) above.

use foliolab_types::Pfn;

#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Pte(pub u64);

impl Pte {
    pub const NONE: Pte = Pte(0);
    const PRESENT: u64 = 1 << 0;
    const WRITE: u64 = 1 << 1;
    const DIRTY: u64 = 1 << 2;
    const YOUNG: u64 = 1 << 3;
    /// `pte_special`: the zero page (no folio reference, no rmap).
    const SPECIAL: u64 = 1 << 4;
    const SWAP: u64 = 1 << 5;
    /// `pte_swp_exclusive` on a swap entry.
    const SWP_EXCLUSIVE: u64 = 1 << 6;
    const FLAG_MASK: u64 = (1 << 12) - 1;

    /// A present entry mapping `pfn`.
    #[inline]
    pub fn present(pfn: Pfn, writable: bool, dirty: bool) -> Pte {
        let mut bits = (pfn.0 << 12) | Self::PRESENT | Self::YOUNG;
        if writable {
            bits |= Self::WRITE;
        }
        if dirty {
            bits |= Self::DIRTY;
        }
        Pte(bits)
    }
    /// A read-only special entry for a zero page.
    #[inline]
    pub fn zero(pfn: Pfn) -> Pte {
        Pte((pfn.0 << 12) | Self::PRESENT | Self::SPECIAL | Self::YOUNG)
    }
    /// A swap entry for slot `offset`.
    #[inline]
    pub fn swap(offset: u64, exclusive: bool) -> Pte {
        let mut bits = (offset << 12) | Self::SWAP;
        if exclusive {
            bits |= Self::SWP_EXCLUSIVE;
        }
        Pte(bits)
    }

    #[inline]
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    #[inline]
    pub fn is_present(self) -> bool {
        self.0 & Self::PRESENT != 0
    }
    #[inline]
    pub fn is_swap(self) -> bool {
        self.0 & Self::SWAP != 0
    }
    #[inline]
    pub fn is_special(self) -> bool {
        self.0 & Self::SPECIAL != 0
    }
    #[inline]
    pub fn writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    #[inline]
    pub fn dirty(self) -> bool {
        self.0 & Self::DIRTY != 0
    }
    #[inline]
    pub fn young(self) -> bool {
        self.0 & Self::YOUNG != 0
    }
    #[inline]
    pub fn swp_exclusive(self) -> bool {
        self.0 & Self::SWP_EXCLUSIVE != 0
    }
    /// The mapped PFN of a present entry.
    #[inline]
    pub fn pfn(self) -> Pfn {
        debug_assert!(self.is_present());
        Pfn(self.0 >> 12)
    }
    #[inline]
    pub fn swap_offset(self) -> u64 {
        debug_assert!(self.is_swap());
        self.0 >> 12
    }
    #[inline]
    pub fn with_write(self, on: bool) -> Pte {
        self.with(Self::WRITE, on)
    }
    #[inline]
    pub fn with_dirty(self, on: bool) -> Pte {
        self.with(Self::DIRTY, on)
    }
    #[inline]
    pub fn with_young(self, on: bool) -> Pte {
        self.with(Self::YOUNG, on)
    }
    #[inline]
    pub fn with_swp_exclusive(self, on: bool) -> Pte {
        self.with(Self::SWP_EXCLUSIVE, on)
    }
    #[inline]
    fn with(self, bit: u64, on: bool) -> Pte {
        if on {
            Pte(self.0 | bit)
        } else {
            Pte(self.0 & !bit)
        }
    }
    /// The same entry pointing `nr` pages further (`pte_advance_pfn`).
    #[inline]
    pub fn advance(self, nr: u64) -> Pte {
        Pte(self.0 + (nr << 12))
    }
    /// The entry without the bits batching ignores (accessed, writable, and dirty unless
    /// `respect_dirty`): a present entry batches with the one `nr` entries before it when
    /// its key is that entry's plus `nr` pages (same flags, the next PFNs).
    #[inline]
    pub fn batch_key(self, respect_dirty: bool) -> u64 {
        self.0 & Self::batch_mask(respect_dirty)
    }
    /// The bits [`Pte::batch_key`] keeps.
    #[inline]
    pub fn batch_mask(respect_dirty: bool) -> u64 {
        let dirty = if respect_dirty { 0 } else { Self::DIRTY };
        !(Self::YOUNG | Self::WRITE | dirty)
    }
    /// Bits that batching compares (everything but accessed and writable).
    #[inline]
    pub fn batch_bits(self) -> u64 {
        self.0 & Self::FLAG_MASK & !(Self::YOUNG | Self::WRITE)
    }
}

impl std::fmt::Debug for Pte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_none() {
            return write!(f, "pte:none");
        }
        if self.is_swap() {
            return write!(
                f,
                "pte:swap({:#x}{})",
                self.swap_offset(),
                if self.swp_exclusive() { ",x" } else { "" }
            );
        }
        write!(
            f,
            "pte:{:?}{}{}{}",
            self.pfn(),
            if self.writable() { ",w" } else { "" },
            if self.dirty() { ",d" } else { "" },
            if self.is_special() { ",special" } else { "" }
        )
    }
}
