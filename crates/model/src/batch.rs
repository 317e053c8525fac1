//! `folio_pte_batch`: the run of PTEs, starting at a present PTE, that map consecutive pages
//! of the same folio with the same bits (kernel note 9.1).

use foliolab_mem::{Pte, PteTable};
use foliolab_schemes::FolioRef;

/// Length of the batch starting at `ptes[start]` (present, mapping a page of `folio`), at
/// most `max_nr`: the following entries that map the next pages of `folio`, present, not
/// special, with the same bits but accessed and writable. `respect_dirty`: the dirty bit
/// must match too (fork of private mappings, 6.17+). Inlined into the zap walk; fork
/// calls it through [`folio_pte_batch_fork`].
#[inline]
pub fn folio_pte_batch(
    table: &PteTable,
    start: usize,
    folio: FolioRef,
    max_nr: usize,
    respect_dirty: bool,
) -> usize {
    let first = table.ptes[start];
    if !first.is_present() || first.is_special() {
        return 1;
    }
    let folio_left = (folio.head.0 + folio.nr_pages()).saturating_sub(first.pfn().0);
    let limit = max_nr
        .min(folio_left as usize)
        .min(table.ptes.len() - start);
    let key = first.batch_key(respect_dirty);
    let run = &table.ptes[start..start + limit];
    // Entry `i` of `run` batches when its key (flags and PFN at once, see `Pte::batch_key`)
    // is the first's plus `i` pages. Almost always every one does: branch-free passes say
    // so, eight entries at a time (unrolled, vectorised: a 64K folio's 16 entries are two
    // such steps, the first entry compared with itself to keep them whole), and only when
    // one does not, a second pass finds the first that does not.
    let mask = Pte::batch_mask(respect_dirty);
    let differs_from = |chunk: &[Pte], mut want: u64| {
        chunk.iter().fold(0, |acc, p| {
            let d = acc | ((p.0 & mask) ^ want);
            want += 1 << 12;
            d
        })
    };
    let mut chunks = run.chunks_exact(8);
    let mut want = key;
    let mut differs = 0;
    for chunk in &mut chunks {
        let chunk: &[Pte; 8] = chunk.try_into().unwrap_or_else(|_| unreachable!());
        differs |= differs_from(chunk, want);
        want += 8 << 12;
    }
    differs |= differs_from(chunks.remainder(), want);
    if differs == 0 {
        return run.len();
    }
    batch_len(run, respect_dirty)
}

/// [`folio_pte_batch`] out of line, for fork's copy loop (which it slows when inlined).
#[inline(never)]
pub fn folio_pte_batch_fork(
    table: &PteTable,
    start: usize,
    folio: FolioRef,
    max_nr: usize,
    respect_dirty: bool,
) -> usize {
    folio_pte_batch(table, start, folio, max_nr, respect_dirty)
}

/// The batch at the start of `run` entry by entry: where [`folio_pte_batch`]'s one pass
/// found an entry that does not batch (out of line: that is rare).
#[inline(never)]
fn batch_len(run: &[Pte], respect_dirty: bool) -> usize {
    let mut want = run[0].batch_key(respect_dirty);
    let same = run[1..].iter().take_while(|p| {
        want += 1 << 12;
        p.batch_key(respect_dirty) == want
    });
    1 + same.count()
}

/// [`folio_pte_batch`] as the kernel writes it, one test per condition (the reference
/// the tests hold it to).
#[cfg(test)]
fn folio_pte_batch_by_conditions(
    table: &PteTable,
    start: usize,
    folio: FolioRef,
    max_nr: usize,
    respect_dirty: bool,
) -> usize {
    let first = table.ptes[start];
    let folio_end = folio.head.0 + folio.nr_pages();
    let bits = |p: Pte| {
        if respect_dirty {
            p.batch_bits()
        } else {
            p.batch_bits() & !Pte::present(foliolab_types::Pfn(0), false, true).0
        }
    };
    let mut nr = 1;
    while nr < max_nr && start + nr < table.ptes.len() {
        let p = table.ptes[start + nr];
        let expected_pfn = first.pfn().0 + nr as u64;
        if !p.is_present()
            || p.is_special()
            || p.pfn().0 != expected_pfn
            || expected_pfn >= folio_end
        {
            break;
        }
        if bits(p) != bits(first) {
            break;
        }
        nr += 1;
    }
    nr
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::{Order, Pfn};

    #[test]
    fn one_comparison_per_entry_batches_as_the_conditions_do() {
        let mut rng = foliolab_types::prng::Prng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move |n: u64| rng.below(n);
        let folio = FolioRef {
            head: Pfn(0x1000),
            order: Order(4),
            anon: true,
        };
        for _ in 0..2000 {
            let mut t = PteTable::new();
            let at = next(512) as usize;
            for (k, p) in t
                .ptes
                .iter_mut()
                .enumerate()
                .skip(at.saturating_sub(2))
                .take(24)
            {
                let pfn =
                    Pfn(0x1000 + (k as u64).wrapping_sub(at as u64).wrapping_add(next(3)) % 20);
                *p = match next(10) {
                    0 => Pte::NONE,
                    1 => Pte::zero(pfn),
                    2 => Pte::swap(pfn.0, next(2) == 0),
                    _ => Pte::present(pfn, next(4) != 0, next(4) != 0).with_young(next(2) == 0),
                };
            }
            // Callers start a batch at a present entry mapping a page of the folio.
            t.ptes[at] = Pte::present(Pfn(0x1000 + next(16)), next(2) == 0, next(2) == 0);
            let max_nr = 1 + next(40) as usize;
            for dirty in [false, true] {
                assert_eq!(
                    folio_pte_batch(&t, at, folio, max_nr, dirty),
                    folio_pte_batch_by_conditions(&t, at, folio, max_nr, dirty),
                    "{:?}",
                    &t.ptes[at..(at + 20).min(512)]
                );
            }
        }
    }
}

#[cfg(test)]
mod long_batch_tests {
    use super::*;
    use foliolab_types::{Order, Pfn};

    /// Long runs (a PTE-mapped 2M folio): whole eight-entry steps, their remainder, and one
    /// defect anywhere (another page, a clean or special entry, a hole, a swap entry) stop
    /// the batch where the conditions do.
    #[test]
    fn long_batches_stop_where_the_conditions_do() {
        let mut rng = foliolab_types::prng::Prng::new(0x51_7cc1_b727_220a);
        let mut next = move |n: u64| rng.below(n);
        let folio = FolioRef {
            head: Pfn(0x2000),
            order: Order(9),
            anon: true,
        };
        for _ in 0..3000 {
            let mut t = PteTable::new();
            let (dirty, writable) = (next(2) == 0, next(2) == 0);
            for (k, p) in t.ptes.iter_mut().enumerate() {
                *p = Pte::present(folio.head.add(k as u64), writable, dirty);
            }
            let at = next(512) as usize;
            if next(4) != 0 {
                let bad = at + next((512 - at) as u64) as usize;
                let pfn = t.ptes[bad].pfn();
                t.ptes[bad] = match next(6) {
                    0 => Pte::NONE,
                    1 => Pte::zero(pfn),
                    2 => Pte::swap(pfn.0, false),
                    3 => Pte::present(pfn.add(1), writable, dirty),
                    4 => t.ptes[bad].with_dirty(!dirty),
                    _ => t.ptes[bad].with_young(false).with_write(!writable),
                };
                t.ptes[at] = Pte::present(folio.head.add(at as u64), writable, dirty);
            }
            let max_nr = 1 + next(520) as usize;
            for respect_dirty in [false, true] {
                assert_eq!(
                    folio_pte_batch(&t, at, folio, max_nr, respect_dirty),
                    folio_pte_batch_by_conditions(&t, at, folio, max_nr, respect_dirty),
                    "at {at} max_nr {max_nr}"
                );
            }
        }
    }
}
