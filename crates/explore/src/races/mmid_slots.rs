//! MM_ID slot updates under the folio's bit lock vs a lockless reader.

use super::{setup_shared, Race, Variant};
use crate::design::MM_ID_DESIGNS;
use crate::exec::Case;
use crate::ops::fork::setup_fork;
use crate::ops::mmid::{reader_mmid, seed_words, zap_mmid};
use crate::step::Code;
use crate::world::{Knobs, World};

pub static RACE: Race = Race {
    name: "mmid-slots",
    title: "MM_ID slot updates under the bit lock vs a lockless reader",
    question: "folio_add/sub_return_large_mapcount update _large_mapcount (a plain read \
               then a set), an MM's slot and the shared bit as separate stores under \
               folio_lock_large_mapcount; folio_maybe_mapped_shared reads the mapcount and \
               the bit with no lock at all. What can the reader see between the stores, and \
               what does the lock buy the writers?",
    designs: MM_ID_DESIGNS,
    bound: 2,
    all_variants: &[
        Variant::kernel(
            "6.15+ helpers under folio_lock_large_mapcount, lockless two-load reader",
            Knobs::KERNEL,
        ),
        Variant::unsafe_test(
            "mmid-no-lock",
            "the slot updates without the bit lock",
            Knobs {
                mmid_lock: false,
                ..Knobs::KERNEL
            },
        ),
    ],
    cases,
};

fn cases(v: &Variant, _design: &str) -> Vec<Case> {
    let lock = v.knobs.mmid_lock;
    vec![Case {
        name: "two-unmaps",
        about: "A, B and C map the folio (A and B in the two slots, C untracked); B and C \
                unmap while A's MADV_COLD reads the mapcount and the shared bit",
        nr_mms: 3,
        setup,
        threads: vec![
            Code::new("B munmap").op(zap_mmid(1, 0, 4, lock)),
            Code::new("C munmap").op(zap_mmid(2, 0, 4, lock)),
            Code::new("A cold").op(reader_mmid(0, 1)),
        ],
    }]
}

fn setup(w: &mut World) {
    setup_shared(w);
    setup_fork(w, 0, 2, 0, 4);
    let head = w.focus;
    seed_words(w, head);
}
