//! The reverse map: where a folio may be mapped, so that the rmap walk
//! ([`Model::mappings_of`], `rmap_walk`) reads those page tables only instead of every
//! process's.
//!
//! Like the kernel's anon_vma chains it has two levels, so that fork costs nothing per page:
//! - per folio, the *places* (process, 128 KiB range) where a mapping of it was made by an
//!   rmap add (`folio_add_new_anon_rmap`, `folio_add_{anon,file}_rmap_*`) or moved there by
//!   mremap: a place id per page frame (4 bytes) in a [`PfnArray`]: the head's holds the
//!   first place, a large folio's tail frames the next ones (one each, packed from the
//!   second frame, 0 after the last), and an overflow map holds a folio's places beyond
//!   those (a small folio's second place on);
//! - per process, the children it forked, whose page tables start as copies of its own at
//!   the same addresses (the fork dup is not a place).
//!
//! The walk visits each place of the folio and the same range of every descendant of its
//! process. A process that exits leaves the tree once it has no children left (a dead
//! process with live descendants stays, as a link). Places are a superset of the truth and
//! the walk reads the page tables there, so a place that no longer maps the folio costs a
//! look and changes nothing; places are dropped when the folio is freed or split (a split
//! remaps every page, which adds the new folios' places).
//!
//! The model's page tables stay the only definition of "mapped": debug builds check every
//! walk against a scan of every page table.

use crate::model::{Model, Pid};
use crate::rmap::At;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_types::{
    Pfn, PfnArray, VirtAddr, VmaId, MODEL_NR_PAGES, PAGE_SIZE, PMD_ORDER, PMD_SIZE,
};
use std::collections::{BTreeMap, BTreeSet};

/// Bit of a head's word: the folio has more places, in [`RevMap::more`].
const MORE: u32 = 1 << 31;

/// The span of address space a place names: a walk reads this many PTEs per place (or
/// the PMD entry above them).
const GRANULE_BYTES: u64 = 128 << 10;
const GRANULE_PAGES: usize = (GRANULE_BYTES / PAGE_SIZE) as usize;

/// The reverse map (module documentation).
pub(crate) struct RevMap {
    /// Per folio head: the id of its first place (0: none), with [`MORE`] set when `more`
    /// has others; per tail frame of a large folio: one more place id (0: none, and none
    /// after it). Four bytes per page frame.
    first: PfnArray<u32>,
    /// The places of folios with more than their frames hold, by id, sorted.
    more: BTreeMap<Pfn, Vec<u32>>,
    /// Places by id - 1: (process, granule index). Ids are handed out once per place and
    /// kept (a model has few: the granules of its processes that ever mapped a folio).
    places: Vec<(Pid, u64)>,
    ids: BTreeMap<(Pid, u64), u32>,
    /// The last place looked up and its id (faults come in address order).
    last: Option<((Pid, u64), u32)>,
    /// Per pid: the process it was forked from, while both are in the tree.
    parent: Vec<Option<Pid>>,
    /// Per pid: the children in the tree (live, or dead with descendants).
    children: Vec<BTreeSet<Pid>>,
    /// Per pid: whether the process is alive.
    alive: Vec<bool>,
}

impl Default for RevMap {
    fn default() -> RevMap {
        RevMap {
            first: PfnArray::new(MODEL_NR_PAGES),
            more: BTreeMap::new(),
            places: Vec::new(),
            ids: BTreeMap::new(),
            last: None,
            parent: Vec::new(),
            children: Vec::new(),
            alive: Vec::new(),
        }
    }
}

impl RevMap {
    /// The id of the place (`pid`, granule `g`), handed out on first sight.
    #[inline]
    fn id(&mut self, pid: Pid, g: u64) -> u32 {
        let place = (pid, g);
        if let Some((p, id)) = self.last {
            if p == place {
                return id;
            }
        }
        let next = self.places.len() as u32 + 1;
        let id = *self.ids.entry(place).or_insert(next);
        if id == next {
            assert!(id < MORE, "more than 2^31 reverse-map places");
            self.places.push(place);
        }
        self.last = Some((place, id));
        id
    }

    /// A mapping of the folio of `nr_pages` at `head` was made somewhere in [`start`,
    /// `end`) of `pid`.
    #[inline]
    pub(crate) fn note(
        &mut self,
        head: Pfn,
        nr_pages: u64,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
    ) {
        for g in start.0 / GRANULE_BYTES..end.0.div_ceil(GRANULE_BYTES) {
            let id = self.id(pid, g);
            self.note_id(head, nr_pages, id);
        }
    }

    #[inline]
    fn note_id(&mut self, head: Pfn, nr_pages: u64, id: u32) {
        let w = self.first.get_mut(head);
        if *w & !MORE == id || *w == 0 {
            *w |= id;
            return;
        }
        if nr_pages > 1 {
            for slot in self.first.range_mut(head.add(1), nr_pages as usize - 1) {
                if *slot == id {
                    return;
                }
                if *slot == 0 {
                    *slot = id;
                    return;
                }
            }
        }
        let w = self.first.get_mut(head);
        *w |= MORE;
        let more = self.more.entry(head).or_default();
        if let Err(i) = more.binary_search(&id) {
            more.insert(i, id);
        }
    }

    /// The folio of `nr_pages` at `head` is freed or split: it has no places any more.
    #[inline]
    pub(crate) fn forget(&mut self, head: Pfn, nr_pages: u64) {
        let w = std::mem::take(self.first.get_mut(head));
        if w == 0 {
            return;
        }
        if nr_pages > 1 {
            for slot in self.first.range_mut(head.add(1), nr_pages as usize - 1) {
                if std::mem::take(slot) == 0 {
                    break;
                }
            }
        }
        if w & MORE != 0 {
            self.more.remove(&head);
        }
    }

    /// [`RevMap::forget`] of each folio: a run of small folios that follow each other in
    /// memory within one 2 MiB block is cleared as one slice of words.
    pub(crate) fn forget_folios(&mut self, folios: &[foliolab_schemes::FolioRef]) {
        let mut i = 0;
        while i < folios.len() {
            let f = folios[i];
            let run = folios[i..]
                .iter()
                .enumerate()
                .take_while(|(k, g)| {
                    g.order.0 == 0
                        && g.head == f.head.add(*k as u64)
                        && (g.head.0 ^ f.head.0) >> PMD_ORDER.0 == 0
                })
                .count();
            if run <= 1 {
                self.forget(f.head, f.nr_pages());
                i += 1;
                continue;
            }
            let mut more = false;
            for w in self.first.range_mut(f.head, run) {
                more |= *w & MORE != 0;
                *w = 0;
            }
            if more {
                for k in 0..run as u64 {
                    self.more.remove(&f.head.add(k));
                }
            }
            i += run;
        }
    }

    /// The place ids of the folio of `nr_pages` at `head`: its first, those its tail
    /// frames hold, those of the overflow map.
    fn ids(&self, head: Pfn, nr_pages: u64) -> impl Iterator<Item = u32> + '_ {
        let w = *self.first.get(head);
        let tails = match (w, nr_pages) {
            (0, _) | (_, 1) => &[][..],
            _ => self
                .first
                .range(head.add(1), nr_pages as usize - 1)
                .unwrap_or(&[]),
        };
        let more = if w & MORE != 0 {
            self.more.get(&head).map_or(&[][..], |v| &v[..])
        } else {
            &[]
        };
        let first = (w != 0).then_some(w & !MORE);
        first
            .into_iter()
            .chain(tails.iter().copied().take_while(|&id| id != 0))
            .chain(more.iter().copied())
    }

    /// A new process (`parent`: the one it was forked from, if any).
    pub(crate) fn spawned(&mut self, pid: Pid, parent: Option<Pid>) {
        let i = pid.0 as usize;
        if self.alive.len() <= i {
            self.alive.resize(i + 1, false);
            self.parent.resize(i + 1, None);
            self.children.resize_with(i + 1, BTreeSet::new);
        }
        self.alive[i] = true;
        self.parent[i] = parent;
        if let Some(p) = parent {
            self.children[p.0 as usize].insert(pid);
        }
    }

    /// `pid` exited: it leaves the tree when it has no children, and so do its ancestors
    /// that are dead and left childless.
    pub(crate) fn exited(&mut self, pid: Pid) {
        self.alive[pid.0 as usize] = false;
        let mut cur = pid;
        while !self.alive[cur.0 as usize] && self.children[cur.0 as usize].is_empty() {
            let Some(p) = self.parent[cur.0 as usize].take() else {
                break;
            };
            self.children[p.0 as usize].remove(&cur);
            cur = p;
        }
    }

    /// The (process, granule index) pairs to read for the folio of `nr_pages` at `head`,
    /// sorted: its places and the same range in every descendant of their process, live
    /// processes only.
    pub(crate) fn ranges(&self, head: Pfn, nr_pages: u64) -> BTreeSet<(Pid, u64)> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<(Pid, u64)> = Vec::new();
        for id in self.ids(head, nr_pages) {
            stack.push(self.places[id as usize - 1]);
            while let Some((pid, key)) = stack.pop() {
                let i = pid.0 as usize;
                if self.alive.get(i) == Some(&true) {
                    out.insert((pid, key));
                }
                if let Some(kids) = self.children.get(i) {
                    stack.extend(kids.iter().map(|&c| (c, key)));
                }
            }
        }
        out
    }

    /// [`RevMap::ranges`] by 2 MiB range: (process, PMD range index), sorted.
    pub(crate) fn pmd_ranges(&self, head: Pfn, nr_pages: u64) -> BTreeSet<(Pid, u64)> {
        let per_pmd = PMD_SIZE / GRANULE_BYTES;
        self.ranges(head, nr_pages)
            .into_iter()
            .map(|(pid, g)| (pid, g / per_pmd))
            .collect()
    }
}

/// Whether the entry `p` maps a page of `f` (present, not special, its PFN inside the folio).
pub(crate) fn maps_page_of(p: Pte, f: foliolab_schemes::FolioRef) -> bool {
    p.is_present() && !p.is_special() && p.pfn() >= f.head && p.pfn().0 < f.head.0 + f.nr_pages()
}

/// Calls `hit(index, entry)` for each entry of a PTE table that maps a page of `f`
/// (present, not special), in index order. Chunks without one are passed over after a
/// branch-free test of their entries: most of a table maps other folios.
#[inline]
fn each_in_folio(ptes: &[Pte], f: foliolab_schemes::FolioRef, mut hit: impl FnMut(usize, Pte)) {
    const CHUNK: usize = 64;
    let (head, nr) = (f.head.0, f.nr_pages());
    // `Pte::pfn` without its debug assertion (the test must not branch on presence).
    let maps = |p: &Pte| p.is_present() & !p.is_special() & ((p.0 >> 12).wrapping_sub(head) < nr);
    for (c, chunk) in ptes.chunks(CHUNK).enumerate() {
        if !chunk.iter().fold(false, |any, p| any | maps(p)) {
            continue;
        }
        for (i, p) in chunk.iter().enumerate().filter(|(_, p)| maps(p)) {
            hit(c * CHUNK + i, *p);
        }
    }
}

impl Model {
    /// Every mapping of `f` (the rmap walk): process, address, PMD or not, the entry; in
    /// process then address order.
    pub(crate) fn mappings_of(
        &self,
        f: foliolab_schemes::FolioRef,
    ) -> Vec<(Pid, VirtAddr, bool, Pte)> {
        let in_folio = |p: Pte| maps_page_of(p, f);
        let mut out = Vec::new();
        for (pid, g) in self.revmap.ranges(f.head, f.nr_pages()) {
            let gva = VirtAddr(g * GRANULE_BYTES);
            let haddr = gva.align_down(PMD_SIZE);
            match self.proc(pid).aspace.pt.pmd(haddr) {
                // The granules of one PMD range come in a row: its leaf once.
                Some(PmdEntry::Leaf(l))
                    if in_folio(*l) && out.last() != Some(&(pid, haddr, true, *l)) =>
                {
                    out.push((pid, haddr, true, *l));
                }
                Some(PmdEntry::Table(t)) => {
                    let first = ((gva.0 - haddr.0) / PAGE_SIZE) as usize;
                    let ptes = &t.ptes[first..first + GRANULE_PAGES];
                    each_in_folio(ptes, f, |i, pte| {
                        out.push((pid, gva.add(i as u64 * PAGE_SIZE), false, pte));
                    });
                }
                _ => {}
            }
        }
        debug_assert_eq!(
            out,
            self.mappings_by_scan(f),
            "the reverse map missed a mapping"
        );
        out
    }

    /// [`Model::mappings_of`] by a scan of every page table (the definition).
    pub(crate) fn mappings_by_scan(
        &self,
        f: foliolab_schemes::FolioRef,
    ) -> Vec<(Pid, VirtAddr, bool, Pte)> {
        let in_folio = |p: Pte| maps_page_of(p, f);
        let mut out = Vec::new();
        for (pid, p) in self.processes() {
            for (va, e) in p.aspace.pt.iter() {
                match e {
                    PmdEntry::Leaf(l) if in_folio(*l) => out.push((pid, va, true, *l)),
                    PmdEntry::Table(t) => {
                        for (i, pte) in t.ptes.iter().enumerate().filter(|(_, p)| in_folio(**p)) {
                            out.push((pid, va.add(i as u64 * PAGE_SIZE), false, *pte));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The VMAs whose page-table entries map any page of `f`, as
    /// `foliolab_oracle::vmas_per_folio` counts them (an entry outside every VMA counts as
    /// [`VmaId::NONE`]), found by the rmap walk.
    pub fn nr_vmas_mapping(&self, f: foliolab_schemes::FolioRef) -> u64 {
        let vmas: BTreeSet<VmaId> = self
            .mappings_of(f)
            .into_iter()
            .map(|(pid, va, _, _)| {
                let space = &self.proc(pid).aspace;
                space.vmas.find(va).map_or(VmaId::NONE, |v| v.id)
            })
            .collect();
        vmas.len() as u64
    }

    /// An rmap add of `nr` pages of `f` at `at`, an address inside the mapping (the pages
    /// lie within `nr` pages of it either way): places for that whole span.
    pub(crate) fn revmap_added(&mut self, f: foliolab_schemes::FolioRef, at: At, nr: u64) {
        let start = VirtAddr((at.1).0.saturating_sub(nr.saturating_sub(1) * PAGE_SIZE));
        self.revmap
            .note(f.head, f.nr_pages(), at.0, start, at.1.add(nr * PAGE_SIZE));
    }

    /// mremap moved `entry` (mapping `len_bytes`: a PTE's page or a PMD's range) to
    /// (`pid`, `to`): a place of its folio.
    pub(crate) fn revmap_moved(&mut self, pid: Pid, to: VirtAddr, entry: Pte, len_bytes: u64) {
        if !entry.is_present() || entry.is_special() {
            return;
        }
        if self.mem.page(entry.pfn()).flags.has(PageFlags::ALLOCATED) {
            let head = self.mem.folio_of(entry.pfn());
            let nr_pages = self.mem.folio_order(head).nr_pages();
            self.revmap.note(head, nr_pages, pid, to, to.add(len_bytes));
        }
    }
}
