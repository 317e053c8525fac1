//! The step-by-step MM_ID helpers, run without interleaving, end where the designs' atomic
//! helpers end. (The operations against the model's atomic ones: crates/cli/tests.)

mod common;

use foliolab_explore::design::{Design, MM_ID_DESIGNS};
use foliolab_explore::mmid::{MmIdView, MmIdWords};
use foliolab_explore::ops::mmid::{fork_mmid, seed_words, zap_mmid};
use foliolab_explore::ops::run_alone;
use foliolab_explore::races::setup_shared;
use foliolab_explore::world::{Knobs, World};
use foliolab_schemes::FolioRef;
use foliolab_types::{MmId, Order, Pfn};

fn view_of(d: &Design, f: FolioRef) -> MmIdView {
    let c = d.counters(f);
    MmIdView {
        l: c.large_mapcount.unwrap(),
        slots: [c.slot0.unwrap(), c.slot1.unwrap()],
        shared: c.maybe_shared.unwrap(),
    }
}

/// Adds and removes by three MMs (the third untracked), in an order that frees slots and
/// takes them again: the words and every MM_ID design agree after each call.
#[test]
fn helpers_match_every_mm_id_design() {
    let f = FolioRef {
        head: Pfn(0x1000),
        order: Order(4),
        anon: true,
    };
    let (a, b, c) = (MmId(1), MmId(2), MmId(3));
    // (add?, MM, first page, pages)
    let calls: [(bool, MmId, u64, i32); 9] = [
        (true, b, 0, 16),
        (true, c, 0, 16),
        (false, b, 0, 16),
        (true, b, 12, 4),
        (false, a, 0, 16),
        (false, c, 0, 8),
        (false, c, 8, 8),
        (true, c, 0, 2),
        (false, b, 12, 4),
    ];
    for name in MM_ID_DESIGNS {
        let mut d = Design::new(name).unwrap();
        let mut mem = foliolab_mem::Memory::new();
        d.prep(f, &mut mem);
        d.add_new_anon(f, a, &mut mem);
        let mut w = MmIdWords::set(16, a);
        assert_eq!(w.view(), view_of(&d, f), "{name} after the first mapping");
        for (i, &(add, mm, at, n)) in calls.iter().enumerate() {
            let first = f.head.add(at);
            if add {
                d.dup(f, first, n as u64, mm, &mut mem);
                w.add_atomic(mm, n);
            } else {
                d.remove(f, first, n as u64, mm, &mut mem);
                w.sub_atomic(mm, n);
            }
            let v = w.view();
            let want = view_of(&d, f);
            // Below two mappings the design reports "not shared" whatever the bit says.
            assert_eq!(
                (v.l, v.slots),
                (want.l, want.slots),
                "{name} after call {i}"
            );
            if v.l > 1 {
                assert_eq!(v.shared, want.shared, "{name} after call {i}");
            }
        }
    }
}

/// The operations with step-by-step helpers, run alone, leave words and design equal.
#[test]
fn stepwise_operations_run_alone_end_in_the_designs_state() {
    for name in MM_ID_DESIGNS {
        let mut w = World::new(Design::new(name).unwrap(), 3, Knobs::default());
        setup_shared(&mut w);
        let head = w.focus;
        seed_words(&mut w, head);
        run_alone(&mut w, &fork_mmid(0, 2, 0, 4, true));
        run_alone(&mut w, &zap_mmid(1, 0, 4, true));
        let f = w.folio(head);
        let words = w.mmid[&head];
        assert_eq!(words.view(), view_of(&w.design, f), "{name}");
        assert_eq!(words.large(), 8);
        assert!(words.shared(), "{name}: A and C map it");
        run_alone(&mut w, &zap_mmid(2, 0, 4, true));
        let words = w.mmid[&head];
        assert_eq!(
            (words.large(), words.shared()),
            (4, false),
            "{name}: A alone"
        );
        assert!(w.events.is_empty(), "{name}: {:?}", w.events);
    }
}
