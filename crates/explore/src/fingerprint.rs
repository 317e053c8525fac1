//! The world's part of a state fingerprint: everything a later step can read. Two
//! interleavings that reach equal fingerprints (with equal thread states) have the same
//! futures, so the search explores only one of them (stateright's visited set, loom's lack
//! of one is why it needs a preemption bound this tight).
//!
//! A design's state is read through its reported counters (`counters`, per-page
//! `page_mapcount`, "maybe shared", `folio_mapcount`): a design whose hidden state could
//! differ while all of these agree would be merged wrongly. tests/reduction.rs checks, race
//! by race, that the search with and without this reduction reaches the same verdicts.

use crate::world::{va, World, VA_PAGES};
use foliolab_mem::Page;
use foliolab_types::Pfn;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

fn hash_page<H: Hasher>(p: &Page, h: &mut H) {
    // Every stored word: flags (with the order), refcount, compound_head (or a free
    // block's link) and the word its place gives it (anon_vma, pincount, a list link).
    p.raw().hash(h);
}

impl World {
    /// The pages a fingerprint covers: the race's window and every live folio.
    fn fingerprint_pages(&self) -> BTreeSet<Pfn> {
        let mut pages: BTreeSet<Pfn> = self.window.iter().copied().collect();
        for &head in &self.live {
            let n = self.mem.folio_order(head).nr_pages();
            pages.extend((0..n).map(|i| head.add(i)));
        }
        pages
    }

    pub fn hash_state<H: Hasher>(&self, h: &mut H) {
        for pfn in self.fingerprint_pages() {
            pfn.0.hash(h);
            hash_page(self.mem.page(pfn), h);
            let c = self.mem.content(pfn);
            (c.value, c.tag).hash(h);
        }
        self.mem.nr_free_pages().hash(h);
        for a in &self.mms {
            for i in 0..VA_PAGES {
                a.pt.pte(va(i)).0.hash(h);
            }
        }
        for &head in &self.live {
            let f = self.folio(head);
            let c = self.design.counters(f);
            (
                c.mapcount,
                c.large_mapcount,
                c.entire_mapcount,
                c.nr_pages_mapped,
            )
                .hash(h);
            (c.slot0, c.slot1, c.maybe_shared).hash(h);
            self.design.mapcount(f, &self.mem).hash(h);
            self.design.maybe_shared(f).hash(h);
            for i in 0..f.nr_pages() {
                self.design.page_mapcount(f, head.add(i)).hash(h);
            }
        }
        self.locks.hash(h);
        self.tlb.hash(h);
        self.holds.hash(h);
        self.queue.hash(h);
        self.live.hash(h);
        self.frozen.hash(h);
        self.mmid.hash(h);
        for (k, pte) in &self.migration {
            (k, pte.0).hash(h);
        }
    }
}
