//! Truth from page tables and page contents. The oracle recounts every folio's mappings from
//! the page tables ([`recount`]), names the VMAs that map each folio ([`vmas_per_folio`]),
//! and keeps what every read must return ([`ExpectedMemory`]).
//! It never reads a scheme's counters: it does not even depend on the schemes crate.

mod bindings;
mod changed;
pub mod expected;
pub mod incremental;
pub mod recount;
mod run_map;
mod runs;
pub mod vmas;

pub use expected::{Binding, ExpectedMemory, ReadVerdict};
pub use incremental::Recounter;
pub use recount::recount;
pub use vmas::vmas_per_folio;

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_mem::Content;
    use foliolab_types::VirtAddr;

    #[test]
    fn a_write_after_fork_seen_by_the_other_process_is_a_leak() {
        let mut e = ExpectedMemory::default();
        let va = VirtAddr(0x1000);
        let t0 = e.write(1, va, 0xaa);
        e.fork(1, 2);
        let t1 = e.write(2, va, 0x11);
        assert_eq!(
            e.verdict(
                1,
                va,
                Content {
                    value: 0xaa,
                    tag: t0
                }
            ),
            ReadVerdict::Ok
        );
        assert_eq!(
            e.verdict(
                1,
                va,
                Content {
                    value: 0x11,
                    tag: t1
                }
            ),
            ReadVerdict::Leak { writer: 2 }
        );
        assert_eq!(
            e.verdict(
                2,
                va,
                Content {
                    value: 0xaa,
                    tag: t0
                }
            ),
            ReadVerdict::Wrong { expected: 0x11 }
        );
    }

    #[test]
    fn shared_file_writes_are_seen_by_every_mapping_and_private_ones_are_not() {
        let mut e = ExpectedMemory::default();
        let (a, b, c) = (VirtAddr(0x10000), VirtAddr(0x20000), VirtAddr(0x30000));
        e.map_file(1, a, a.add(0x2000), 7, 0, true);
        e.map_file(2, b, b.add(0x2000), 7, 0, true);
        e.map_file(2, c, c.add(0x2000), 7, 0, false);
        let t = e.write(1, a, 0x5);
        assert_eq!(e.expected(2, b).value, 0x5);
        assert_eq!(e.expected(2, c).value, 0x5);
        assert_eq!(e.held_leak(2, Content { value: 0x5, tag: t }), None);
        e.write(2, c, 0x6);
        assert_eq!(e.expected(1, a).value, 0x5);
        e.discard(2, c, c.add(0x1000));
        assert_eq!(e.expected(2, c).value, 0x5);
        e.clear(1, a, a.add(0x2000));
        assert_eq!(e.expected(1, a).value, 0);
        e.map_file(1, a, a.add(0x2000), 7, 0, true);
        assert_eq!(e.expected(1, a).value, 0x5);
    }

    #[test]
    fn cleared_pages_read_zero() {
        let mut e = ExpectedMemory::default();
        e.write(1, VirtAddr(0x2000), 5);
        e.clear(1, VirtAddr(0x2000), VirtAddr(0x3000));
        assert_eq!(e.expected(1, VirtAddr(0x2000)).value, 0);
    }
}
