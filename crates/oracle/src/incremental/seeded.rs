//! Seeded faults in the kept recount's fast paths (unit tests only): each test breaks one
//! fast path on purpose and shows that the comparison with the full recount, what the
//! agreement checks run, catches it; unbroken, the same steps agree.

use super::Recounter;
use crate::recount;
use foliolab_mem::{AddressSpace, Memory, Pte};
use foliolab_types::{MmId, Order, Pfn, VirtAddr, PAGE_SIZE, PMD_SIZE};
use std::cell::Cell;

/// A fault seeded into the fast path that counts a run of small folios in or out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Counting in a small folio's PTE forgets to count its mm.
    InSkipsMm,
    /// Counting out a small folio's last PTE keeps the folio in the truth.
    OutKeepsFolio,
    /// A run of entries whose flags alone changed (a write-protect) takes in the entries
    /// after it that map another page now.
    DiffRunOverreach,
    /// A run that changed a shared MM array in place but met only some of its holders
    /// leaves the folios it met reading the array as it was.
    RunKeepsArray,
    /// A range resting as runs is taken as unchanged without a look at its runs' entries
    /// (the none entries between them alone compared).
    RunsMatchFirstOnly,
}

thread_local! {
    static FAULT: Cell<Fault> = const { Cell::new(Fault::None) };
}

/// Whether the running test seeded `f`.
pub(crate) fn seeded(f: Fault) -> bool {
    FAULT.with(|c| c.get() == f)
}

const BASE: u64 = 0x4000_0000;

/// Runs of small folios with a large folio in the middle, mapped by a parent, copied to
/// children (a fork's tables), partly unmapped and dropped (exit, munmap): whether the kept
/// truth equals the full recount after every step.
fn steps_agree(fault: Fault) -> bool {
    FAULT.with(|c| c.set(fault));
    let mut mem = Memory::new();
    let mut pfns: Vec<Pfn> = (0..24)
        .map(|_| mem.alloc_folio(Order(0)).unwrap())
        .collect();
    let large = mem.alloc_folio(Order(2)).unwrap();
    pfns.extend((0..4).map(|i| large.add(i)));
    pfns.extend((0..24).map(|_| mem.alloc_folio(Order(0)).unwrap()));
    pfns.sort();
    let mut parent = AddressSpace {
        id: MmId(1),
        ..AddressSpace::default()
    };
    for (i, pfn) in pfns.iter().enumerate() {
        parent.pt.set_pte(
            VirtAddr(BASE + i as u64 * PAGE_SIZE),
            Pte::present(*pfn, false, false),
        );
    }
    let mut spaces = vec![parent];
    let mut rc = Recounter::default();
    let mut agree = true;
    for step in 0..22 {
        take_step(step, &mut spaces, &mut mem, &pfns);
        rc.update(spaces.iter(), &mem, &mut |_| {});
        for s in &mut spaces {
            s.pt.touched.clear();
        }
        mem.touched.clear();
        agree &= rc.truth() == &recount(spaces.iter(), &mem);
    }
    spaces[0]
        .pt
        .set_pmd(VirtAddr(BASE).align_down(PMD_SIZE), None);
    rc.update(spaces.iter(), &mem, &mut |_| {});
    agree &= rc.truth().is_empty();
    FAULT.with(|c| c.set(Fault::None));
    agree
}

/// Step `step` of [`steps_agree`]: forks (a copy of the parent's tables), unmaps, exits
/// and write faults' copies.
fn take_step(step: u32, spaces: &mut Vec<AddressSpace>, mem: &mut Memory, pfns: &[Pfn]) {
    match step {
        1 | 2 => {
            let mut child = spaces[0].clone();
            child.id = MmId(2 + step);
            spaces.push(child);
        }
        3 => {
            let va = VirtAddr(BASE + 3 * PAGE_SIZE);
            spaces[1].pt.set_pte(va, Pte::NONE);
        }
        4 => drop(spaces.remove(1)),
        5 => spaces.truncate(1),
        // The parent's entries made writable (their flags alone change) but one, which
        // now maps a new page (a COW).
        6 => {
            let cow = mem.alloc_folio(Order(0)).unwrap();
            for (i, pfn) in pfns.iter().enumerate() {
                let pfn = if i == 5 { cow } else { *pfn };
                let va = VirtAddr(BASE + i as u64 * PAGE_SIZE);
                spaces[0].pt.set_pte(va, Pte::present(pfn, true, false));
            }
        }
        // Forks enough for the folios' mms to spill from inline and share one array
        // per run; a child unmapping two pages (their folios then share an array without it)
        // before the next fork adds to every folio: a run over folios sharing
        // different arrays.
        7..=10 | 12 => {
            let mut child = spaces[0].clone();
            child.id = MmId(10 + step);
            spaces.push(child);
        }
        11 => {
            for page in [7, 8] {
                let va = VirtAddr(BASE + page * PAGE_SIZE);
                spaces[2].pt.set_pte(va, Pte::NONE);
            }
        }
        13 => {
            let cow = mem.alloc_folio(Order(0)).unwrap();
            let va = VirtAddr(BASE + 9 * PAGE_SIZE);
            spaces[3].pt.set_pte(va, Pte::present(cow, true, false));
        }
        14 => drop(spaces.remove(2)),
        15 | 20 => spaces.truncate(1),
        // The second run of small folios (pages 28..52) shared by two children's forks,
        // the parent unmapping its first half (which then shares another array), a child
        // unmapping a stretch across both halves: a run that meets only some holders of
        // the first array it changes in place.
        16 | 17 => {
            let mut child = spaces[0].clone();
            child.id = MmId(10 + step);
            spaces.push(child);
        }
        18 | 19 => {
            let (mm, from) = if step == 18 { (0, 28) } else { (1, 34) };
            for page in from..from + 12 {
                let va = VirtAddr(BASE + page * PAGE_SIZE);
                spaces[mm].pt.set_pte(va, Pte::NONE);
            }
        }
        // The large folio the parent maps split into small ones: its mms are recounted.
        21 => {
            let large = pfns.iter().find(|p| mem.folio_meta(**p).1 .0 > 0);
            mem.split_folio(*large.expect("a large folio"), Order(0));
        }
        _ => {}
    }
}

#[test]
fn the_small_folio_fast_paths_agree_with_the_full_recount() {
    assert!(steps_agree(Fault::None));
}

/// Each fault shows as a truth that differs from the full recount or, in a build with
/// debug assertions, as an assertion of the recount failing first.
#[test]
fn a_fast_path_broken_on_purpose_disagrees() {
    for fault in [
        Fault::InSkipsMm,
        Fault::OutKeepsFolio,
        Fault::DiffRunOverreach,
        Fault::RunKeepsArray,
        Fault::RunsMatchFirstOnly,
    ] {
        let caught = std::panic::catch_unwind(|| steps_agree(fault)).map_or(true, |agree| !agree);
        FAULT.with(|c| c.set(Fault::None));
        assert!(caught, "{fault:?} went unnoticed");
    }
}

/// A run's length, found a block of entries at a time, is the length an entry-by-entry
/// walk finds, wherever the run ends against the blocks and whatever ends it (another
/// page, other bits, a none entry, the table's end). A block taken whole when one of its
/// entries ends the run, or the entries after the last block skipped, fails it.
#[test]
fn a_run_ends_where_an_entry_by_entry_walk_ends_it() {
    let pfn = Pfn(0x1000);
    let run = |nr: usize| -> Vec<Pte> {
        (0..nr as u64)
            .map(|j| Pte::present(pfn.add(j), false, false))
            .collect()
    };
    let naive = |ptes: &[Pte]| {
        (1..ptes.len())
            .find(|&j| ptes[j].0 != ptes[0].0 + j as u64 * PAGE_SIZE)
            .unwrap_or(ptes.len())
    };
    for len in 1..40 {
        for end in 1..=len {
            let enders = [
                Pte::NONE,
                Pte::present(pfn.add(end as u64 + 7), false, false),
                Pte::present(pfn.add(end as u64), true, false),
            ];
            for ender in enders {
                let mut ptes = run(len);
                if end < len {
                    ptes[end] = ender;
                }
                assert_eq!(
                    super::run_len(&ptes),
                    naive(&ptes),
                    "{len} entries, run of {end}"
                );
                assert_eq!(super::run_len(&ptes), end);
            }
        }
    }
}

/// The mms a stretch of one-page layout marks sends to a recount, read a PMD block at a
/// time, are those a page-by-page walk finds: the mms of every stored folio of more than
/// one page holding a page of the stretch (one-page folios and absent pages none),
/// wherever the stretch starts and ends against the folios and the blocks.
#[test]
fn a_stretch_of_one_page_marks_finds_the_larger_folios_a_walk_finds() {
    let mut rc = Recounter::default();
    let block = PMD_SIZE / PAGE_SIZE;
    // (head, pages, mm): small folios, gaps, large folios, one across no block boundary.
    let folios = [
        (0u64, 1u64, 1u32),
        (1, 1, 2),
        (4, 4, 3),
        (9, 1, 4),
        (block - 8, 8, 5),
        (block, 1, 6),
        (block + 16, 16, 7),
        (2 * block + 3, 1, 8),
    ];
    for (head, pages, mm) in folios {
        let t = rc.truth.get_or_insert(Pfn(head), pages);
        t.entries_per_mm.add(MmId(mm), 1);
    }
    let naive = |start: u64, end: u64| {
        let mut mms: Vec<MmId> = (start..end)
            .filter_map(|p| rc.truth.containing(Pfn(p)))
            .filter(|(_, t)| t.nr_pages > 1)
            .flat_map(|(_, t)| t.entries_per_mm.keys().collect::<Vec<_>>())
            .collect();
        mms.sort_unstable();
        mms.dedup();
        mms
    };
    for start in (0..2 * block + 8).step_by(3) {
        for len in [1, 2, 5, 17, block, 2 * block] {
            let mut mms = Vec::new();
            rc.mms_mapping_larger(Pfn(start), Pfn(start + len), &mut mms);
            mms.sort_unstable();
            mms.dedup();
            assert_eq!(mms, naive(start, start + len), "[{start}, +{len})");
        }
    }
}

/// A stretch of one-page layout marks, measured a block of marks at a time, ends where a
/// mark-by-mark walk ends it: at a mark of another page, of a larger folio, or the list's
/// end, wherever that falls against the blocks.
#[test]
fn a_stretch_of_marks_ends_where_a_mark_by_mark_walk_ends_it() {
    let naive = |marks: &[(Pfn, u64)]| {
        (1..marks.len())
            .find(|&k| marks[k] != (marks[0].0.add(k as u64), 1))
            .unwrap_or(marks.len())
    };
    for len in 1..50u64 {
        for end in 1..=len {
            for ender in [(Pfn(0x900 + end + 3), 1), (Pfn(0x900 + end), 4)] {
                let mut marks: Vec<(Pfn, u64)> = (0..len).map(|k| (Pfn(0x900 + k), 1)).collect();
                if end < len {
                    marks[end as usize] = ender;
                }
                assert_eq!(super::one_page_marks(&marks), naive(&marks), "{len} {end}");
                assert_eq!(super::one_page_marks(&marks), end as usize);
            }
        }
    }
}

/// A plan's keys from a page table's marks are the marks sorted, each once, as
/// `Marks::sorted` gives them, in order or not, repeated or not, after other plans' keys.
#[test]
fn a_plan_takes_the_marks_sorted_and_once() {
    for list in [
        vec![],
        vec![7],
        vec![3, 9, 12],
        vec![9, 3],
        vec![5, 6, 5, 6],
        vec![4, 4, 2, 8, 2],
    ] {
        let mut marks = foliolab_mem::Marks::default();
        list.iter().for_each(|&k| marks.mark(k));
        let mut keys = vec![100, 1];
        super::push_sorted(&mut keys, marks.raw());
        let mut want = vec![100, 1];
        want.extend(marks.sorted());
        assert_eq!(keys, want, "{list:?}");
    }
}
