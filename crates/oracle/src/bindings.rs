//! Which file page each page of a process's file mappings shows, kept as runs of pages (one
//! entry per mapping, split where part of it is unmapped or moved), so a mapping costs the
//! same whatever its size.

use crate::expected::Binding;
use crate::run_map::{RunMap, RunValue};

/// The binding of each file-backed page, by page index: a run of pages shows consecutive
/// pages of one file.
pub(crate) type Bindings = RunMap<Binding>;

impl RunValue for Binding {
    /// The page of the same file `pages` pages on.
    fn advanced(self, pages: u64) -> Binding {
        Binding {
            index: self.index + pages,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(b: &Bindings, page: u64) -> Option<u64> {
        b.get(page).map(|b| b.index)
    }

    /// Pages [start, end) show `file` from page `index` on.
    fn map(b: &mut Bindings, start: u64, end: u64, file: u32, index: u64, shared: bool) {
        b.insert(
            start,
            end - start,
            Binding {
                file,
                index,
                shared,
            },
        );
    }

    #[test]
    fn a_huge_mapping_is_one_run() {
        let mut b = Bindings::default();
        map(&mut b, 1 << 30, 1 << 40, 3, 0, true);
        assert_eq!(b.nr_runs(), 1);
        assert_eq!(index(&b, (1 << 30) + 5), Some(5));
        assert_eq!(index(&b, 1 << 40), None);
    }

    #[test]
    fn holes_and_moves_split_runs() {
        let mut b = Bindings::default();
        map(&mut b, 10, 20, 1, 100, false);
        b.remove(12, 14);
        assert_eq!(index(&b, 11), Some(101));
        assert_eq!(index(&b, 12), None);
        assert_eq!(index(&b, 14), Some(104));
        b.move_range(15, 18, 50);
        assert_eq!(index(&b, 15), None);
        assert_eq!(index(&b, 50), Some(105));
        assert_eq!(index(&b, 52), Some(107));
        assert_eq!(index(&b, 53), None);
        assert_eq!(index(&b, 18), Some(108));
        map(&mut b, 11, 19, 2, 0, true);
        assert_eq!(b.get(11).map(|x| (x.file, x.index)), Some((2, 0)));
        assert_eq!(index(&b, 10), Some(100));
        assert_eq!(index(&b, 19), Some(109));
    }
}
