//! `folio_pte_batch`: the run of PTEs, starting at a present PTE, that map consecutive pages
//! of the same folio with the same bits (kernel note 9.1).

use foliolab_mem::{Pte, PteTable};
use foliolab_schemes::FolioRef;

/// Length of the batch starting at `ptes[start]` mapping `folio`, at most `max_nr`.
/// `respect_dirty`: the dirty bit must match too (fork of private mappings, 6.17+).
pub fn folio_pte_batch(
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
