//! GUP-fast (a PFN walker) against free and reuse: why tail pages keep `_refcount` 0.

use super::{Race, Variant};
use crate::design::DESIGNS;
use crate::exec::Case;
use crate::ops::fault::{fault_new, write};
use crate::ops::gup::{gup_fast, pfn_walker, read_held, release_held};
use crate::ops::zap::zap;
use crate::step::Code;
use crate::world::{va, Knobs, World};
use foliolab_mem::{PageFlags, Pte};
use foliolab_types::{Order, Pfn};

pub static RACE: Race = Race {
    name: "gup-fast-vs-free",
    title: "GUP-fast / PFN walker vs free and reuse",
    question: "A lockless walker reads a PTE, finds the folio, and only then takes a \
               speculative reference; meanwhile the page is unmapped, freed, and its memory \
               reused, as the head of a new folio or as a tail of a larger one. Why must \
               tail refcounts be 0, what does a total mapcount kept in page[1]'s _refcount \
               (the placement suggested in the Aug 2023 total-mapcount thread) suffer, and \
               is folio_try_get plus the re-checks safe on the 6.18 layout?",
    designs: DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.18 GUP-fast: folio_try_get, then page_folio and PTE re-checks",
            Knobs::KERNEL,
        ),
        Variant {
            design: Some("page1-total"),
            ..Variant::unsafe_test(
                "page1-total",
                "a total mapcount stored in page[1]'s _refcount (linux-6.14 counts)",
                Knobs::KERNEL,
            )
        },
        Variant::unsafe_test(
            "gup-no-recheck",
            "GUP-fast keeps the reference without re-checking page_folio and the PTE",
            Knobs {
                gup_recheck: false,
                ..Knobs::KERNEL
            },
        ),
    ],
    cases,
};

fn cases(v: &Variant, _design: &str) -> Vec<Case> {
    let recheck = v.knobs.gup_recheck;
    let walker = || {
        Code::new("walker(A)")
            .op(gup_fast(0, 0, recheck))
            .op(read_held(0))
            .op(release_held(0))
    };
    let unmap_a = || Code::new("munmap(A)").op(zap(0, 0, 1, v.knobs.zap));
    // B's new 16K folio takes A's freed page as its page[1], writes it and unmaps it.
    let b_16k = || {
        Code::new("B")
            .op(fault_new(1, 0, Order(2)))
            .op(write(1, 1))
            .op(zap(1, 2, 2, v.knobs.zap))
    };
    vec![
        Case {
            name: "reuse-as-tail",
            about: "A's page is freed, merges with its free buddies, and comes back as \
                    page[1] of B's new 16K folio",
            nr_mms: 2,
            setup: setup_tail,
            threads: vec![walker(), unmap_a(), b_16k()],
        },
        Case {
            name: "pfn-walker",
            about: "as reuse-as-tail, with a PFN walker (compaction, /proc/kpage*) looking \
                    at A's page by its PFN",
            nr_mms: 2,
            setup: setup_tail,
            threads: vec![
                Code::new("pfn walker").op(pfn_walker(1)),
                unmap_a(),
                b_16k(),
            ],
        },
        Case {
            name: "reuse-as-head",
            about: "A's page is freed and comes back at once as B's new 4K folio",
            nr_mms: 2,
            setup: setup_head,
            threads: vec![
                walker(),
                unmap_a(),
                Code::new("B").op(fault_new(1, 0, Order(0))).op(write(1, 0)),
            ],
        },
    ]
}

/// Four 4K folios carved out of one 16K block; A maps the second at page 0 (and, with
/// `keep_first`, the first at page 1); the other pages go back to the allocator.
fn setup_split_block(w: &mut World, keep_first: bool) {
    let f = w.alloc_folio(Order(2));
    w.design.free(f).expect("fresh folio");
    w.live.remove(&f.head);
    let pages = w.mem.split_folio(f.head, Order(0));
    for &p in &pages {
        w.mem.ref_add(p, 1);
        let small = w.folio(p);
        w.design.prep(small, &mut w.mem);
        w.live.insert(p);
    }
    w.window = (0..4).map(|i| f.head.add(i)).collect();
    map_small(w, pages[1], 0);
    w.focus = pages[1];
    if keep_first {
        map_small(w, pages[0], 1);
    } else {
        w.put_refs(pages[0], 1);
    }
    w.put_refs(pages[2], 1);
    w.put_refs(pages[3], 1);
}

fn map_small(w: &mut World, page: Pfn, i: u64) {
    w.mem
        .page_mut(page)
        .flags
        .set(PageFlags::ANON_EXCLUSIVE, true);
    let f = w.folio(page);
    w.rmap_add_new(f, 0);
    w.set_pte(0, va(i), Pte::present(page, true, true));
}

fn setup_tail(w: &mut World) {
    setup_split_block(w, false);
}

fn setup_head(w: &mut World) {
    setup_split_block(w, true);
}
