//! [`Counted`]: what the kept recount counted in one PMD range, the side an update diffs
//! the page table's entries against. A PTE table rests as its runs ([`PteRun`]: a written
//! or forked range of small folios is one run, 16 bytes instead of a 4 KiB copy) and is
//! expanded into a whole copy only while an update diffs it entry by entry.

use super::{each_run, run_differs, run_len, same_ptes, Ptes, View};
use foliolab_mem::{PmdEntry, Pte};
use foliolab_types::PAGE_SIZE;

/// A run of a PTE table's entries, as [`each_run`] gives them: `nr` entries from index
/// `at`, entry `j` of the run being `first` mapping `j` pages further (bits
/// `first.0 + j * PAGE_SIZE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PteRun {
    pub(super) first: Pte,
    /// Index of the run's first entry in the table (below 512).
    pub(super) at: u16,
    /// Entries in the run (1 to 512).
    pub(super) nr: u16,
}

/// Runs a table may rest as (2 KiB of runs, half a copy); a table with more is copied whole.
pub(super) const MAX_RUNS: usize = 128;

/// Whole copies kept for reuse between updates (a copy is needed only while a range is
/// diffed entry by entry, mostly one at a time).
const MAX_SPARE: usize = 8;

/// What the recount counted in one PMD range.
#[derive(Clone)]
pub(super) enum Counted {
    Leaf(Pte),
    /// A PTE table as its runs (none entries between them).
    Runs(Box<[PteRun]>),
    /// A PTE table copied whole: one with more than [`MAX_RUNS`] runs, or one an update is
    /// diffing entry by entry.
    Table(Box<Ptes>),
}

/// Whole table copies for reuse: an update expands a range's runs into one and gives it
/// back when the range rests as runs again.
#[derive(Clone, Default)]
pub(super) struct Spare(Vec<Box<Ptes>>);

impl Spare {
    fn take(&mut self) -> Box<Ptes> {
        self.0
            .pop()
            .unwrap_or_else(|| Box::new([Pte::NONE; super::PMD_NR_PAGES as usize]))
    }

    fn give(&mut self, table: Box<Ptes>) {
        if self.0.len() < MAX_SPARE {
            self.0.push(table);
        }
    }
}

/// The runs of `ptes` when it has few (at most [`MAX_RUNS`]).
fn runs_of(ptes: &Ptes) -> Option<Box<[PteRun]>> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < ptes.len() {
        let pte = ptes[i];
        let nr = if super::counts(pte) {
            run_len(&ptes[i..])
        } else {
            1
        };
        if !pte.is_none() {
            if runs.len() == MAX_RUNS {
                return None;
            }
            runs.push(PteRun {
                first: pte,
                at: i as u16,
                nr: nr as u16,
            });
        }
        i += nr;
    }
    Some(runs.into_boxed_slice())
}

/// Whether `runs` (a table's runs) describe `now` exactly: every run's entries there and
/// none between them. Compared a block at a time, without a branch per entry.
pub(super) fn runs_match(runs: &[PteRun], now: &Ptes) -> bool {
    let none = |ptes: &[Pte]| ptes.iter().fold(true, |all, p| all & p.is_none());
    let mut i = 0;
    for r in runs {
        let (at, nr) = (r.at as usize, r.nr as usize);
        if !none(&now[i..at]) {
            return false;
        }
        let whole = run_differs(&now[at..at + nr], r.first.0) == 0;
        #[cfg(test)]
        let whole = whole || super::seeded::seeded(super::seeded::Fault::RunsMatchFirstOnly);
        if !whole {
            return false;
        }
        i = at + nr;
    }
    none(&now[i..])
}

/// Writes the entries `runs` describe into `out` (none between them).
fn expand_into(runs: &[PteRun], out: &mut Ptes) {
    let mut i = 0;
    for r in runs {
        let (at, nr) = (r.at as usize, r.nr as usize);
        out[i..at].fill(Pte::NONE);
        for (j, p) in out[at..at + nr].iter_mut().enumerate() {
            *p = Pte(r.first.0 + j as u64 * PAGE_SIZE);
        }
        i = at + nr;
    }
    out[i..].fill(Pte::NONE);
}

impl Counted {
    /// What counting `ptes` leaves: its runs when few, else a copy.
    pub(super) fn of_ptes(ptes: &Ptes, spare: &mut Spare) -> Counted {
        match runs_of(ptes) {
            Some(runs) => Counted::Runs(runs),
            None => {
                let mut table = spare.take();
                table.copy_from_slice(ptes);
                Counted::Table(table)
            }
        }
    }

    pub(super) fn of(e: &PmdEntry, spare: &mut Spare) -> Counted {
        match e {
            PmdEntry::Leaf(p) => Counted::Leaf(*p),
            PmdEntry::Table(t) => Counted::of_ptes(&t.ptes, spare),
        }
    }

    /// Becomes what counting `e` leaves.
    pub(super) fn copy_from(&mut self, e: &PmdEntry, spare: &mut Spare) {
        let old = std::mem::replace(self, Counted::of(e, spare));
        old.drop_into(spare);
    }

    /// Rests as the runs of `now`, which it equals (after a diff), when they are few.
    pub(super) fn settle(&mut self, now: &Ptes, spare: &mut Spare) {
        debug_assert!(matches!(self, Counted::Table(t) if same_ptes(t, now)));
        if let Some(runs) = runs_of(now) {
            std::mem::replace(self, Counted::Runs(runs)).drop_into(spare);
        }
    }

    /// A table resting as runs becomes a whole copy (to be diffed entry by entry).
    pub(super) fn expand(&mut self, spare: &mut Spare) {
        if let Counted::Runs(runs) = self {
            let mut table = spare.take();
            expand_into(runs, &mut table);
            *self = Counted::Table(table);
        }
    }

    /// Gives a whole copy back to `spare`.
    pub(super) fn drop_into(self, spare: &mut Spare) {
        if let Counted::Table(t) = self {
            spare.give(t);
        }
    }

    /// The entries counted, as a comparison side ([`Counted::expand`] first: runs have none).
    pub(super) fn view(&self) -> View<'_> {
        match self {
            Counted::Leaf(p) => View::Leaf(*p),
            Counted::Table(t) => View::Ptes(t),
            Counted::Runs(_) => unreachable!("runs are expanded before they are viewed"),
        }
    }

    /// Calls `f(index, first entry, entries)` for each run of the counted table, as
    /// [`each_run`] of the table would (nothing for a PMD leaf).
    pub(super) fn each_run(&self, mut f: impl FnMut(u64, Pte, u64)) {
        match self {
            Counted::Leaf(_) => {}
            Counted::Runs(runs) => runs
                .iter()
                .for_each(|r| f(r.at as u64, r.first, r.nr as u64)),
            Counted::Table(t) => each_run(t, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::Pfn;

    /// Tables of runs of every kind (small folios, other bits, swap entries, gaps, a
    /// table too fragmented to rest as runs): the runs expand to the table, match it and
    /// nothing that differs from it in one entry, and walk as [`each_run`] walks the table.
    #[test]
    fn runs_describe_their_table_exactly() {
        let mut tables: Vec<Box<Ptes>> = Vec::new();
        let empty = Box::new([Pte::NONE; 512]);
        let mut full = empty.clone();
        for (i, p) in full.iter_mut().enumerate() {
            *p = Pte::present(Pfn(0x1000 + i as u64), false, false);
        }
        let mut mixed = full.clone();
        mixed[7] = Pte::NONE;
        mixed[8] = Pte::present(Pfn(0x9999), true, false);
        mixed[200] = Pte(0x2); // not present: alone
        mixed[511] = Pte::NONE;
        let mut scattered = empty.clone();
        for i in 0..300 {
            scattered[i] = Pte::present(Pfn(0x5000 + 3 * i as u64), false, false);
        }
        tables.extend([empty, full, mixed, scattered]);
        let mut spare = Spare::default();
        for t in &tables {
            let c = Counted::of_ptes(t, &mut spare);
            let (mut want, mut got) = (Vec::new(), Vec::new());
            each_run(t, |i, p, nr| want.push((i, p, nr)));
            c.each_run(|i, p, nr| got.push((i, p, nr)));
            assert_eq!(got, want);
            let Counted::Runs(runs) = &c else {
                assert!(want.len() > MAX_RUNS, "a table with few runs rests as runs");
                continue;
            };
            let mut out = Box::new([Pte(1); 512]);
            expand_into(runs, &mut out);
            assert!(out[..] == t[..]);
            assert!(runs_match(runs, t));
            for i in [0, 1, 7, 8, 9, 100, 200, 510, 511] {
                let mut other = t.clone();
                other[i] = if other[i].is_none() {
                    Pte::present(Pfn(1), false, false)
                } else {
                    Pte(other[i].0 ^ PAGE_SIZE)
                };
                assert!(!runs_match(runs, &other), "entry {i} changed");
            }
        }
    }
}
