//! The model's operations on memory, as Linux performs them in one era ([`Era`]: today 6.18):
//! faults (mTHP order choice, PMD THP, zero pages), fork with PTE batching, write faults
//! (reuse or copy), zap (munmap, MADV_DONTNEED, exit), mprotect and its PMD split, folio
//! splits and the deferred split shrinker, swap, files and shmem, GUP, statistics. Where
//! generations differ, the operations ask the era. The mapcount accounting is delegated to a
//! [`foliolab_schemes::Scheme`], reached only through [`rmap`]. Pure: no I/O, deterministic.

mod batch;
pub mod check;
pub mod check_touched;
pub mod collapse;
pub mod config;
mod driver;
pub mod era;
mod fault;
mod file;
mod fork;
mod gup;
mod madvise;
mod migrate;
pub mod model;
mod mremap;
pub mod observe;
mod placed;
mod revmap;
pub mod rmap;
mod split;
pub mod stats;
mod swap;
mod swapin;
pub mod touched;
mod vma_bounds;
mod vmops;
mod wp;
mod zap;

pub use config::{ShmemMode, ThpConfig, ThpMode};
pub use era::{Era, Generation};
pub use fault::Access;
pub use gup::{HoldId, PinOpts};
#[cfg(feature = "test-variants")]
pub use model::Variants;
pub use model::{Model, ModelError, Pid, Process, RssCounter};
pub use vmops::{Advice, Prot};
