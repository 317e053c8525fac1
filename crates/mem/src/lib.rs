//! Physical memory and address spaces of the model: the struct-page memmap, the buddy
//! allocator, page contents, page tables and VMAs. Pure state and its local rules; no
//! mapcount accounting (that is the schemes' job) and no I/O.

pub mod aspace;
pub mod buddy;
pub mod content;
pub mod dirty;
pub mod epoch;
pub mod memory;
pub mod page;
pub mod pagecache;
pub mod pagetable;
pub mod pte;
pub mod swap;
pub mod vma;

pub use aspace::AddressSpace;
pub use buddy::OutOfMemory;
pub use dirty::{EntryChange, Marks, MemMarks, PageMarks};
pub use memory::{Content, Memory};
pub use page::{Page, PageFlags};
pub use pagecache::{Cached, CachedFile, FileId, PageCache};
pub use pagetable::{PageTable, PmdEntry, PteTable};
pub use pte::Pte;
pub use swap::SwapDevice;
pub use vma::{VmFlags, Vma, VmaKind, VmaSet};
