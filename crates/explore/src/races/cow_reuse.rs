//! COW reuse of a large folio (6.15+ rules) racing with another MM's unmap, GUP-fast,
//! migration and split.

use super::setup_shared;
use super::{Race, Variant};
use crate::design::{uses_mm_id_reuse, DESIGNS};
use crate::exec::Case;
use crate::ops::gup::{gup_fast, read_held, release_held};
use crate::ops::split::{migrate, split_folio};
use crate::ops::wp::wp_fault;
use crate::ops::zap::zap;
use crate::step::Code;
use crate::world::Knobs;

pub static RACE: Race = Race {
    name: "cow-reuse",
    title: "COW reuse of a large folio vs another MM's unmap, GUP-fast, migration, split",
    question: "Since 6.15 a write fault may reuse a page of a PTE-mapped large folio when \
               the MM_ID 'shared' bit is clear and folio_large_mapcount == folio_ref_count, \
               checked again under the large-mapcount lock and the PTL. Can it reuse while \
               another MM can still reach the page (a PTE, a TLB entry not yet flushed, a \
               GUP reference, a migration entry), under any design that claims reuse?",
    designs: DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.15+ __wp_can_reuse_large_anon_folio, x86 mmu_gather (references after the flush)",
            Knobs::KERNEL,
        ),
        Variant::unsafe_test(
            "reuse-no-lock",
            "reuse without folio_lock_large_mapcount and its re-check: the two unlocked \
             tests (shared bit, then large mapcount == refcount) decide",
            Knobs {
                reuse_lock: false,
                ..Knobs::KERNEL
            },
        ),
        Variant::unsafe_test(
            "reuse-no-refcount",
            "reuse when the shared bit is clear, without comparing the large mapcount \
             with the refcount (nor locking)",
            Knobs {
                reuse_lock: false,
                reuse_refcount_check: false,
                ..Knobs::KERNEL
            },
        ),
        Variant::unsafe_test(
            "gup-no-recheck",
            "GUP-fast keeps its reference without re-checking the PTE",
            Knobs {
                gup_recheck: false,
                ..Knobs::KERNEL
            },
        ),
    ],
    cases,
};

fn writer(design: &str, k: Knobs) -> Code {
    Code::new("A writes").op(wp_fault(0, 1, uses_mm_id_reuse(design), k))
}

fn cases(v: &Variant, design: &str) -> Vec<Case> {
    let k = v.knobs;
    let gup_then_unmap = Code::new("B vmsplice+munmap")
        .op(gup_fast(1, 1, k.gup_recheck))
        .op(zap(1, 0, 4, k.zap))
        .op(read_held(1))
        .op(release_held(1));
    vec![
        Case {
            name: "unmap",
            about: "B unmaps its mapping while A write-faults (B's TLB is flushed after \
                    its rmap removal)",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![
                writer(design, k),
                Code::new("B munmap").op(zap(1, 0, 4, k.zap)),
            ],
        },
        Case {
            name: "gup",
            about: "B takes a GUP-fast reference (vmsplice), unmaps, then reads the pipe \
                    (CVE-2020-29374's shape)",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![writer(design, k), gup_then_unmap],
        },
        Case {
            name: "gup-unmap",
            about: "GUP-fast in one thread of B while another thread of B unmaps",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![
                writer(design, k),
                Code::new("B vmsplice")
                    .op(gup_fast(1, 1, k.gup_recheck))
                    .op(read_held(1))
                    .op(release_held(1)),
                Code::new("B munmap").op(zap(1, 0, 4, k.zap)),
            ],
        },
        Case {
            name: "migrate",
            about: "the folio is migrated (its PTEs become migration entries, then point at \
                    a copy) while A write-faults",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![writer(design, k), Code::new("migrate").op(migrate(k))],
        },
        Case {
            name: "split",
            about: "the folio is split (PTEs to migration entries, memmap split, remapped \
                    as 4K folios) while A write-faults",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![writer(design, k), Code::new("split").op(split_folio(k))],
        },
    ]
}
