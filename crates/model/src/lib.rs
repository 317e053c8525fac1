//! The model's operations on anonymous memory, as Linux 6.18 performs them: faults (mTHP
//! order choice, PMD THP, zero pages), fork with PTE batching, write faults (reuse or copy),
//! zap (munmap, MADV_DONTNEED, exit), mprotect and its PMD split, folio splits and the
//! deferred split shrinker, statistics. The mapcount accounting is delegated to a
//! [`foliolab_schemes::Scheme`]. Pure: no I/O, deterministic.

mod batch;
pub mod check;
pub mod collapse;
pub mod config;
mod driver;
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
mod split;
pub mod stats;
mod swap;
mod swapin;
mod vmops;
mod wp;
mod zap;

pub use config::{ShmemMode, ThpConfig, ThpMode};
pub use fault::Access;
pub use gup::{HoldId, PinOpts};
#[cfg(feature = "test-variants")]
pub use model::Variants;
pub use model::{Model, ModelError, Pid, Process, RssCounter};
pub use vmops::{Advice, Prot};
