//! Newtypes shared by every foliolab crate.
//!
//! Units live in the types: a [`Pfn`] is a page frame number, never a byte address; an
//! [`Order`] is log2 of a page count; byte quantities are plain `u64` named `*_bytes`.
//! Nothing here has behaviour beyond arithmetic and formatting, but for [`prng`]: the one
//! seeded generator the fuzzer and the race explorer share.

use std::fmt;

mod mmcounts;
mod pfnarray;
mod pfnset;
pub mod prng;
mod truth;
mod truthstore;

pub use mmcounts::{Repoint, RunShare};
pub use pfnarray::PfnArray;
pub use pfnset::PfnSet;
pub use truth::{FolioTruth, MmCounts, SmallStep, SmallTruth};
pub use truthstore::TruthStore;

/// Size of a base page in bytes (x86-64).
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;
/// Order of a PMD-sized folio (2 MiB on x86-64).
pub const PMD_ORDER: Order = Order(9);
/// Pages per PMD (512).
pub const PMD_NR_PAGES: u64 = 1 << 9;
/// Bytes covered by one PMD entry.
pub const PMD_SIZE: u64 = PMD_NR_PAGES * PAGE_SIZE;
/// Physical memory of the model (spec 4: 16 GiB). Designs size their per-page storage
/// from it (the registry does), the allocator hands out frames below it.
pub const MODEL_PHYS_BYTES: u64 = 16 << 30;
/// Page frames of the model's physical memory.
pub const MODEL_NR_PAGES: u64 = MODEL_PHYS_BYTES / PAGE_SIZE;
/// Largest folio order the model allocates (2 MiB).
pub const MAX_ORDER: Order = Order(9);

/// A page frame number: physical address >> PAGE_SHIFT.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The PFN `nr_pages` further (not `ops::Add`: the operand is a page count, not a PFN).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn add(self, nr_pages: u64) -> Pfn {
        Pfn(self.0 + nr_pages)
    }
    #[inline]
    pub fn offset_from(self, base: Pfn) -> u64 {
        debug_assert!(self.0 >= base.0);
        self.0 - base.0
    }
    #[inline]
    pub fn is_aligned(self, order: Order) -> bool {
        self.0 & (order.nr_pages() - 1) == 0
    }
    #[inline]
    pub fn align_down(self, order: Order) -> Pfn {
        Pfn(self.0 & !(order.nr_pages() - 1))
    }
}

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn:{:#x}", self.0)
    }
}

/// log2 of a folio's page count. Order 0 is a single 4 KiB page, order 9 is 2 MiB.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Order(pub u8);

impl Order {
    #[inline]
    pub fn nr_pages(self) -> u64 {
        1u64 << self.0
    }
    pub fn size_bytes(self) -> u64 {
        PAGE_SIZE << self.0
    }
    /// The order whose folio is `size_bytes` long, if it is a power-of-two page multiple.
    pub fn from_size_bytes(size_bytes: u64) -> Option<Order> {
        if size_bytes < PAGE_SIZE || !size_bytes.is_power_of_two() {
            return None;
        }
        Some(Order((size_bytes / PAGE_SIZE).trailing_zeros() as u8))
    }
    /// The kernel's per-size sysfs name for this order, e.g. `64kB` (as in `hugepages-64kB`).
    pub fn sysfs_size_name(self) -> String {
        format!("{}kB", self.size_bytes() / 1024)
    }
    /// The scenario-format size name for this order, e.g. `64K` or `2M`.
    pub fn scenario_size_name(self) -> String {
        format_size_bytes(self.size_bytes())
    }
}

/// The kernel's `mm->mm_id`: 1..=MM_ID_MAX; 0 is `MM_ID_DUMMY` (a free slot).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct MmId(pub u32);

impl MmId {
    pub const DUMMY: MmId = MmId(0);
    pub const MIN: MmId = MmId(1);
    /// 31-bit ids on 64-bit kernels.
    pub const MAX: MmId = MmId((1 << 31) - 1);
}

/// A VMA's identity (`struct vm_area_struct *`), for designs that count VMAs. The model
/// allocates one for each VMA it creates: a new mapping, each piece a split makes, a VMA an
/// mremap moves, every VMA a fork duplicates; the VMA a merge extends keeps its own. Unique
/// across the processes of one model. 0 ([`VmaId::NONE`]) is no VMA.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct VmaId(pub u64);

impl VmaId {
    pub const NONE: VmaId = VmaId(0);
}

/// A user virtual address (bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(pub u64);

impl VirtAddr {
    #[inline]
    pub fn page_index(self) -> u64 {
        self.0 >> PAGE_SHIFT
    }
    #[inline]
    pub fn pmd_index(self) -> u64 {
        self.0 / PMD_SIZE
    }
    /// The address `len_bytes` further (not `ops::Add`: the operand is a length).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn add(self, len_bytes: u64) -> VirtAddr {
        VirtAddr(self.0 + len_bytes)
    }
    #[inline]
    pub fn is_aligned(self, align_bytes: u64) -> bool {
        self.0.is_multiple_of(align_bytes)
    }
    #[inline]
    pub fn align_down(self, align_bytes: u64) -> VirtAddr {
        VirtAddr(self.0 - self.0 % align_bytes)
    }
}

impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "va:{:#x}", self.0)
    }
}

/// Formats a byte size with the largest exact binary unit: `4K`, `64K`, `2M`, `1G`, or
/// plain bytes when no unit divides it (`1536`).
pub fn format_size_bytes(size_bytes: u64) -> String {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    const K: u64 = 1 << 10;
    if size_bytes != 0 && size_bytes.is_multiple_of(G) {
        format!("{}G", size_bytes / G)
    } else if size_bytes != 0 && size_bytes.is_multiple_of(M) {
        format!("{}M", size_bytes / M)
    } else if size_bytes != 0 && size_bytes.is_multiple_of(K) {
        format!("{}K", size_bytes / K)
    } else {
        format!("{size_bytes}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_sizes_round_trip() {
        for o in 0..=9u8 {
            let order = Order(o);
            assert_eq!(Order::from_size_bytes(order.size_bytes()), Some(order));
        }
        assert_eq!(Order::from_size_bytes(3 * PAGE_SIZE), None);
        assert_eq!(Order(4).sysfs_size_name(), "64kB");
        assert_eq!(Order(9).scenario_size_name(), "2M");
    }

    #[test]
    fn sizes_use_largest_exact_unit() {
        assert_eq!(format_size_bytes(12 * 1024), "12K");
        assert_eq!(format_size_bytes(2 << 20), "2M");
        assert_eq!(format_size_bytes(1536), "1536");
        assert_eq!(format_size_bytes(0), "0");
        assert_eq!(format_size_bytes(3 << 30), "3G");
    }
}
