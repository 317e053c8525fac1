//! Mapcount designs behind one trait ([`Scheme`]: [`RmapEvents`], [`Queries`],
//! [`Reporting`]). Every design sees the same rmap events ([`event`]) at the points where
//! Linux 6.18 calls its rmap functions, and answers the same questions (mapcount, maybe
//! shared, may a write reuse, what do kpagecount and smaps say). The model keeps everything
//! else. [`registry`] is the one table of designs and their properties; [`kit`] holds the
//! plumbing designs share; [`shadow`] fans one run's events out to many designs and counts
//! where each disagrees with the truth.

mod avg;
pub mod cost;
pub mod costfit;
pub mod costmodel;
pub mod event;
pub mod exact;
pub mod kit;
pub mod linux_5_7;
pub mod linux_6_1;
pub mod linux_6_14;
pub mod linux_6_18;
pub mod linux_6_18_npm;
pub mod linux_6_5;
pub mod mmid;
pub mod per_page;
pub mod pm;
pub mod registry;
pub mod rfc_2026;
pub mod rmap_id;
pub mod scheme;
pub mod shadow;
pub mod tracker;
pub mod vma_count;
pub mod words;

pub use cost::{Costs, Layout, OpCost};
pub use event::*;
pub use exact::Exact;
#[cfg(feature = "test-variants")]
pub use linux_6_18::Bugs;
pub use linux_6_18::Linux618;
pub use registry::{by_name, Design, Properties, DESIGNS};
pub use scheme::{Queries, Reporting, RmapEvents, Scheme};
