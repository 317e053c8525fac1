//! GUP on the model directly: what pins and pipe references do to refcounts, `_pincount`
//! and MMF_HAS_PINNED, how they fail, and that releasing them (or exiting) frees memory.

use foliolab_model::{Access, Model, ModelError, Pid, PinOpts, Prot, ThpConfig};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE};

const A: VirtAddr = VirtAddr(0x7000_0000_0000);

fn model() -> (Model, Pid) {
    let scheme = foliolab_schemes::by_name("linux-6.18").unwrap();
    let mut m = Model::new(scheme, ThpConfig::default());
    let p = m.spawn();
    (m, p)
}

fn rw() -> Prot {
    Prot {
        read: true,
        write: true,
        exec: false,
    }
}

fn write(m: &mut Model, p: Pid, va: VirtAddr, value: u64) {
    m.access(p, va, Access::Write { value, tag: 1 }).unwrap();
}

fn head_of(m: &Model, id: foliolab_model::HoldId) -> Pfn {
    m.mem.folio_of(m.held_pages(id)[0])
}

#[test]
fn pin_of_a_small_page_adds_the_bias_and_sets_has_pinned() {
    let (mut m, p) = model();
    m.mmap_anon(p, A, PAGE_SIZE, rw()).unwrap();
    write(&mut m, p, A, 7);
    assert!(!m.has_pinned(p));
    let id = m.pin(p, A, A.add(PAGE_SIZE), PinOpts::default()).unwrap();
    let head = head_of(&m, id);
    assert_eq!(m.mem.refcount(head), 1 + 1024);
    assert!(m.has_pinned(p));
    assert_eq!(m.held_contents(id)[0].value, 7);
    m.release(id);
    assert_eq!(m.mem.refcount(head), 1);
    assert!(m.has_pinned(p), "MMF_HAS_PINNED is sticky");
}

#[test]
fn splice_takes_plain_references_and_does_not_mark_the_mm() {
    let (mut m, p) = model();
    m.mmap_anon(p, A, 2 * PAGE_SIZE, rw()).unwrap();
    write(&mut m, p, A, 1);
    write(&mut m, p, A.add(PAGE_SIZE), 2);
    let id = m.splice(p, A, A.add(2 * PAGE_SIZE)).unwrap();
    assert_eq!(m.mem.refcount(head_of(&m, id)), 2);
    assert!(!m.has_pinned(p));
}

#[test]
fn write_pin_of_a_read_only_mapping_is_efault_and_takes_nothing() {
    let (mut m, p) = model();
    let ro = Prot {
        read: true,
        write: false,
        exec: false,
    };
    m.mmap_anon(p, A, PAGE_SIZE, ro).unwrap();
    let opts = PinOpts {
        write: true,
        longterm: true,
        fast: false,
    };
    let err = m.pin(p, A, A.add(PAGE_SIZE), opts).unwrap_err();
    assert!(matches!(err, ModelError::Efault { .. }), "{err}");
    let err = m.splice(p, A.add(PAGE_SIZE), A.add(2 * PAGE_SIZE));
    assert!(matches!(err, Err(ModelError::Efault { .. })));
}

#[test]
fn exit_releases_pins_and_frees_the_pinned_pages() {
    let (mut m, p) = model();
    let free = m.mem.nr_free_pages();
    m.mmap_anon(p, A, 4 * PAGE_SIZE, rw()).unwrap();
    for i in 0..4 {
        write(&mut m, p, A.add(i * PAGE_SIZE), i);
    }
    m.pin(p, A, A.add(4 * PAGE_SIZE), PinOpts::default())
        .unwrap();
    m.splice(p, A, A.add(2 * PAGE_SIZE)).unwrap();
    m.munmap(p, A, 4 * PAGE_SIZE);
    assert!(
        m.mem.nr_free_pages() < free,
        "held pages outlive the mapping"
    );
    m.exit(p);
    assert_eq!(m.mem.nr_free_pages(), free);
}
