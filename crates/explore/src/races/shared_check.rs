//! The lockless "is this folio shared?" check racing with fork, unmap and split.

use super::{setup_shared, Race, Variant};
use crate::design::{uses_mm_id_reuse, DESIGNS};
use crate::exec::Case;
use crate::ops::fork::{fork_copy, setup_fork, setup_zap};
use crate::ops::reader::cold;
use crate::ops::split::split_folio;
use crate::ops::zap::zap;
use crate::step::Code;
use crate::world::{Knobs, World, ZapOrder};

pub static RACE: Race = Race {
    name: "shared-check",
    title: "The lockless 'is this folio shared?' check vs fork, unmap and split",
    question: "MADV_COLD/PAGEOUT (and pagemap) ask folio_maybe_mapped_shared, or the \
               era's guess, without any lock of the folio while other MMs fork, unmap and \
               split it. Racing like this it can only be wrong in one direction; which one, \
               per design, and which designs are wrong even with nothing in flight?",
    designs: DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.18: PTE cleared before the rmap removal, rmap dup before the child's PTE",
            Knobs::KERNEL,
        ),
        Variant::unsafe_test(
            "rmap-before-clear",
            "zap removes the rmap before clearing the PTEs",
            Knobs {
                zap: ZapOrder::RmapBeforeClear,
                ..Knobs::KERNEL
            },
        ),
    ],
    cases,
};

fn cases(v: &Variant, design: &str) -> Vec<Case> {
    let k = v.knobs;
    let reader = || Code::new("A cold").op(cold(0, 2, uses_mm_id_reuse(design)));
    vec![
        Case {
            name: "fork",
            about: "B (mapping pages 2-3) forks C, then unmaps; A (pages 1-2) asks about \
                    the folio",
            nr_mms: 3,
            setup: setup_partial,
            threads: vec![
                reader(),
                Code::new("B fork").op(fork_copy(1, 2, 2, 2)),
                Code::new("B munmap").op(zap(1, 2, 2, k.zap)),
            ],
        },
        Case {
            name: "unmap",
            about: "B and C (pages 2-3) unmap while A (all pages) asks",
            nr_mms: 3,
            setup: setup_three,
            threads: vec![
                reader(),
                Code::new("B munmap").op(zap(1, 2, 2, k.zap)),
                Code::new("C munmap").op(zap(2, 2, 2, k.zap)),
            ],
        },
        Case {
            name: "split",
            about: "the folio is split (every PTE a migration entry, then 4K folios) while \
                    A asks",
            nr_mms: 3,
            setup: setup_partial,
            threads: vec![reader(), Code::new("split").op(split_folio(k))],
        },
    ]
}

/// A maps pages 1-2 of the 16K folio, its child B pages 2-3: four mappings of a 4-page
/// folio, page 0 mapped by nobody (the shape that fools a guess from page 0 or from
/// "more mappings than pages").
fn setup_partial(w: &mut World) {
    setup_shared(w);
    setup_zap(w, 0, 0, 1);
    setup_zap(w, 0, 3, 1);
    setup_zap(w, 1, 0, 2);
}

/// A maps all four pages; its children B and C map pages 2-3 (a third MM: with A and B in
/// the two MM_ID slots, C is untracked; page 0 is mapped by A alone).
fn setup_three(w: &mut World) {
    setup_shared(w);
    setup_zap(w, 1, 0, 2);
    setup_fork(w, 0, 2, 0, 4);
    setup_zap(w, 2, 0, 2);
}
