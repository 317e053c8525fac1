//! The deferred split queue vs unmap and remap, and the shrinker's split vs a new mapping.

use super::{setup_private, setup_shared, Race, Variant};
use crate::design::DESIGNS;
use crate::exec::Case;
use crate::ops::fork::{fork_copy, setup_zap};
use crate::ops::gup::{gup_fast, read_held, release_held};
use crate::ops::split::{migrate, shrinker};
use crate::ops::zap::zap;
use crate::step::Code;
use crate::world::{Knobs, World};

pub static RACE: Race = Race {
    name: "deferred-split",
    title: "Deferred split queue vs unmap/remap; the shrinker's split vs a new mapping",
    question: "A folio is queued as partially mapped while another MM still maps it, or \
               while it is mapped fully again (migration unmaps and restores it PTE by \
               PTE); the shrinker splits queued folios while a fork or GUP-fast takes new \
               references. Which designs queue wrongly or miss, and \
               does the refcount freeze keep the split from losing a mapping or a reference?",
    designs: DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.18: per-batch rmap removal, deferred_split_scan, folio_ref_freeze before the split",
            Knobs::KERNEL,
        ),
        Variant::unsafe_test(
            "split-no-freeze",
            "split_folio without folio_ref_freeze: it splits whatever references others hold",
            Knobs {
                split_freeze: false,
                ..Knobs::KERNEL
            },
        ),
    ],
    cases,
};

fn cases(v: &Variant, _design: &str) -> Vec<Case> {
    let k = v.knobs;
    vec![
        Case {
            name: "unmap-remap",
            about: "B unmaps half of a folio A maps fully while the folio is migrated (every \
                    PTE becomes a migration entry one at a time, then is restored) and the \
                    shrinker scans the queue",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![
                Code::new("B munmap").op(zap(1, 0, 2, k.zap)),
                Code::new("migrate").op(migrate(k)),
                Code::new("shrinker").op(shrinker(k)),
            ],
        },
        Case {
            name: "shrink-vs-fork",
            about: "A's folio is partially mapped and queued; the shrinker splits it while \
                    A forks B",
            nr_mms: 2,
            setup: setup_queued,
            threads: vec![
                Code::new("shrinker").op(shrinker(k)),
                Code::new("A fork").op(fork_copy(0, 1, 0, 2)),
            ],
        },
        Case {
            name: "shrink-vs-gup",
            about: "A's folio is partially mapped and queued; the shrinker splits it while \
                    GUP-fast takes a reference",
            nr_mms: 2,
            setup: setup_queued,
            threads: vec![
                Code::new("shrinker").op(shrinker(k)),
                Code::new("A gup")
                    .op(gup_fast(0, 0, k.gup_recheck))
                    .op(read_held(0))
                    .op(release_held(0)),
            ],
        },
    ]
}

/// A maps pages 0-1 of its 16K folio (it unmapped 2-3): partially mapped, and queued by
/// the designs that see it.
fn setup_queued(w: &mut World) {
    setup_private(w);
    setup_zap(w, 0, 2, 2);
}
