//! Linux 7.2 (Debian sid's kernel): 6.18's accounting (MM_ID) and operations but for the
//! swap-in of shared large folios. Measured on 7.2.13 in a VM (docs/kernel-measurements/7.2).

use super::*;

impl Era {
    /// Linux 7.2.
    pub const LINUX_7_2: Era = Era {
        generation: Generation::V7_2,
        // Measured: a 64K folio swapped out and shared by fork swaps in whole on the first
        // read (`64K.swpin` +1), and the other process's read maps the same folio
        // (swap-fork-shared-64k), where 6.18 reads one order-0 page.
        swapin_cache: SwapinCache::Large,
        ..Era::LINUX_6_18
    };
}
