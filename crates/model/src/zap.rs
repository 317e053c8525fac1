//! Unmapping: `zap_page_range` for munmap, MADV_DONTNEED and exit, with PTE batching and the
//! mmu_gather ordering (references dropped only after all rmap removals, as after the TLB
//! flush).

use crate::batch::folio_pte_batch;
use crate::model::{Model, Pid, RssCounter};
use crate::rmap::At;
use foliolab_mem::{PageFlags, PmdEntry, Pte};
use foliolab_schemes::{Cause, FolioRef, Level, Removed, Span};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_NR_PAGES, PMD_ORDER, PMD_SIZE};

/// What the page-table walk of a PTE range leaves for the rmap half, in address order: the
/// cleared batches as the design's spans, each with the union of its cleared entries' bits
/// (dirty, young; kept only once a file folio is met, then from the first span on), and
/// the swap entries still in the table, each after the batches before it.
#[derive(Default)]
pub(crate) struct PteWalk {
    spans: Vec<Span>,
    cleared: Vec<Pte>,
    /// Pages of anon folios among the spans (their RSS counter is known without a look).
    anon_pages: i64,
    /// Whether some span maps a file folio (whose RSS counter, dirty and accessed bits the
    /// rmap half looks at).
    file: bool,
    /// (batches before it, PTE index, entry).
    swaps: Vec<(usize, usize, Pte)>,
}

impl PteWalk {
    /// Clears the batch `ptes` (mapping pages of `f` from `first`) and records it as the
    /// design's span. Only file folios read their entries' bits (`cleared` is kept in step
    /// with `spans` from the first file folio on).
    #[inline]
    fn take(&mut self, ptes: &mut [Pte], f: FolioRef, first: Pfn) {
        let nr = ptes.len();
        if f.anon {
            if let [p] = ptes {
                *p = Pte::NONE;
            } else {
                // Eight entries a step, stored inline (a 64K folio's 16 are two steps).
                let mut steps = ptes.chunks_exact_mut(8);
                for step in &mut steps {
                    step.copy_from_slice(&[Pte::NONE; 8]);
                }
                steps.into_remainder().fill(Pte::NONE);
            }
            self.anon_pages += nr as i64;
            if self.file {
                self.cleared.push(Pte::NONE);
            }
        } else {
            let cleared = clear_ptes(ptes);
            if !self.file {
                self.cleared.resize(self.spans.len(), Pte::NONE);
                self.file = true;
            }
            self.cleared.push(cleared);
        }
        self.spans.push(Span {
            folio: f,
            first,
            nr: nr as u64,
        });
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.cleared.clear();
        self.swaps.clear();
        self.anon_pages = 0;
        self.file = false;
    }
}

/// Clears `ptes` (one batch), returning the union of their bits (dirty, young): one
/// branch-free pass that reads and one that stores (both vectorise).
#[inline]
fn clear_ptes(ptes: &mut [Pte]) -> Pte {
    let cleared = ptes.iter().fold(0, |bits, p| bits | p.0);
    ptes.fill(Pte::NONE);
    Pte(cleared)
}

/// References to drop once the (modelled) TLB flush is done, in zap order: (head PFN,
/// references), 8 bytes each as the kernel's `mmu_gather` keeps one pointer per page (the
/// model's PFNs fit in 32 bits).
///
/// Without a swap device, a batch's references that are not its folio's last are dropped
/// by the walk itself, while the folio's `struct page` is at hand (`early_put`): nothing
/// between the walk and the flush reads a count that cannot reach 0, and the reference
/// that frees a folio is still dropped by the flush, in gather order, so folios are freed
/// exactly as when every reference waits for the flush.
///
/// It also keeps the walk's scratch space, reused from one page table to the next: what
/// the walk of the table being zapped left, and the results of one batched rmap call.
#[derive(Default)]
pub(crate) struct Gather {
    refs: Vec<(u32, u32)>,
    /// References that are not a folio's last are dropped by the walk.
    early_put: bool,
    /// Folios the flush frees together.
    frees: Vec<FolioRef>,
    walk: PteWalk,
    removed: Vec<Removed>,
}

impl Gather {
    fn push(&mut self, head: Pfn, nr: usize) {
        self.refs.push((head.0 as u32, nr as u32));
    }
}

impl Model {
    /// Zaps every mapping in [start, end) of `pid` (VMA bounds are respected by callers).
    pub(crate) fn zap_range(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr) {
        // Without a swap device nothing here reads or frees the swap cache: the gather may
        // be flushed range by range (see `tlb_flush`), and references that are not a
        // folio's last dropped by the walk.
        let flush_each_range = self.swap.is_none();
        let mut gather = Gather {
            early_put: flush_each_range,
            ..Gather::default()
        };
        let mut addr = start;
        while addr < end {
            let pmd_end = VirtAddr((addr.align_down(PMD_SIZE).0 + PMD_SIZE).min(end.0));
            self.zap_pmd_range(pid, addr, pmd_end, &mut gather);
            if flush_each_range {
                self.tlb_flush(&mut gather);
            }
            addr = pmd_end;
        }
        self.tlb_flush(&mut gather);
    }

    /// `tlb_flush_mmu`: the gathered references are dropped, freeing folios whose last
    /// reference goes. The kernel flushes when a batch fills (`__tlb_remove_folio_pages`
    /// asks for it, and `zap_pte_range` flushes after the PTE table). Without swap the model
    /// flushes after each PMD range, while its struct pages are still in the cache: each
    /// folio's references are still dropped after its rmap removals and in zap order, so
    /// folios are freed in the same order as by one flush at the end. With a swap device it
    /// flushes once at the end (`tlb_finish_mmu`), so that every `free_swap_cache` and swap
    /// entry's zap sees the whole range unmapped and frees in the same order.
    ///
    /// Folios whose last reference goes are freed together (`free_unref_folios`), in
    /// gather order; a folio in the swap cache first sends those before it.
    fn tlb_flush(&mut self, gather: &mut Gather) {
        let mut refs = std::mem::take(&mut gather.refs);
        let mut frees = std::mem::take(&mut gather.frees);
        for (head, nr) in refs.drain(..) {
            let (head, nr) = (Pfn(head as u64), nr as i32);
            match self.mem.put_refs_folio_meta(head, nr) {
                Some((0, order, flags)) => frees.push(FolioRef {
                    head,
                    order,
                    anon: flags.has(PageFlags::ANON),
                }),
                Some(_) => {}
                None => {
                    self.free_folios(&frees);
                    frees.clear();
                    self.free_swap_cache(head);
                    self.put_folio(head, nr);
                }
            }
        }
        self.free_folios(&frees);
        frees.clear();
        gather.refs = refs;
        gather.frees = frees;
    }

    fn zap_pmd_range(&mut self, pid: Pid, start: VirtAddr, end: VirtAddr, gather: &mut Gather) {
        let haddr = start.align_down(PMD_SIZE);
        let leaf = match self.proc(pid).aspace.pt.pmd(haddr) {
            None => return,
            Some(PmdEntry::Leaf(leaf)) => Some(*leaf),
            Some(PmdEntry::Table(_)) => None,
        };
        if let Some(leaf) = leaf {
            if start == haddr && end.0 == haddr.0 + PMD_SIZE {
                self.proc_mut(pid).aspace.pt.set_pmd(haddr, None);
                if !leaf.is_special() {
                    let f = self.folio_of_page(leaf.pfn());
                    self.file_zap_dirty(f, leaf);
                    self.rmap_remove(
                        At(pid, haddr),
                        f,
                        f.head,
                        PMD_NR_PAGES,
                        Level::Pmd,
                        Cause::Zap,
                    );
                    let counter = self.mm_counter(f);
                    self.add_rss(pid, counter, -(PMD_ORDER.nr_pages() as i64));
                    gather.push(f.head, 1);
                }
                return;
            }
            self.split_huge_pmd(pid, haddr);
        }
        let first = ((start.0 - haddr.0) / PAGE_SIZE) as usize;
        let last = ((end.0 - haddr.0) / PAGE_SIZE) as usize;
        let mut walk = std::mem::take(&mut gather.walk);
        walk.clear();
        self.clear_pte_range(pid, haddr, first..last, &mut walk, gather);
        // Every zapped range lies inside one VMA (munmap, exit and MADV_DONTNEED zap VMA by
        // VMA): the folio batches between two swap entries go to the design in one call.
        let at = At(pid, start);
        let mut rss = [0i64; 4];
        rss[RssCounter::Anon as usize] = -walk.anon_pages;
        let mut done = 0;
        for &(before, i, pte) in &walk.swaps {
            self.zap_batches(at, &walk, done..before, gather, &mut rss);
            done = before;
            self.zap_swap_entry(pid, haddr.add(i as u64 * PAGE_SIZE), pte);
        }
        self.zap_batches(at, &walk, done..walk.spans.len(), gather, &mut rss);
        gather.walk = walk;
        for c in [RssCounter::Anon, RssCounter::File, RssCounter::Shmem] {
            if rss[c as usize] != 0 {
                self.add_rss(pid, c, rss[c as usize]);
            }
        }
    }

    /// How zap batches PTEs: by folio (6.9+), one at a time before; and whether the
    /// test variant that batches through holes is on.
    fn zap_batching(&self) -> (bool, bool) {
        #[cfg(feature = "test-variants")]
        let holes = self.variants.zap_batch_through_holes;
        #[cfg(not(feature = "test-variants"))]
        let holes = false;
        // Era: PTE batching (6.9+); one PTE at a time before.
        (self.era.pte_batching, holes)
    }

    /// The page-table half of `zap_pte_range` over PTE indexes [first, last) of the table at
    /// `haddr`, found once (`pte_offset_map_lock`): present entries are cleared batch by
    /// batch, each batch's references gathered and its anon pages counted; the rmap half of
    /// each batch, and each swap entry, are left in `walk` in address order for the caller
    /// to finish (nothing in between reads the page tables).
    fn clear_pte_range(
        &mut self,
        pid: Pid,
        haddr: VirtAddr,
        range: std::ops::Range<usize>,
        walk: &mut PteWalk,
        gather: &mut Gather,
    ) {
        let (batching, holes) = self.zap_batching();
        let (first, last) = (range.start, range.end);
        self.touch(pid);
        let Model { procs, mem, .. } = self;
        let pt = &mut procs[pid.0 as usize]
            .as_mut()
            .expect("live process")
            .aspace
            .pt;
        let Some(PmdEntry::Table(t)) = pt.pmd_mut(haddr) else {
            return;
        };
        let mut i = first;
        while i < last {
            let pte = t.ptes[i];
            if pte.is_swap() {
                walk.swaps.push((walk.spans.len(), i, pte));
                i += 1;
                continue;
            }
            if !pte.is_present() || pte.is_special() {
                t.ptes[i] = Pte::NONE;
                i += 1;
                continue;
            }
            let ((head, order, flags), put) = mem.folio_meta_put_small(pte.pfn(), gather.early_put);
            let f = FolioRef {
                head,
                order,
                anon: flags.has(PageFlags::ANON),
            };
            let nr = match (f.is_large(), holes, batching) {
                (false, _, _) => 1,
                (true, true, _) => {
                    let end = (f.head.0 + f.nr_pages() - pte.pfn().0) as usize;
                    (last - i).min(end).min(t.ptes.len() - i)
                }
                (true, false, false) => 1,
                (true, false, true) => folio_pte_batch(t, i, f, last - i, false),
            };
            walk.take(&mut t.ptes[i..i + nr], f, pte.pfn());
            // A small folio's reference went with the look above.
            let put = put
                || (f.is_large()
                    && gather.early_put
                    && mem.put_refs_unless_last(f.head, nr as i32));
            if !put {
                gather.push(f.head, nr);
            }
            i += nr;
        }
    }

    /// The rmap half of the cleared batches `batches` of `walk` (consecutive, no swap entry
    /// between them): dirty and accessed file folios and the RSS they leave (into `rss`;
    /// the walk counted anon pages and gathered the references), and the design's removal
    /// of them all in one call. `at`: the process and an address of the zapped range (inside
    /// the batches' VMA).
    fn zap_batches(
        &mut self,
        at: At,
        walk: &PteWalk,
        batches: std::ops::Range<usize>,
        gather: &mut Gather,
        rss: &mut [i64; 4],
    ) {
        let spans = &walk.spans[batches.clone()];
        if walk.file {
            let cleared = &walk.cleared[batches];
            for (s, &cleared) in spans.iter().zip(cleared) {
                if !s.folio.anon {
                    self.file_zap_dirty(s.folio, cleared);
                    self.file_zap_young(s.folio, cleared);
                    rss[self.mm_counter(s.folio) as usize] -= s.nr as i64;
                }
            }
        }
        let mut removed = std::mem::take(&mut gather.removed);
        self.rmap_remove_batch(at, spans, Level::Pte, Cause::Zap, &mut removed);
        gather.removed = removed;
    }

    /// `zap_present_folio_ptes` for a file folio: a dirty entry dirties the folio. (The
    /// kernel also delays the rmap removal of dirty file PTEs until after the TLB flush;
    /// between statements the result is the same.)
    fn file_zap_dirty(&mut self, f: foliolab_schemes::FolioRef, entry: foliolab_mem::Pte) {
        if !f.anon && entry.dirty() {
            self.mem
                .page_mut(f.head)
                .flags
                .set(foliolab_mem::PageFlags::DIRTY, true);
        }
    }

    /// `zap_present_folio_ptes` for a file folio mapped by a young PTE: `folio_mark_accessed`.
    fn file_zap_young(&mut self, f: foliolab_schemes::FolioRef, entry: foliolab_mem::Pte) {
        if !f.anon && entry.young() {
            self.folio_mark_accessed(f);
        }
    }
}
