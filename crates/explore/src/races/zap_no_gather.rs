//! Batched zap ordering on MMU_GATHER_NO_GATHER architectures (s390).

use super::{setup_private, setup_shared, Race, Variant};
use crate::design::{uses_mm_id_reuse, DESIGNS};
use crate::exec::Case;
use crate::ops::gup::{gup_fast, release_held};
use crate::ops::reader::cold;
use crate::ops::wp::wp_fault;
use crate::ops::zap::zap;
use crate::step::Code;
use crate::world::{Knobs, ZapOrder};

pub static RACE: Race = Race {
    name: "zap-no-gather",
    title: "Batched zap ordering with MMU_GATHER_NO_GATHER (s390)",
    question: "On s390 __tlb_remove_page drops the page reference at once. The June 2023 \
               batched zap cleared and released each PTE's page before one \
               folio_remove_rmap_range, so mapcount > refcount for a while, and it took an \
               extra folio_get to keep the folio from being freed while still in the rmap. \
               Who can observe the inversion, does any decision (reuse, deferred split, \
               'maybe shared') go wrong, with and without the extra reference? And the 6.9+ \
               order (rmap removal before __tlb_remove_folio_pages)?",
    designs: DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.9+ zap_present_folio_ptes on s390: clear, folio_remove_rmap_ptes, then \
             __tlb_remove_folio_pages drops the references",
            no_gather(ZapOrder::RmapFirst),
        ),
        Variant {
            name: "ryan-v1",
            about: "June 2023 batched zap on s390: folio_get, per page clear + \
                    __tlb_remove_page, folio_remove_rmap_range, folio_put",
            knobs: no_gather(ZapOrder::RyanV1 { extra_get: true }),
            design: None,
            unsafe_variant: false,
            test_only: false,
        },
        Variant::unsafe_test(
            "ryan-v1-no-get",
            "the June 2023 order without the extra folio_get",
            no_gather(ZapOrder::RyanV1 { extra_get: false }),
        ),
    ],
    cases,
};

const fn no_gather(zap: ZapOrder) -> Knobs {
    Knobs {
        no_gather: true,
        zap,
        ..Knobs::KERNEL
    }
}

fn cases(v: &Variant, design: &str) -> Vec<Case> {
    let k = v.knobs;
    let mm_id = uses_mm_id_reuse(design);
    vec![
        Case {
            name: "shared",
            about: "B unmaps its mapping of the folio A also maps; A write-faults and A's \
                    MADV_COLD asks 'maybe shared?'",
            nr_mms: 2,
            setup: setup_shared,
            threads: vec![
                Code::new("B munmap").op(zap(1, 0, 4, k.zap)),
                Code::new("A writes").op(wp_fault(0, 1, mm_id, k)),
                Code::new("A cold").op(cold(0, 2, mm_id)),
            ],
        },
        Case {
            name: "last",
            about: "A unmaps the only mapping of its folio while another thread of A takes \
                    a GUP-fast reference",
            nr_mms: 1,
            setup: setup_private,
            threads: vec![
                Code::new("A munmap").op(zap(0, 0, 4, k.zap)),
                Code::new("A gup")
                    .op(gup_fast(0, 2, k.gup_recheck))
                    .op(release_held(0)),
            ],
        },
    ]
}
