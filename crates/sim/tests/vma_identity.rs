//! VMA identity on the model directly: the rmap events name the VMA, a VMA split or merge
//! tells a design that counts VMAs (`vma-count`) which mappings changed VMA, and the
//! oracle's VMAs per folio judge its count; a design that does not count VMAs is told
//! nothing and checked for nothing of that.

use foliolab_model::{Access, Model, Pid, Prot, ThpConfig, ThpMode};
use foliolab_oracle::vmas_per_folio;
use foliolab_types::{Pfn, VirtAddr, VmaId, PAGE_SIZE, PMD_SIZE};
use std::collections::{BTreeMap, BTreeSet};

const A: VirtAddr = VirtAddr(0x7000_0000_0000);
const MIDDLE: VirtAddr = VirtAddr(A.0 + PMD_SIZE / 2);

fn prot(write: bool) -> Prot {
    Prot {
        read: true,
        write,
        exec: false,
    }
}

/// A process mapping one 2M THP at `A` under `design`.
fn thp(design: &str) -> (Model, Pid, Pfn) {
    let thp = ThpConfig {
        enabled: ThpMode::Always,
        ..ThpConfig::default()
    };
    let mut m = Model::new(foliolab_schemes::by_name(design).unwrap(), thp);
    let p = m.spawn();
    m.mmap_anon(p, A, PMD_SIZE, prot(true)).unwrap();
    m.access(p, A, Access::Write { value: 1, tag: 1 }).unwrap();
    let head = m
        .mem
        .folio_of(m.proc(p).aspace.pt.pmd_leaf(A).unwrap().pfn());
    (m, p, head)
}

fn vmas(m: &Model) -> BTreeMap<Pfn, BTreeSet<VmaId>> {
    vmas_per_folio(m.processes().map(|(_, p)| &p.aspace), &m.mem)
}

#[test]
fn a_split_vma_is_counted_per_piece_and_the_check_catches_a_wrong_count() {
    let (mut m, p, head) = thp("vma-count");
    assert!(m.design_counts_vmas());
    let f = m.folio(head);
    assert_eq!(m.folio_mapcount(f), 1);
    m.mprotect(p, MIDDLE, PAGE_SIZE, prot(false)).unwrap();
    let truth = vmas(&m);
    assert_eq!(truth[&head].len(), 3, "three VMAs map the folio");
    assert_eq!(m.folio_mapcount(f), 3);
    assert!(m.folio_maybe_mapped_shared(f), "one MM, three VMAs: shared");
    assert_eq!(m.check_design_vmas(&truth), Vec::<String>::new());
    // The check reads the oracle's truth: one VMA fewer there is a disagreement.
    let mut wrong = truth.clone();
    let one = *wrong[&head].iter().next().unwrap();
    wrong.get_mut(&head).unwrap().remove(&one);
    let msgs = m.check_design_vmas(&wrong);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("VMA count 3, 2 VMAs map the folio"),
        "{msgs:?}"
    );
    // The same protection again merges the pieces.
    m.mprotect(p, MIDDLE, PAGE_SIZE, prot(true)).unwrap();
    assert_eq!(vmas(&m)[&head].len(), 1);
    assert_eq!(m.folio_mapcount(f), 1);
    assert!(!m.folio_maybe_mapped_shared(f));
    assert_eq!(m.check_design_vmas(&vmas(&m)), Vec::<String>::new());
}

#[test]
fn a_design_that_counts_mms_is_not_told_of_vmas() {
    let (mut m, p, head) = thp("linux-6.18");
    assert!(!m.design_counts_vmas());
    m.mprotect(p, MIDDLE, PAGE_SIZE, prot(false)).unwrap();
    let f = m.folio(head);
    assert!(!m.folio_maybe_mapped_shared(f), "one MM maps it");
    assert_eq!(vmas(&m)[&head].len(), 3, "the oracle still sees three");
    assert_eq!(m.check_design_vmas(&BTreeMap::new()), Vec::<String>::new());
}

#[test]
fn vma_ids_are_unique_across_processes_and_new_after_fork() {
    let (mut m, p, _) = thp("vma-count");
    let child = m.fork(p).unwrap();
    let id = |m: &Model, pid: Pid| m.proc(pid).aspace.vmas.find(A).unwrap().id;
    assert!(id(&m, p) != id(&m, child));
    assert!(id(&m, p) != VmaId::NONE && id(&m, child) != VmaId::NONE);
}
