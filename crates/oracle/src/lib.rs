//! Truth from page tables and page contents. The oracle recounts every folio's mappings from
//! the page tables ([`recount`]) and keeps what every read must return ([`ExpectedMemory`]).
//! It never reads a scheme's counters: it does not even depend on the schemes crate.

pub mod expected;
pub mod recount;

pub use expected::{ExpectedMemory, ReadVerdict};
pub use recount::recount;

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
    fn cleared_pages_read_zero() {
        let mut e = ExpectedMemory::default();
        e.write(1, VirtAddr(0x2000), 5);
        e.clear(1, VirtAddr(0x2000), VirtAddr(0x3000));
        assert_eq!(e.expected(1, VirtAddr(0x2000)).value, 0);
    }
}
