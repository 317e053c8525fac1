//! One process's address space (`struct mm_struct` as far as state goes): its MM id, VMAs
//! and page tables. The oracle reads these; the model's operations change them.

use crate::pagetable::PageTable;
use crate::vma::VmaSet;
use foliolab_types::MmId;

#[derive(Clone, Default)]
pub struct AddressSpace {
    pub id: MmId,
    pub vmas: VmaSet,
    pub pt: PageTable,
}
