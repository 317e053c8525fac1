//! Mapcount designs behind one trait ([`Scheme`]). Every scheme sees the same rmap events
//! ([`event`]) at the points where Linux 6.18 calls its rmap functions, and answers the same
//! questions (mapcount, maybe shared, may a write reuse, what do kpagecount and smaps say).
//! The model keeps everything else.

pub mod event;
pub mod linux_6_18;
pub mod scheme;

pub use event::*;
pub use linux_6_18::Linux618;
pub use scheme::Scheme;

/// Names of the schemes this build provides.
pub const SCHEME_NAMES: &[&str] = &["linux-6.18"];

/// A scheme by name, for a memory of `nr_pages` page frames.
pub fn by_name(name: &str, nr_pages: u64) -> Option<Box<dyn Scheme>> {
    match name {
        "linux-6.18" => Some(Box::new(Linux618::new(nr_pages))),
        _ => None,
    }
}
