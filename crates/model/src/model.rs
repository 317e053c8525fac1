//! The model's state: physical memory, processes, the driving scheme, statistics and the
//! deferred split queue. Operations live in sibling modules as `impl Model` blocks.

use crate::config::ThpConfig;
use crate::era::Era;
use crate::stats::{MthpStat, Stats};
use foliolab_mem::page::NIL;
use foliolab_mem::{AddressSpace, Memory, OutOfMemory, PageCache, PageFlags, SwapDevice};
use foliolab_schemes::{FolioRef, Scheme};
use foliolab_types::{MmId, Order, Pfn, VirtAddr};
use std::collections::BTreeSet;
use std::fmt;

/// Index of a process in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

/// RSS counters of an mm (`MM_ANONPAGES`, ...), in pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssCounter {
    Anon = 0,
    File = 1,
    Shmem = 2,
    Swap = 3,
}

pub struct Process {
    pub aspace: AddressSpace,
    /// `mm->rss_stat` by [`RssCounter`]: pages (swap entries for `Swap`) the page tables
    /// map, unbiased, never negative between statements.
    pub rss: [i64; 4],
    /// Faults charged during the last access operation (minor plus major).
    pub faults_last: u64,
}

/// Why an operation could not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// The access would raise SIGSEGV (no VMA, or the protection forbids it).
    Segv { va: VirtAddr, reason: &'static str },
    /// The system call fails with ENOMEM (part of the range is not mapped).
    Enomem { va: VirtAddr },
    /// The model's 16 GiB are exhausted.
    OutOfMemory,
    /// The system call fails with EFAULT (GUP: no VMA, or the VMA forbids the access).
    Efault { va: VirtAddr, reason: &'static str },
    /// The system call fails with EINVAL (advice the VMA does not allow).
    Einval { va: VirtAddr, reason: &'static str },
    /// The access raises SIGBUS (beyond the end of a file, or no page to fault in).
    Sigbus { va: VirtAddr, reason: &'static str },
    /// The operation is not modelled.
    Unsupported(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Segv { va, reason } => write!(f, "SIGSEGV at {:#x}: {reason}", va.0),
            ModelError::Enomem { va } => write!(f, "ENOMEM: {:#x} is not mapped", va.0),
            ModelError::OutOfMemory => {
                write!(f, "the model's 16 GiB of physical memory are exhausted")
            }
            ModelError::Efault { va, reason } => write!(f, "EFAULT at {:#x}: {reason}", va.0),
            ModelError::Einval { va, reason } => write!(f, "EINVAL at {:#x}: {reason}", va.0),
            ModelError::Sigbus { va, reason } => write!(f, "SIGBUS at {:#x}: {reason}", va.0),
            ModelError::Unsupported(what) => write!(f, "not modelled: {what}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<OutOfMemory> for ModelError {
    fn from(_: OutOfMemory) -> ModelError {
        ModelError::OutOfMemory
    }
}

pub struct Model {
    /// The kernel generation whose operations the model performs.
    pub era: Era,
    pub mem: Memory,
    /// The mapcount design, behind the one door (`rmap.rs`).
    pub rmap: crate::rmap::Rmap,
    pub thp: ThpConfig,
    pub stats: Stats,
    pub(crate) procs: Vec<Option<Process>>,
    /// The processes statements changed since the checks last looked (`touched.rs`).
    pub(crate) touched_procs: crate::touched::TouchedProcs,
    /// The pid of each live mm, by mm id (`u32::MAX`: none).
    mm_pids: Vec<u32>,
    /// MM ids (31-bit, 0 is `MM_ID_DUMMY`): a new process takes the lowest free one, which
    /// is the first of `free_mm_ids` (released ids below `next_mm_id`) or else `next_mm_id`
    /// (every id from there up is free). O(log n) per spawn and exit.
    free_mm_ids: BTreeSet<u32>,
    next_mm_id: u32,
    /// The last anon_vma id handed out (0 means "none" on a VMA or folio).
    next_anon_vma: u32,
    /// Heads of every user folio currently allocated.
    pub(crate) live: foliolab_types::PfnSet,
    /// Where each folio may be mapped, for the rmap walk (`revmap.rs`).
    pub(crate) revmap: crate::revmap::RevMap,
    /// Deferred split queue, threaded through page[2] of each folio (FIFO): first and last
    /// head PFN ([`NIL`] when empty) and the number of folios queued (`split_queue_len`).
    dq_head: u32,
    dq_tail: u32,
    dq_len: u64,
    /// Problems found while operating (bad page state at free): drained by checks.
    pub(crate) problems: Vec<String>,
    /// The swap device of the `swap` statement, if any.
    pub swap: Option<SwapDevice>,
    /// GUP references held by processes (pins, pipes) and the mms that ever pinned.
    pub(crate) gup: crate::gup::Holds,
    /// tmpfs files (memfd, shared anonymous memory) and their cached folios.
    pub cache: PageCache,
    /// Memory drivers handed out to `driver` mappings.
    pub(crate) drivers: crate::driver::Drivers,
    /// Deliberately broken behaviours, so regression tests can show they catch the bug.
    #[cfg(feature = "test-variants")]
    pub variants: Variants,
}

/// Known kernel bugs the model can reproduce on request (tests only).
#[cfg(feature = "test-variants")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Variants {
    /// Bug 1 of the anchors note (folio_pte_batch overcount): zap batches run through
    /// non-present PTEs.
    pub zap_batch_through_holes: bool,
    /// Bug 2 (CVE-2025-38447): the lazyfree unmap batch assumes the folio lies in one page
    /// table, clearing only that table's PTEs but removing the rmap of the whole batch.
    pub lazyfree_batch_one_table: bool,
    /// Bug 9 (partial zeromap large-folio swap-in): swap-in looks at the zeromap of the
    /// first entry only, both when choosing a large order and when reading.
    pub swapin_zeromap_first_only: bool,
}

impl Model {
    /// A model of this machine's kernel ([`Era::LINUX_6_18`]) driving `scheme`.
    pub fn new(scheme: Box<dyn Scheme>, thp: ThpConfig) -> Model {
        Model::with_era(Era::LINUX_6_18, scheme, thp)
    }

    /// A model of `era`'s operations driving `scheme` (any design: an era's own, or another
    /// one to compare under the same operations).
    pub fn with_era(era: Era, scheme: Box<dyn Scheme>, thp: ThpConfig) -> Model {
        Model {
            era,
            mem: Memory::new(),
            rmap: crate::rmap::Rmap::new(scheme),
            thp,
            stats: Stats::default(),
            procs: Vec::new(),
            touched_procs: crate::touched::TouchedProcs::default(),
            mm_pids: Vec::new(),
            free_mm_ids: BTreeSet::new(),
            next_mm_id: 1,
            next_anon_vma: 1,
            live: foliolab_types::PfnSet::new(),
            revmap: crate::revmap::RevMap::default(),
            dq_head: NIL,
            dq_tail: NIL,
            dq_len: 0,
            problems: Vec::new(),
            swap: None,
            gup: crate::gup::Holds::default(),
            cache: PageCache::default(),
            drivers: crate::driver::Drivers::default(),
            #[cfg(feature = "test-variants")]
            variants: Variants::default(),
        }
    }

    /// A new process with an empty address space and the lowest free MM id.
    pub fn spawn(&mut self) -> Pid {
        let id = self.free_mm_ids.pop_first().unwrap_or_else(|| {
            self.next_mm_id += 1;
            self.next_mm_id - 1
        });
        // Pids are never reused: the VMA ids of every process differ.
        let pid = self.procs.len() as u32;
        let p = Process {
            aspace: AddressSpace {
                id: MmId(id),
                vmas: foliolab_mem::VmaSet::owned_by(pid),
                ..AddressSpace::default()
            },
            rss: [0; 4],
            faults_last: 0,
        };
        self.procs.push(Some(p));
        self.revmap.spawned(Pid(pid), None);
        self.touched_procs.mark(Pid(pid), MmId(id));
        if self.mm_pids.len() <= id as usize {
            self.mm_pids.resize(id as usize + 1, u32::MAX);
        }
        self.mm_pids[id as usize] = pid;
        Pid(pid)
    }

    #[inline]
    pub fn proc(&self, pid: Pid) -> &Process {
        self.procs[pid.0 as usize].as_ref().expect("live process")
    }
    #[inline]
    pub(crate) fn proc_mut(&mut self, pid: Pid) -> &mut Process {
        let p = self.procs[pid.0 as usize].as_mut().expect("live process");
        self.touched_procs.mark(pid, p.aspace.id);
        p
    }
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.procs.get(pid.0 as usize).is_some_and(|p| p.is_some())
    }
    /// Live processes in pid order.
    pub fn processes(&self) -> impl Iterator<Item = (Pid, &Process)> {
        self.procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (Pid(i as u32), p)))
    }
    pub fn mm_id(&self, pid: Pid) -> MmId {
        self.proc(pid).aspace.id
    }
    /// The process whose mm has `id`.
    pub fn pid_of_mm(&self, id: MmId) -> Option<Pid> {
        let pid = *self.mm_pids.get(id.0 as usize)?;
        (pid != u32::MAX && self.is_alive(Pid(pid))).then_some(Pid(pid))
    }
    pub(crate) fn release_mm_id(&mut self, id: MmId) {
        debug_assert!(
            id.0 < self.next_mm_id,
            "releasing an mm id never handed out"
        );
        self.free_mm_ids.insert(id.0);
        self.mm_pids[id.0 as usize] = u32::MAX;
    }
    /// Lists `pid` among the processes a statement touched (what [`Model::proc_mut`] does
    /// for its callers), for writers that reach a process another way.
    #[inline]
    pub(crate) fn touch(&mut self, pid: Pid) {
        let mm = self.mm_id(pid);
        self.touched_procs.mark(pid, mm);
    }
    pub(crate) fn new_anon_vma(&mut self) -> u32 {
        self.next_anon_vma += 1;
        self.next_anon_vma
    }
    #[inline]
    pub(crate) fn add_rss(&mut self, pid: Pid, c: RssCounter, delta: i64) {
        self.proc_mut(pid).rss[c as usize] += delta;
    }
    pub fn rss(&self, pid: Pid, c: RssCounter) -> i64 {
        self.proc(pid).rss[c as usize]
    }

    #[inline]
    pub fn folio(&self, head: Pfn) -> FolioRef {
        Model::folio_in(&self.mem, head)
    }
    /// The folio whose head is `head`, read from `mem` alone (for walks that hold a page
    /// table mutably).
    #[inline]
    pub(crate) fn folio_in(mem: &Memory, head: Pfn) -> FolioRef {
        FolioRef {
            head,
            order: mem.folio_order(head),
            anon: mem.page(head).flags.has(PageFlags::ANON),
        }
    }
    #[inline]
    pub fn folio_of_page(&self, pfn: Pfn) -> FolioRef {
        Model::folio_of_page_in(&self.mem, pfn)
    }
    /// The folio `pfn` belongs to, read from `mem` alone: `folio_in(mem, mem.folio_of(pfn))`
    /// in one read of a small folio's `struct page`.
    #[inline]
    pub(crate) fn folio_of_page_in(mem: &Memory, pfn: Pfn) -> FolioRef {
        let (head, order, flags) = mem.folio_meta(pfn);
        FolioRef {
            head,
            order,
            anon: flags.has(PageFlags::ANON),
        }
    }

    /// Allocates a folio and prepares the scheme's words for it.
    pub(crate) fn alloc_folio(&mut self, order: Order) -> Result<FolioRef, ModelError> {
        let head = self.mem.alloc_folio(order)?;
        let f = FolioRef {
            head,
            order,
            anon: false,
        };
        self.rmap_prep_folio(f);
        self.live.insert(head);
        Ok(f)
    }

    /// Drops `nr` references; frees the folio when none remain (`folio_put_refs`).
    #[inline]
    pub(crate) fn put_folio(&mut self, head: Pfn, nr: i32) {
        if self.mem.ref_add_return(head, -nr) == 0 {
            self.free_folio(head);
        }
    }

    fn free_folio(&mut self, head: Pfn) {
        let f = self.folio(head);
        self.free_folios(&[f]);
    }

    /// Frees folios whose last reference went, in order (`free_unref_folios`): off the
    /// deferred split queue, the design's words checked (one call), back to the buddy
    /// allocator. Each step touches only its own folio (the queue's links are unlinked in
    /// the same order), so doing them step by step frees exactly as folio by folio.
    pub(crate) fn free_folios(&mut self, folios: &[FolioRef]) {
        for &f in folios.iter().filter(|f| f.is_large()) {
            self.unqueue_deferred(f);
            if f.anon {
                self.stats.count_mthp(f.order, MthpStat::NrAnon, -1);
            }
        }
        self.rmap_free_folios(folios);
        let mut i = 0;
        while i < folios.len() {
            // A run of small folios leaves the live set a word at a time.
            let run = foliolab_schemes::small_run(&folios[i..], |f| *f);
            if run > 1 {
                self.live.remove_range(folios[i].head, run as u64);
                i += run;
            } else {
                self.live.remove(&folios[i].head);
                i += 1;
            }
        }
        self.mem.free_folios(folios, |f| (f.head, f.order));
    }

    /// Every counter this era has (spec 3.6 names, zeros included) and the model-only
    /// `deferred_queue_len`.
    pub fn counters_by_name(&self) -> std::collections::BTreeMap<String, i64> {
        let mut s = self.stats.by_name();
        // Era: which THP statistics exist.
        s.retain(|name, _| self.era.thp_stats.exists(name));
        s.insert(
            "deferred_queue_len".into(),
            self.deferred_queue_len() as i64,
        );
        s
    }

    // ---- the deferred split queue (page[2] links) ----

    pub fn deferred_queue_len(&self) -> u64 {
        self.dq_len
    }
    pub fn is_queued(&self, f: FolioRef) -> bool {
        f.order.0 >= 2 && self.mem.page(f.head.add(1)).flags.has(PageFlags::DEFERRED)
    }
    pub fn is_partially_mapped(&self, f: FolioRef) -> bool {
        f.order.0 >= 2
            && self
                .mem
                .page(f.head.add(1))
                .flags
                .has(PageFlags::PARTIALLY_MAPPED)
    }

    /// `deferred_split_folio`: queue a large anon folio, flagging it if partially mapped.
    pub(crate) fn deferred_split_folio(&mut self, f: FolioRef, partially_mapped: bool) {
        // Era: which folios the queue takes, and whether underused candidates exist.
        let underused = self.era.deferred_split.underused && self.thp.shrink_underused;
        if !self.era.queues_for_deferred_split(f.order) || (!partially_mapped && !underused) {
            return;
        }
        if self.mem.page(f.head).flags.has(PageFlags::SWAPCACHE) {
            return;
        }
        if partially_mapped && !self.is_partially_mapped(f) {
            self.mem
                .page_mut(f.head.add(1))
                .flags
                .set(PageFlags::PARTIALLY_MAPPED, true);
            if f.pmd_mappable() {
                self.stats
                    .count_vm(crate::stats::VmStat::ThpDeferredSplitPage, 1);
            }
            self.stats.count_mthp(f.order, MthpStat::SplitDeferred, 1);
            self.stats
                .count_mthp(f.order, MthpStat::NrAnonPartiallyMapped, 1);
        }
        if !self.is_queued(f) {
            self.dq_push(f.head);
        }
    }

    /// Removes a folio from the queue, clearing its flag (`folio_unqueue_deferred_split`).
    pub(crate) fn unqueue_deferred(&mut self, f: FolioRef) {
        if !self.is_queued(f) {
            return;
        }
        if self.is_partially_mapped(f) {
            self.mem
                .page_mut(f.head.add(1))
                .flags
                .set(PageFlags::PARTIALLY_MAPPED, false);
            self.stats
                .count_mthp(f.order, MthpStat::NrAnonPartiallyMapped, -1);
        }
        self.dq_unlink(f.head);
    }

    /// Queued folios, head first.
    pub fn deferred_queue(&self) -> Vec<Pfn> {
        let mut out = Vec::new();
        let mut cur = self.dq_head;
        while cur != NIL {
            let head = Pfn(cur as u64);
            out.push(head);
            cur = self.dq_links(head).1;
        }
        out
    }

    /// A queued folio's `_deferred_list` links (head PFNs or [`NIL`]): prev in page[2]'s
    /// word, next in page[3]'s (queued folios have order >= 2).
    fn dq_links(&self, head: Pfn) -> (u32, u32) {
        (
            self.mem.page(head.add(2)).link(),
            self.mem.page(head.add(3)).link(),
        )
    }
    fn dq_set_prev(&mut self, head: Pfn, prev: u32) {
        self.mem.page_mut(head.add(2)).set_link(prev);
    }
    fn dq_set_next(&mut self, head: Pfn, next: u32) {
        self.mem.page_mut(head.add(3)).set_link(next);
    }

    fn dq_push(&mut self, head: Pfn) {
        let old_tail = self.dq_tail;
        self.dq_set_prev(head, old_tail);
        self.dq_set_next(head, NIL);
        self.mem
            .page_mut(head.add(1))
            .flags
            .set(PageFlags::DEFERRED, true);
        if old_tail == NIL {
            self.dq_head = head.0 as u32;
        } else {
            self.dq_set_next(Pfn(old_tail as u64), head.0 as u32);
        }
        self.dq_tail = head.0 as u32;
        self.dq_len += 1;
    }

    fn dq_unlink(&mut self, head: Pfn) {
        let (prev, next) = self.dq_links(head);
        if prev == NIL {
            self.dq_head = next;
        } else {
            self.dq_set_next(Pfn(prev as u64), next);
        }
        if next == NIL {
            self.dq_tail = prev;
        } else {
            self.dq_set_prev(Pfn(next as u64), prev);
        }
        // Off the queue, the words are clean again.
        self.dq_set_prev(head, 0);
        self.dq_set_next(head, 0);
        self.mem
            .page_mut(head.add(1))
            .flags
            .set(PageFlags::DEFERRED, false);
        self.dq_len -= 1;
    }
}
