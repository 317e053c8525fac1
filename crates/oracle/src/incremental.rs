//! The recount kept between statements: the truth of every mapped folio, updated from the
//! PMD ranges a statement touched instead of recounted from every page table. For each
//! (mm, PMD range) it keeps a copy of the entries it counted there; an update counts out the
//! old entries that differ from the page table's now and counts in the new ones. Which folio
//! an entry counts for comes from the memmap when it is counted in, so a range of memory
//! whose folio layout changed (allocation, free, split) sends every mm that mapped it there
//! through a full recount of its ranges. Every old entry is counted out before any new one is
//! counted in, so a folio's truth never mixes the old layout with the new.
//!
//! [`Recounter::truth`] equals [`crate::recount`] of the same page tables after every
//! update: the agreement tests check it on every scenario, and a unit test shows that a
//! missed mark makes it differ.

use crate::recount::count_entry;
use foliolab_mem::{AddressSpace, EntryChange, Memory, PmdEntry, Pte};
use foliolab_types::{FolioTruth, MmId, Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_SIZE};
use std::collections::{BTreeMap, BTreeSet};

type Ptes = [Pte; PMD_NR_PAGES as usize];

/// What the recount counted in one PMD range.
#[derive(Clone)]
enum Counted {
    Leaf(Pte),
    Table(Box<Ptes>),
}

/// Either side of a range's comparison.
#[derive(Clone, Copy)]
enum View<'a> {
    Leaf(Pte),
    Ptes(&'a Ptes),
}

impl Counted {
    fn of(e: &PmdEntry) -> Counted {
        match e {
            PmdEntry::Leaf(p) => Counted::Leaf(*p),
            PmdEntry::Table(t) => Counted::Table(t.ptes.clone()),
        }
    }
    fn view(&self) -> View<'_> {
        match self {
            Counted::Leaf(p) => View::Leaf(*p),
            Counted::Table(t) => View::Ptes(t),
        }
    }
}

fn view(e: &PmdEntry) -> View<'_> {
    match e {
        PmdEntry::Leaf(p) => View::Leaf(*p),
        PmdEntry::Table(t) => View::Ptes(&t.ptes),
    }
}

/// Calls `f(page index in the range, entry, is a PMD leaf)` for each entry of `a` that `b`
/// does not have at the same place (every entry of `a` when `all`).
fn each_diff(a: Option<View>, b: Option<View>, all: bool, mut f: impl FnMut(u64, Pte, bool)) {
    match (a, b) {
        (None, _) => {}
        (Some(View::Ptes(x)), Some(View::Ptes(y))) if !all => {
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                if p != q && !p.is_none() {
                    f(i as u64, *p, false);
                }
            }
        }
        (Some(View::Leaf(x)), Some(View::Leaf(y))) if !all && x == y => {}
        (Some(View::Leaf(x)), _) => {
            if !x.is_none() {
                f(0, x, true);
            }
        }
        (Some(View::Ptes(x)), _) => {
            for (i, p) in x.iter().enumerate().filter(|(_, p)| !p.is_none()) {
                f(i as u64, *p, false);
            }
        }
    }
}

/// The PMD ranges of one mm an update visits, and whether it recounts them whole.
struct Plan {
    space: usize,
    keys: Vec<u64>,
    all: bool,
}

/// The oracle's truth kept between statements (see the module documentation).
#[derive(Clone, Default)]
pub struct Recounter {
    truth: BTreeMap<Pfn, FolioTruth>,
    counted: BTreeMap<MmId, BTreeMap<u64, Counted>>,
    changed: Vec<Pfn>,
    /// The mms of the last update, in the order given (most updates only add some).
    last_ids: Vec<MmId>,
}

impl Recounter {
    /// Truth for every folio some page table maps, as [`crate::recount`] gives it.
    pub fn truth(&self) -> &BTreeMap<Pfn, FolioTruth> {
        &self.truth
    }

    /// Folios (by the head they were counted under) whose truth the last update changed,
    /// sorted, each once; a folio whose last mapping went is here but not in the truth.
    pub fn changed(&self) -> &[Pfn] {
        &self.changed
    }

    /// Brings the truth up to date with `spaces` (every live address space) after a
    /// statement, from the marks the page tables and the memmap kept (they are not cleared
    /// here). `seen` gets every entry counted out or in, outs first.
    pub fn update<'a>(
        &mut self,
        spaces: impl IntoIterator<Item = &'a AddressSpace>,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        self.changed.clear();
        let spaces: Vec<&AddressSpace> = spaces.into_iter().collect();
        let ids: Vec<MmId> = spaces.iter().map(|s| s.id).collect();
        // Spaces past `known` are new unless an mm went (then every one is looked up).
        let known = if ids.starts_with(&self.last_ids) {
            self.last_ids.len()
        } else {
            self.forget_gone(&ids, seen);
            0
        };
        self.last_ids = ids;
        let plans = self.plans(&spaces, known, mem);
        for plan in &plans {
            let space = spaces[plan.space];
            for &key in &plan.keys {
                self.count_out(space, key, plan.all, seen);
            }
        }
        for plan in &plans {
            let space = spaces[plan.space];
            for &key in &plan.keys {
                self.count_in(space, key, plan.all, mem, seen);
            }
        }
        self.changed.sort_unstable();
        self.changed.dedup();
    }

    /// Counts out every range of the mms that no longer exist.
    fn forget_gone(&mut self, ids: &[MmId], seen: &mut dyn FnMut(EntryChange)) {
        let live: BTreeSet<MmId> = ids.iter().copied().collect();
        let gone: Vec<MmId> = self
            .counted
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        for mm in gone {
            let ranges = self.counted.remove(&mm).unwrap_or_default();
            for (key, c) in &ranges {
                self.uncount_range(mm, *key, Some(c.view()), None, true, seen);
            }
        }
    }

    /// What to visit in each live mm: the marked ranges, or every range (counted before or
    /// present now) of an mm that is new, overflowed its marks or mapped memory whose folio
    /// layout changed.
    fn plans(&self, spaces: &[&AddressSpace], known: usize, mem: &Memory) -> Vec<Plan> {
        let (everyone, rescan) = self.remapped(mem);
        let mut plans = Vec::new();
        for (i, s) in spaces.iter().enumerate() {
            let quiet = s.pt.touched.is_empty() && !everyone && !rescan.contains(&s.id);
            if quiet && i < known {
                continue;
            }
            let old = self.counted.get(&s.id);
            let all = everyone
                || rescan.contains(&s.id)
                || s.pt.touched.overflowed()
                || (old.is_none() && s.pt.iter().next().is_some());
            let keys = if all {
                let mut k: BTreeSet<u64> =
                    old.map(|o| o.keys().copied().collect()).unwrap_or_default();
                k.extend(s.pt.iter().map(|(va, _)| va.0 / PMD_SIZE));
                k.into_iter().collect()
            } else {
                s.pt.touched.sorted()
            };
            if !keys.is_empty() {
                plans.push(Plan {
                    space: i,
                    keys,
                    all,
                });
            }
        }
        plans
    }

    /// The mms mapping memory whose folio layout changed (all of them after an overflow).
    fn remapped(&self, mem: &Memory) -> (bool, BTreeSet<MmId>) {
        let mut mms = BTreeSet::new();
        if mem.touched.pages.overflowed() {
            return (true, mms);
        }
        for &(head, nr_pages) in &mem.touched.layout {
            let end = head.add(nr_pages);
            let before = self
                .truth
                .range(..head)
                .next_back()
                .filter(|(h, t)| h.add(t.nr_pages) > head);
            for (_, t) in before.into_iter().chain(self.truth.range(head..end)) {
                mms.extend(t.entries_per_mm.keys().copied());
            }
        }
        (false, mms)
    }

    fn count_out(
        &mut self,
        s: &AddressSpace,
        key: u64,
        all: bool,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        let Some(old) = self.counted.get(&s.id).and_then(|m| m.get(&key)).cloned() else {
            return;
        };
        let now = s.pt.pmd(VirtAddr(key * PMD_SIZE)).map(view);
        self.uncount_range(s.id, key, Some(old.view()), now, all, seen);
    }

    fn uncount_range(
        &mut self,
        mm: MmId,
        key: u64,
        old: Option<View>,
        now: Option<View>,
        all: bool,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        each_diff(old, now, all, |i, pte, pmd| {
            let va = VirtAddr(key * PMD_SIZE + i * PAGE_SIZE);
            seen(EntryChange {
                mm,
                va,
                pte,
                pmd,
                added: false,
            });
            self.uncount(mm, pte, pmd);
        });
    }

    fn count_in(
        &mut self,
        s: &AddressSpace,
        key: u64,
        all: bool,
        mem: &Memory,
        seen: &mut dyn FnMut(EntryChange),
    ) {
        let now = s.pt.pmd(VirtAddr(key * PMD_SIZE));
        let ranges = self.counted.entry(s.id).or_default();
        let old = match now {
            Some(e) => ranges.insert(key, Counted::of(e)),
            None => ranges.remove(&key),
        };
        let (truth, changed) = (&mut self.truth, &mut self.changed);
        each_diff(
            now.map(view),
            old.as_ref().map(Counted::view),
            all,
            |i, pte, pmd| {
                let va = VirtAddr(key * PMD_SIZE + i * PAGE_SIZE);
                seen(EntryChange {
                    mm: s.id,
                    va,
                    pte,
                    pmd,
                    added: true,
                });
                if let Some(head) = count_entry(truth, mem, s.id, pte, pmd) {
                    if changed.last() != Some(&head) {
                        changed.push(head);
                    }
                }
            },
        );
        if self.counted.get(&s.id).is_some_and(|m| m.is_empty()) {
            self.counted.remove(&s.id);
        }
    }

    /// Counts one entry out of the folio it was counted for.
    fn uncount(&mut self, mm: MmId, pte: Pte, pmd: bool) {
        if !pte.is_present() || pte.is_special() {
            return;
        }
        let pfn = pte.pfn();
        let Some((&head, t)) = self
            .truth
            .range_mut(..=pfn)
            .next_back()
            .filter(|(h, t)| h.add(t.nr_pages) > pfn)
        else {
            debug_assert!(false, "{pfn:?} was counted in but no folio holds it");
            return;
        };
        if pmd {
            t.pmd_maps -= 1;
        } else {
            t.pte_maps_per_page[pfn.offset_from(head) as usize] -= 1;
        }
        if let Some(n) = t.entries_per_mm.get_mut(&mm) {
            *n -= 1;
            if *n == 0 {
                t.entries_per_mm.remove(&mm);
            }
        }
        if t.entries_per_mm.is_empty() {
            self.truth.remove(&head);
        }
        if self.changed.last() != Some(&head) {
            self.changed.push(head);
        }
    }
}
