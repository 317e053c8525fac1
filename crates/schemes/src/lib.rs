//! Mapcount designs behind one trait ([`Scheme`]). Every scheme sees the same rmap events
//! ([`event`]) at the points where Linux 6.18 calls its rmap functions, and answers the same
//! questions (mapcount, maybe shared, may a write reuse, what do kpagecount and smaps say).
//! The model keeps everything else. [`shadow`] fans one run's events out to many schemes and
//! counts where each disagrees with the truth.

mod avg;
pub mod cost;
pub mod event;
pub mod exact;
pub mod linux_5_7;
pub mod linux_6_1;
pub mod linux_6_14;
pub mod linux_6_18;
pub mod linux_6_18_npm;
pub mod linux_6_5;
pub mod mmid;
pub mod per_page;
pub mod pm;
pub mod rfc_2026;
pub mod rmap_id;
pub mod scheme;
pub mod shadow;
pub mod store;
pub mod tracker;
pub mod vma_count;

pub use cost::{Costs, Layout, OpCost};
pub use event::*;
pub use exact::Exact;
#[cfg(feature = "test-variants")]
pub use linux_6_18::Bugs;
pub use linux_6_18::Linux618;
pub use scheme::Scheme;

/// Names of the schemes this build provides, oldest design first.
pub const SCHEME_NAMES: &[&str] = &[
    "linux-5.7",
    "linux-6.1",
    "linux-6.5",
    "linux-6.14",
    "linux-6.18",
    "linux-6.18-npm",
    "rfc-2026",
    "vma-count",
    "rmap-id",
    "exact",
];

/// A scheme by name, for a memory of `nr_pages` page frames.
pub fn by_name(name: &str, nr_pages: u64) -> Option<Box<dyn Scheme>> {
    let s: Box<dyn Scheme> = match name {
        "linux-6.18" => Box::new(Linux618::new(nr_pages)),
        "linux-6.18-npm" => Box::new(linux_6_18_npm::Linux618Npm::new()),
        "linux-6.14" => Box::new(linux_6_14::Linux614::new()),
        "linux-6.5" => Box::new(linux_6_5::Linux65::new()),
        "linux-6.1" => Box::new(linux_6_1::Era61::new(linux_6_1::Era::V61)),
        "linux-5.7" => Box::new(linux_5_7::new()),
        "rfc-2026" => Box::new(rfc_2026::Rfc2026::new()),
        "vma-count" => Box::new(vma_count::VmaCount::new()),
        "rmap-id" => Box::new(rmap_id::RmapId::new()),
        "exact" => Box::new(Exact::new()),
        _ => return None,
    };
    Some(s)
}
