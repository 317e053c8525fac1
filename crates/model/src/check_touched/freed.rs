//! The touched check of folios a statement freed (a munmap's, an exit's last mappings),
//! a run at a time: consecutive PFNs that are free pages, no folio's head by the oracle's
//! truth, lose their parts of the statistics in one pass over a slice, where the
//! per-folio path looks each up ([`Model::touched_folios_ok`]'s path for a head that is
//! not live: no truth, no part).

use super::{small, TouchedCheck};
use crate::model::Model;
use foliolab_mem::PageFlags;
use foliolab_types::{Pfn, TruthStore, PMD_ORDER};

impl Model {
    /// Checks the heads at the start of `heads` (sorted, each once) that are consecutive
    /// PFNs (up to the end of their PMD-order block) of free pages, no live folio's and no
    /// stored truth's head, as one run: their parts of the statistics go to none. Returns
    /// how many it took (0: the caller looks at `heads[0]` alone, as it does at any head
    /// of such a run: the verdict is the same).
    pub(super) fn freed_run(
        &self,
        st: &mut TouchedCheck,
        truth: &TruthStore,
        heads: &[Pfn],
    ) -> usize {
        let first = heads[0];
        let block = PMD_ORDER.nr_pages();
        let room = (block - first.0 % block).min(heads.len() as u64) as usize;
        let room = small::consecutive_prefix(&heads[..room]);
        let n = self.live.absent_len(first, room);
        if n < 2 {
            return 0;
        }
        if let Some(pages) = self.mem.map.range(first, n) {
            let free = pages
                .iter()
                .fold(true, |free, p| free & !p.flags.has(PageFlags::ALLOCATED));
            if !free {
                return 0;
            }
        }
        if truth.heads_in(first, n) {
            return 0;
        }
        let from = first.0 as usize;
        st.parts.grow_to(from + n - 1);
        small::clear_parts(&mut st.parts, from, n, &mut st.sums);
        n
    }
}
