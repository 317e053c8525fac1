//! The incremental recount against the full one: random page-table and memmap changes
//! (maps, unmaps, PMD leaves, splits, frees while mapped, forks, exits) keep
//! `Recounter::truth` equal to `recount`, and a change whose mark is lost shows.

use foliolab_mem::{AddressSpace, EntryChange, Memory, PmdEntry, Pte};
use foliolab_oracle::{recount, Recounter};
use foliolab_types::{MmId, Order, Pfn, VirtAddr, PAGE_SIZE, PMD_SIZE};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct World {
    mem: Memory,
    spaces: Vec<AddressSpace>,
    folios: Vec<Pfn>,
    next_mm: u32,
}

const BASE: u64 = 0x4000_0000;
/// Four PMD ranges per mm, so that ranges collide often.
const SPAN: u64 = 4 * PMD_SIZE;

impl World {
    fn new() -> World {
        let mut w = World {
            mem: Memory::new(),
            spaces: Vec::new(),
            folios: Vec::new(),
            next_mm: 1,
        };
        for _ in 0..3 {
            w.spawn();
        }
        w
    }
    fn spawn(&mut self) {
        let id = MmId(self.next_mm);
        self.next_mm += 1;
        self.spaces.push(AddressSpace {
            id,
            ..AddressSpace::default()
        });
    }
    fn step(&mut self, r: &mut Rng) {
        let s = r.below(self.spaces.len() as u64) as usize;
        let va = VirtAddr(BASE + r.below(SPAN / PAGE_SIZE) * PAGE_SIZE);
        match r.below(20) {
            0..=2 => {
                let order = [0, 0, 2, 4, 9][r.below(5) as usize];
                if let Ok(h) = self.mem.alloc_folio(Order(order)) {
                    self.folios.push(h);
                }
            }
            3..=9 if !self.folios.is_empty() => self.map_page(s, va, r),
            10..=12 => self.unmap(s, va),
            13 if !self.folios.is_empty() => self.map_leaf(s, va, r),
            14 if !self.folios.is_empty() => self.split(r),
            15 if !self.folios.is_empty() => {
                let i = r.below(self.folios.len() as u64) as usize;
                let h = self.folios.swap_remove(i);
                self.mem.page_mut(h).refcount = 0;
                self.mem.free_folio(h);
            }
            16 if self.spaces.len() < 6 => {
                let mut child = self.spaces[s].clone();
                child.id = MmId(self.next_mm);
                self.next_mm += 1;
                self.spaces.push(child);
            }
            17 if self.spaces.len() > 1 => {
                self.spaces.remove(s);
            }
            18 if !self.folios.is_empty() => self.map_run(s, va, r),
            _ => {}
        }
    }
    fn map_page(&mut self, s: usize, va: VirtAddr, r: &mut Rng) {
        let h = self.folios[r.below(self.folios.len() as u64) as usize];
        let nr = self.mem.folio_order(h).nr_pages();
        let pfn = h.add(r.below(nr));
        let pt = &mut self.spaces[s].pt;
        if pt.pmd_leaf(va).is_none() {
            pt.set_pte(va, Pte::present(pfn, r.below(2) == 0, false));
        }
    }
    /// PTEs mapping consecutive pages from a folio's page on, as a large folio is mapped,
    /// running past the folio's end into whatever follows (another folio, free memory).
    fn map_run(&mut self, s: usize, va: VirtAddr, r: &mut Rng) {
        let h = self.folios[r.below(self.folios.len() as u64) as usize];
        let nr = self.mem.folio_order(h).nr_pages();
        let first = h.add(r.below(nr));
        let len = 1 + r.below(24);
        let pt = &mut self.spaces[s].pt;
        for i in 0..len {
            let va = VirtAddr(va.0 + i * PAGE_SIZE);
            if va.0 < BASE + SPAN && pt.pmd_leaf(va).is_none() {
                pt.set_pte(va, Pte::present(first.add(i), r.below(4) != 0, false));
            }
        }
    }
    fn unmap(&mut self, s: usize, va: VirtAddr) {
        let pt = &mut self.spaces[s].pt;
        match pt.pmd(va) {
            Some(PmdEntry::Leaf(_)) => pt.set_pmd(va, None),
            Some(PmdEntry::Table(_)) => pt.set_pte(va, Pte::NONE),
            None => {}
        }
    }
    fn map_leaf(&mut self, s: usize, va: VirtAddr, r: &mut Rng) {
        let h = self.folios[r.below(self.folios.len() as u64) as usize];
        if self.mem.folio_order(h) == Order(9) {
            let leaf = Pte::present(h, false, false);
            self.spaces[s]
                .pt
                .set_pmd(va.align_down(PMD_SIZE), Some(PmdEntry::Leaf(leaf)));
        }
    }
    fn split(&mut self, r: &mut Rng) {
        let i = r.below(self.folios.len() as u64) as usize;
        let h = self.folios[i];
        let order = self.mem.folio_order(h);
        if order.0 == 0 {
            return;
        }
        self.folios.swap_remove(i);
        let refs = self.mem.refcount(h);
        let heads = self.mem.split_folio(h, Order(0));
        for x in &heads {
            self.mem.page_mut(*x).refcount = 1;
        }
        let _ = refs;
        self.folios.extend(heads);
    }
    fn clear_marks(&mut self) {
        self.mem.touched.clear();
        for s in &mut self.spaces {
            s.pt.touched.clear();
        }
    }
}

fn update(rc: &mut Recounter, w: &World) -> Vec<EntryChange> {
    let mut seen = Vec::new();
    rc.update(w.spaces.iter(), &w.mem, &mut |c| seen.push(c));
    seen
}

#[test]
fn the_kept_truth_equals_a_full_recount_after_every_change() {
    for seed in 1..=40u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut w = World::new();
        let mut rc = Recounter::default();
        for step in 0..300 {
            for _ in 0..=r.below(4) {
                w.step(&mut r);
            }
            update(&mut rc, &w);
            w.clear_marks();
            let full = recount(w.spaces.iter(), &w.mem);
            assert!(
                rc.truth() == &full,
                "seed {seed} step {step}: kept truth differs from the recount"
            );
        }
    }
}

#[test]
fn changed_folios_and_entries_are_reported() {
    let mut w = World::new();
    let mut rc = Recounter::default();
    let h = w.mem.alloc_folio(Order(2)).unwrap();
    let va = VirtAddr(BASE);
    w.spaces[0]
        .pt
        .set_pte(va, Pte::present(h.add(1), true, false));
    let seen = update(&mut rc, &w);
    w.clear_marks();
    assert_eq!(rc.changed(), &[h]);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].added && seen[0].va == va && !seen[0].pmd);
    // A write-protect changes the entry but not the truth: seen out and in, no folio changed.
    w.spaces[0]
        .pt
        .set_pte(va, Pte::present(h.add(1), false, false));
    let seen = update(&mut rc, &w);
    w.clear_marks();
    assert_eq!(
        seen.iter().map(|c| c.added).collect::<Vec<_>>(),
        vec![false, true]
    );
    assert_eq!(
        rc.truth().get(&h).expect("stored").pte_maps_per_page[..],
        [0, 1, 0, 0]
    );
    // The mm goes: its entries are counted out and the folio is unmapped.
    w.spaces.remove(0);
    let seen = update(&mut rc, &w);
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].added);
    assert_eq!(rc.changed(), &[h]);
    assert!(rc.truth().is_empty());
}

/// Mutation check: a page-table change whose mark is lost leaves the kept truth behind the
/// page tables, which is what the agreement checks catch.
#[test]
fn a_missed_mark_shows_as_a_different_truth() {
    let mut w = World::new();
    let mut rc = Recounter::default();
    let h = w.mem.alloc_folio(Order(0)).unwrap();
    w.spaces[1]
        .pt
        .set_pte(VirtAddr(BASE + PMD_SIZE), Pte::present(h, true, false));
    update(&mut rc, &w);
    w.clear_marks();
    w.spaces[1].pt.set_pte(VirtAddr(BASE + PMD_SIZE), Pte::NONE);
    w.spaces[1].pt.touched.clear();
    update(&mut rc, &w);
    assert!(rc.truth() != &recount(w.spaces.iter(), &w.mem));
    // The same change with its mark kept is counted.
    let mut rc2 = Recounter::default();
    let mut w2 = World::new();
    let h2 = w2.mem.alloc_folio(Order(0)).unwrap();
    let va = VirtAddr(BASE + PMD_SIZE);
    w2.spaces[1].pt.set_pte(va, Pte::present(h2, true, false));
    update(&mut rc2, &w2);
    w2.clear_marks();
    w2.spaces[1].pt.set_pte(va, Pte::NONE);
    update(&mut rc2, &w2);
    assert!(rc2.truth() == &recount(w2.spaces.iter(), &w2.mem));
}
