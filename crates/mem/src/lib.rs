//! Physical memory and address spaces of the model: struct-page memmap, buddy allocator, page tables, VMAs, page contents. Pure state, no accounting.
