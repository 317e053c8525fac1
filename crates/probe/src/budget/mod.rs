//! Resource limits: before the probe changes anything on the host, it estimates what a
//! scenario needs ([`estimate`]) and compares it with what the host has room for ([`room`]:
//! `MemAvailable` and the probe's cgroup limits). A scenario that does not fit, with
//! [`RESERVE_BYTES`] to spare, is refused with exit status 2 and nothing changes.

mod estimate;
mod room;

pub use estimate::{
    estimate, Mode, Need, CHECK_RECORD_BYTES_PER_PAGE, HELPER_BYTES, OBSERVE_BATCH_BYTES,
    READ_BYTES_PER_PAGE, SWAP_META_BYTES_PER_PAGE,
};
pub use room::{memory_cgroups, room, show, Hierarchy, Room};

use crate::error::{ProbeError, Result};
use foliolab_scenario::Scenario;

/// Memory left free for everything else on the host (and the kernel's own slack).
pub const RESERVE_BYTES: u64 = 256 << 20;

/// `Ok(need)` when `need` fits in `room` with the reserve to spare; else the refusal.
pub fn fits(need: &Need, room: &Room) -> Result<()> {
    let total = need.total_bytes();
    if total.saturating_add(RESERVE_BYTES) <= room.bytes {
        return Ok(());
    }
    Err(ProbeError::Resources(format!(
        "the scenario needs about {} (memory it touches {}, {} helper processes {}, page tables {}, swap {}, observation {}) plus {} to spare, but only {} is available (limited by {}); nothing on the host was changed",
        show(total),
        show(need.touched_bytes),
        need.helpers,
        show(need.helper_bytes),
        show(need.page_table_bytes),
        show(need.swap_bytes),
        show(need.observe_bytes),
        show(RESERVE_BYTES),
        show(room.bytes),
        room.limited_by
    )))
}

/// Estimates `scenario` and checks it against this machine's room now.
pub fn check(scenario: &Scenario, mode: Mode) -> Result<Need> {
    let need = estimate(scenario, mode);
    fits(&need, &room())?;
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::room::{hierarchies, meminfo_bytes};
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        let text = format!("scenario 1\n{text}");
        let s = foliolab_scenario::parse("t.scn", &text).expect("parses");
        foliolab_scenario::validate(&s).expect("valid");
        s
    }

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    #[test]
    fn written_memory_counts_whole() {
        let n = estimate(
            &scenario("spawn p\np: map a 3G\np: write a 0x1\n"),
            Mode::Probe,
        );
        assert_eq!(n.touched_bytes, 3 * G);
        assert_eq!(n.helpers, 2, "the process and the khugepaged keeper");
        let room = Room {
            bytes: G,
            limited_by: "a 1G cgroup".into(),
        };
        let e = fits(&n, &room).expect_err("refused");
        assert!(e.to_string().contains("a 1G cgroup"), "{e}");
        assert!(
            e.to_string().contains("nothing on the host was changed"),
            "{e}"
        );
    }

    #[test]
    fn a_huge_region_that_is_only_observed_costs_a_batch() {
        let text = "spawn p\np: map a 4G prot=none\np: expect a none\np: observe a\n";
        let n = estimate(&scenario(text), Mode::Probe);
        assert_eq!(n.touched_bytes, 0);
        assert_eq!(n.observe_bytes, OBSERVE_BATCH_BYTES);
        assert!(n.total_bytes() < 100 * M, "{n:?}");
        let c = estimate(&scenario(text), Mode::Check);
        assert_eq!(
            c.observe_bytes,
            OBSERVE_BATCH_BYTES + (4 * G / 4096) * CHECK_RECORD_BYTES_PER_PAGE
        );
    }

    #[test]
    fn many_helpers_add_up() {
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!("spawn p{i}\n"));
        }
        let n = estimate(&scenario(&text), Mode::Probe);
        assert_eq!(n.helpers, 101);
        assert!(n.helper_bytes >= 100 * 27 * M);
        assert!(fits(
            &n,
            &Room {
                bytes: G,
                limited_by: "x".into()
            }
        )
        .is_err());
        assert!(fits(
            &n,
            &Room {
                bytes: 8 * G,
                limited_by: "x".into()
            }
        )
        .is_ok());
    }

    #[test]
    fn exited_processes_are_credited_back_at_the_peak() {
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!(
                "spawn p{i}\np{i}: map a 1G\np{i}: write a 1\np{i}: exit\n"
            ));
        }
        text.push_str("spawn q\nq: map a 64M\nq: write a 1\nq: fork c\nc: write a 2\n");
        let n = estimate(&scenario(&text), Mode::Probe);
        assert_eq!(n.helpers, 3, "q, c and the keeper: never more live at once");
        assert_eq!(n.touched_bytes, G, "the peak: one 1G process at a time");
        assert_eq!(n.page_table_bytes, G / 512 + 3 * (256 << 10));
    }

    #[test]
    fn swap_metadata_is_counted() {
        let n = estimate(&scenario("swap 16G\nspawn p\n"), Mode::Probe);
        assert!(n.swap_bytes >= 78_000_000, "{n:?}");
    }

    #[test]
    fn fork_shares_until_written_and_pins_copy() {
        let shared = "spawn p\np: map a 64M\np: write a 0x1\np: fork c\n";
        assert_eq!(
            estimate(&scenario(shared), Mode::Probe).touched_bytes,
            64 * M
        );
        let written = format!("{shared}c: write a 0x2\n");
        assert_eq!(
            estimate(&scenario(&written), Mode::Probe).touched_bytes,
            128 * M
        );
        let pinned = "spawn p\np: map a 64M\np: write a 0x1\np: pin k a\np: fork c\n";
        assert_eq!(
            estimate(&scenario(pinned), Mode::Probe).touched_bytes,
            128 * M
        );
    }

    #[test]
    fn shared_memory_counts_once() {
        let text = "file f 64M\nspawn p\np: map a 64M file f shared\np: write a 0x1\np: fork c\nc: write a 0x2\n";
        assert_eq!(estimate(&scenario(text), Mode::Probe).touched_bytes, 64 * M);
    }

    #[test]
    fn cgroup_hierarchies_v1_and_v2() {
        let cgroup = "9:name=systemd:/\n4:memory:/process_api/abc\n0::/user.slice/x\n";
        let mountinfo =
            "32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                         40 31 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let h = hierarchies(cgroup, mountinfo);
        assert_eq!(h.len(), 2);
        assert!(!h[0].v2 && h[0].dir == Path::new("/sys/fs/cgroup/memory/process_api/abc"));
        assert!(h[1].v2 && h[1].dir == Path::new("/sys/fs/cgroup/unified/user.slice/x"));
        assert_eq!(
            meminfo_bytes("MemTotal: 10 kB\nMemAvailable:   4 kB\n", "MemAvailable"),
            Some(4096)
        );
    }
}
