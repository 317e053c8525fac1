//! A PFN-indexed array that materialises 128 MiB sections on first write, as SPARSEMEM does
//! for the memmap: a 16 GiB model costs only what it touches.

use crate::Pfn;

const SECTION_SHIFT: u32 = 15;
const SECTION_PAGES: usize = 1 << SECTION_SHIFT;

/// PFN-indexed storage of `T`, default-valued until written.
#[derive(Clone, Debug)]
pub struct PfnArray<T: Clone + Default> {
    /// Sections by number; a section's length is known to the compiler, so an index within
    /// it needs no bounds check.
    sections: Vec<Option<Box<[T; SECTION_PAGES]>>>,
    default: T,
}

impl<T: Clone + Default> PfnArray<T> {
    /// Storage for PFNs `0..nr_pages`.
    pub fn new(nr_pages: u64) -> PfnArray<T> {
        let nr_sections = nr_pages.div_ceil(SECTION_PAGES as u64) as usize;
        PfnArray {
            sections: vec![None; nr_sections],
            default: T::default(),
        }
    }

    #[inline(always)]
    fn split(pfn: Pfn) -> (usize, usize) {
        (
            (pfn.0 >> SECTION_SHIFT) as usize,
            (pfn.0 as usize) & (SECTION_PAGES - 1),
        )
    }

    #[inline(always)]
    pub fn get(&self, pfn: Pfn) -> &T {
        let (s, i) = Self::split(pfn);
        match &self.sections[s] {
            Some(sec) => &sec[i],
            None => &self.default,
        }
    }

    #[inline(always)]
    pub fn get_mut(&mut self, pfn: Pfn) -> &mut T {
        let (s, i) = Self::split(pfn);
        &mut self.section_mut(s)[i]
    }

    /// Section `s`, materialised (every entry default) on first use.
    #[inline(always)]
    fn section_mut(&mut self, s: usize) -> &mut [T; SECTION_PAGES] {
        if self.sections[s].is_none() {
            self.materialise(s);
        }
        match &mut self.sections[s] {
            Some(sec) => sec,
            None => unreachable!("section {s} just materialised"),
        }
    }

    /// Out of line: a section is materialised once, its entries read and written many times.
    #[cold]
    #[inline(never)]
    fn materialise(&mut self, s: usize) {
        let sec: Box<[T]> = vec![self.default.clone(); SECTION_PAGES].into_boxed_slice();
        self.sections[s] = Some(sec.try_into().unwrap_or_else(|_| unreachable!()));
    }

    /// The `nr` entries from `pfn`, which lie in one section (a folio or buddy block never
    /// crosses one); `None` while that section is not materialised (every entry default).
    #[inline(always)]
    pub fn range(&self, pfn: Pfn, nr: usize) -> Option<&[T]> {
        let (s, i) = Self::split(pfn);
        assert!(i + nr <= SECTION_PAGES, "{pfn:?}+{nr} crosses a section");
        self.sections[s].as_deref().map(|sec| &sec[i..i + nr])
    }

    /// The `nr` entries from `pfn` for writing (materialising their section).
    #[inline(always)]
    pub fn range_mut(&mut self, pfn: Pfn, nr: usize) -> &mut [T] {
        let (s, i) = Self::split(pfn);
        assert!(i + nr <= SECTION_PAGES, "{pfn:?}+{nr} crosses a section");
        &mut self.section_mut(s)[i..i + nr]
    }

    /// Number of materialised sections (for memory accounting in benches).
    pub fn sections_in_use(&self) -> usize {
        self.sections.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_pfns_read_default_and_sections_appear_on_write() {
        let mut a: PfnArray<u32> = PfnArray::new(1 << 20);
        assert_eq!(*a.get(Pfn(12345)), 0);
        assert_eq!(a.sections_in_use(), 0);
        *a.get_mut(Pfn(12345)) = 7;
        *a.get_mut(Pfn((1 << 20) - 1)) = 9;
        assert_eq!(*a.get(Pfn(12345)), 7);
        assert_eq!(*a.get(Pfn(12346)), 0);
        assert_eq!(*a.get(Pfn((1 << 20) - 1)), 9);
        assert_eq!(a.sections_in_use(), 2);
        assert_eq!(a.range(Pfn(12344), 3), Some(&[0, 7, 0][..]));
        assert_eq!(a.range(Pfn(SECTION_PAGES as u64), 2), None);
        a.range_mut(Pfn(12344), 2).fill(5);
        assert_eq!(a.range(Pfn(12343), 4), Some(&[0, 5, 5, 0][..]));
    }
}
