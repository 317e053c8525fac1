//! GUP references held by processes (`mm/gup.c`): FOLL_PIN pins (`pin_user_pages`, io_uring
//! fixed buffers) and FOLL_GET references (vmsplice into a pipe), faulting pages in as GUP
//! does, including FAULT_FLAG_UNSHARE for read-only pins of shared anon pages. Fork consults
//! the pins here (`folio_needs_cow_for_dma`) to copy exclusive pages of maybe-pinned folios
//! for the child instead of sharing them (`copy_present_page`).
//!
//! A holder keeps references to pages, not to the mapping: what it reads later is the content
//! of the pages it took, whatever the page tables map by then.

use crate::model::{Model, ModelError, Pid};
use crate::rmap::At;
use foliolab_mem::{Content, Pte, VmFlags};
use foliolab_schemes::{Cause, FolioRef};
use foliolab_types::{Pfn, VirtAddr, PAGE_SIZE, PMD_SIZE};
use std::collections::{BTreeMap, BTreeSet};

/// `GUP_PIN_COUNTING_BIAS`: the references one pin adds to a small folio.
pub const GUP_PIN_COUNTING_BIAS: i32 = 1024;

/// A pin or pipe held by a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HoldId(pub u32);

/// The options of a `pin` statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinOpts {
    /// FOLL_WRITE.
    pub write: bool,
    /// FOLL_LONGTERM.
    pub longterm: bool,
    /// GUP-fast (`pin_user_pages_fast`): the lockless walk takes a speculative reference on
    /// the head page only and falls back to the slow path for anything that needs a fault or
    /// an unshare, so the end state is the slow path's.
    pub fast: bool,
}

/// How a holder references its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HoldKind {
    /// FOLL_PIN: `_pincount` and one reference per page (large), or the bias (small).
    Pin,
    /// FOLL_GET: one plain reference per page.
    Get,
}

#[derive(Clone, Debug)]
struct Hold {
    owner: Pid,
    kind: HoldKind,
    pages: Vec<Pfn>,
}

/// Every reference held outside the page tables, and `MMF_HAS_PINNED` per mm.
#[derive(Clone, Debug, Default)]
pub(crate) struct Holds {
    holds: BTreeMap<HoldId, Hold>,
    next: u32,
    has_pinned: BTreeSet<Pid>,
    /// Per page, how many holds reference it with FOLL_GET and with FOLL_PIN: the
    /// invariant check asks per folio, and must not walk every held page for each one.
    by_page: BTreeMap<Pfn, (i64, i64)>,
}

impl Holds {
    fn count(&mut self, page: Pfn, kind: HoldKind, delta: i64) {
        let e = self.by_page.entry(page).or_default();
        match kind {
            HoldKind::Get => e.0 += delta,
            HoldKind::Pin => e.1 += delta,
        }
        if *e == (0, 0) {
            self.by_page.remove(&page);
        }
    }
}

/// References a folio owes to holders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeldRefs {
    /// References in `_refcount`: one per held page of a large folio or per FOLL_GET, the
    /// 1024 bias per pin of a small folio.
    pub refs: i64,
    /// Pinned pages of a large folio (its `_pincount`); 0 for small folios.
    pub pins: i64,
}

/// What `follow_page` found at an address.
enum Follow {
    Page(Pfn),
    /// A fault is needed (not present, or a write to a read-only entry).
    Fault,
    /// FAULT_FLAG_UNSHARE is needed (read-only pin of a page that is not exclusive).
    Unshare,
}

impl Model {
    /// `pin_user_pages` of [start, end) for `pid`.
    pub fn pin(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        opts: PinOpts,
    ) -> Result<HoldId, ModelError> {
        self.gup.has_pinned.insert(pid);
        self.gup_range(pid, start, end, HoldKind::Pin, opts)
    }

    /// vmsplice of [start, end) into a pipe of `pid`: FOLL_GET, read-only.
    pub fn splice(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
    ) -> Result<HoldId, ModelError> {
        self.gup_range(pid, start, end, HoldKind::Get, PinOpts::default())
    }

    /// Drops a pin (`unpin_user_pages`) or a pipe's page references.
    pub fn release(&mut self, id: HoldId) {
        if let Some(h) = self.gup.holds.remove(&id) {
            for page in h.pages {
                self.gup.count(page, h.kind, -1);
                self.ungrab(page, h.kind);
            }
        }
    }

    /// Process exit: its pins and pipes are released (before the address space goes, as the
    /// probe's helper closes them before exiting); `MMF_HAS_PINNED` dies with the mm.
    pub(crate) fn gup_exit(&mut self, pid: Pid) {
        let ids: Vec<HoldId> = self
            .gup
            .holds
            .iter()
            .filter(|(_, h)| h.owner == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.release(id);
        }
        self.gup.has_pinned.remove(&pid);
    }

    /// What a device (or the pipe's reader) sees in each held page, in order.
    pub fn held_contents(&self, id: HoldId) -> Vec<Content> {
        self.gup
            .holds
            .get(&id)
            .map(|h| h.pages.iter().map(|&p| self.mem.content(p)).collect())
            .unwrap_or_default()
    }

    /// The physical pages a holder references.
    pub fn held_pages(&self, id: HoldId) -> Vec<Pfn> {
        self.gup
            .holds
            .get(&id)
            .map(|h| h.pages.clone())
            .unwrap_or_default()
    }

    /// `MMF_HAS_PINNED`: the mm ever took a FOLL_PIN (sticky, not inherited by fork).
    pub fn has_pinned(&self, pid: Pid) -> bool {
        self.gup.has_pinned.contains(&pid)
    }

    /// Whether no holder owns a reference or pin on any page ([`Model::held_refs`] is zero
    /// for every folio).
    pub(crate) fn no_held_refs(&self) -> bool {
        self.gup.by_page.is_empty()
    }

    /// The references and pins holders own on `f`.
    pub(crate) fn held_refs(&self, f: FolioRef) -> HeldRefs {
        if self.gup.by_page.is_empty() {
            return HeldRefs::default();
        }
        let end = Pfn(f.head.0 + f.nr_pages());
        let (gets, pins) = self
            .gup
            .by_page
            .range(f.head..end)
            .fold((0, 0), |(g, p), (_, (dg, dp))| (g + dg, p + dp));
        if f.is_large() {
            HeldRefs {
                refs: gets + pins,
                pins,
            }
        } else {
            HeldRefs {
                refs: gets + pins * GUP_PIN_COUNTING_BIAS as i64,
                pins: 0,
            }
        }
    }

    /// `folio_maybe_dma_pinned`; `extra` references the caller took already count. Also
    /// what `folio_try_share_anon_rmap_*` (swap-out, migration) must refuse on.
    pub(crate) fn folio_maybe_dma_pinned(&self, f: FolioRef, extra: i32) -> bool {
        if f.is_large() {
            return self.mem.page(f.head.add(1)).pincount() > 0;
        }
        self.mem.refcount(f.head) + extra >= GUP_PIN_COUNTING_BIAS
    }

    /// Whether `folio_try_dup_anon_rmap_ptes` of `nr` pages from `first` returns -EBUSY at
    /// fork: the folio may be pinned, the parent mm has pinned, and a page is exclusive.
    pub(crate) fn dup_anon_busy(&self, parent: Pid, f: FolioRef, first: Pfn, nr: u64) -> bool {
        f.anon
            && self.has_pinned(parent)
            && self.folio_maybe_dma_pinned(f, nr as i32)
            && (0..nr).any(|i| self.page_anon_exclusive(first.add(i)))
    }

    /// The same for a PMD (`folio_try_dup_anon_rmap_pmd`): the head carries AnonExclusive.
    pub(crate) fn dup_pmd_busy(&self, parent: Pid, f: FolioRef) -> bool {
        self.dup_anon_busy(parent, f, f.head, 1)
    }

    /// `copy_present_page`: the child gets its own copy of an exclusive page of a maybe
    /// pinned folio (new order-0 folio, exclusive, dirty, writable if VM_WRITE); the parent's
    /// mapping is left as it is. Returns the child's PTE.
    pub(crate) fn copy_present_page(
        &mut self,
        child: Pid,
        va: VirtAddr,
        page: Pfn,
    ) -> Result<Pte, ModelError> {
        let vma = self.vma_at(child, va)?;
        let anon_vma = self.anon_vma_prepare(child, va);
        let new = self.alloc_folio(foliolab_types::Order(0))?;
        self.mem.set_content(new.head, self.mem.content(page));
        let new = self.rmap_add_new_anon(new, At(child, va), anon_vma, Cause::Fork);
        self.add_rss(child, crate::model::RssCounter::Anon, 1);
        Ok(Pte::present(new.head, vma.flags.has(VmFlags::WRITE), true))
    }

    fn gup_range(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        end: VirtAddr,
        kind: HoldKind,
        opts: PinOpts,
    ) -> Result<HoldId, ModelError> {
        let id = HoldId(self.gup.next);
        self.gup.next += 1;
        self.gup.holds.insert(
            id,
            Hold {
                owner: pid,
                kind,
                pages: Vec::new(),
            },
        );
        let mut va = start;
        while va < end {
            match self.gup_one(pid, va, kind, opts) {
                Ok(page) => {
                    self.grab(page, kind);
                    if let Some(h) = self.gup.holds.get_mut(&id) {
                        h.pages.push(page);
                        self.gup.count(page, kind, 1);
                    }
                }
                Err(e) => {
                    // The caller (io_uring, vmsplice) gives back what it got and fails.
                    self.release(id);
                    return Err(e);
                }
            }
            va = va.add(PAGE_SIZE);
        }
        Ok(id)
    }

    /// One page of `__get_user_pages`: check the VMA, then follow and fault until the page
    /// can be taken.
    fn gup_one(
        &mut self,
        pid: Pid,
        va: VirtAddr,
        kind: HoldKind,
        opts: PinOpts,
    ) -> Result<Pfn, ModelError> {
        let vma = self.proc(pid).aspace.vmas.find(va).cloned();
        let Some(vma) = vma else {
            return Err(ModelError::Efault {
                va,
                reason: "no mapping",
            });
        };
        if vma.flags.has(VmFlags::PFNMAP) {
            return Err(ModelError::Efault {
                va,
                reason: "VM_PFNMAP has no pages to take",
            });
        }
        let allowed = if opts.write {
            vma.flags.has(VmFlags::WRITE)
        } else {
            vma.flags.has(VmFlags::READ)
        };
        if !allowed {
            return Err(ModelError::Efault {
                va,
                reason: "the protection forbids the access",
            });
        }
        // A fault or unshare leaves an entry GUP can follow; a few rounds always suffice
        // (the kernel retries until it can).
        for _ in 0..4 {
            match self.follow_page(pid, va, kind, opts) {
                Follow::Page(p) => return Ok(p),
                Follow::Fault => self.handle_mm_fault(pid, va, opts.write)?,
                Follow::Unshare => self.unshare_fault(pid, va)?,
            }
        }
        Err(ModelError::Unsupported(format!(
            "GUP at {:#x} does not converge",
            va.0
        )))
    }

    /// `follow_page_mask` with `gup_must_unshare`.
    fn follow_page(&self, pid: Pid, va: VirtAddr, kind: HoldKind, opts: PinOpts) -> Follow {
        let pt = &self.proc(pid).aspace.pt;
        let (entry, page, check) = if let Some(leaf) = pt.pmd_leaf(va) {
            let page = leaf.pfn().add((va.0 % PMD_SIZE) / PAGE_SIZE);
            // PageAnonExclusive of a PMD-mapped THP lives on the head page.
            (leaf, page, leaf.pfn())
        } else {
            let pte = pt.pte(va);
            if !pte.is_present() {
                return Follow::Fault;
            }
            (pte, pte.pfn(), pte.pfn())
        };
        if opts.write && !entry.writable() {
            return Follow::Fault;
        }
        if kind == HoldKind::Pin && !opts.write && self.gup_must_unshare(pid, va, check, opts) {
            return Follow::Unshare;
        }
        Follow::Page(page)
    }

    /// `gup_must_unshare` for a read-only FOLL_PIN of `page`: an anon page must be
    /// exclusive; a page that is not anon (the zero pages, page-cache pages) in a COW mapping
    /// is unshared for longterm pins only, so the pin sees the process's later writes.
    fn gup_must_unshare(&self, pid: Pid, va: VirtAddr, page: Pfn, opts: PinOpts) -> bool {
        let f = self.folio_of_page(page);
        if self.mem.is_zero_pfn(page) || !f.anon {
            let cow = self
                .proc(pid)
                .aspace
                .vmas
                .find(va)
                .is_some_and(|v| !v.flags.has(foliolab_mem::VmFlags::SHARED));
            return opts.longterm && cow;
        }
        !self.page_anon_exclusive(page)
    }

    /// `handle_mm_fault` with FAULT_FLAG_UNSHARE: make the page exclusive (reuse it if no one
    /// else can see it, copy it otherwise), leaving the mapping read-only.
    fn unshare_fault(&mut self, pid: Pid, va: VirtAddr) -> Result<(), ModelError> {
        let Some(leaf) = self.proc(pid).aspace.pt.pmd_leaf(va) else {
            return self.unshare_pte(pid, va);
        };
        if leaf.is_special() {
            // do_huge_zero_wp_pmd makes no difference between write and unshare.
            return self.wp_huge_pmd(pid, va, leaf);
        }
        let f = self.folio_of_page(leaf.pfn());
        if self.wp_can_reuse_pmd(f) {
            return Ok(());
        }
        self.split_huge_pmd(pid, va.align_down(PMD_SIZE));
        self.unshare_pte(pid, va)
    }

    /// `do_wp_page` with FAULT_FLAG_UNSHARE at PTE level.
    fn unshare_pte(&mut self, pid: Pid, va: VirtAddr) -> Result<(), ModelError> {
        let pte = self.proc(pid).aspace.pt.pte(va);
        if pte.is_special() {
            return self.wp_page_copy(pid, va, None, true);
        }
        let page = pte.pfn();
        if self.wp_can_reuse_anon(pid, va, page) {
            return Ok(());
        }
        self.wp_page_copy(pid, va, Some(page), true)
    }

    /// `try_grab_folio` for one page. The zero pages are not counted (FOLL_PIN skips them;
    /// the model does not track the zero pages' references).
    fn grab(&mut self, page: Pfn, kind: HoldKind) {
        if self.mem.is_zero_pfn(page) {
            return;
        }
        let f = self.folio_of_page(page);
        match kind {
            HoldKind::Get => self.mem.ref_add(f.head, 1),
            HoldKind::Pin if f.is_large() => {
                self.mem.ref_add(f.head, 1);
                let p1 = self.mem.page_mut(f.head.add(1));
                p1.set_pincount(p1.pincount() + 1);
            }
            HoldKind::Pin => self.mem.ref_add(f.head, GUP_PIN_COUNTING_BIAS),
        }
    }

    /// `unpin_user_page` / `put_page` for one page; frees the folio on its last reference.
    fn ungrab(&mut self, page: Pfn, kind: HoldKind) {
        if self.mem.is_zero_pfn(page) {
            return;
        }
        let f = self.folio_of_page(page);
        match kind {
            HoldKind::Get => self.put_folio(f.head, 1),
            HoldKind::Pin if f.is_large() => {
                let p1 = self.mem.page_mut(f.head.add(1));
                p1.set_pincount(p1.pincount() - 1);
                self.put_folio(f.head, 1);
            }
            HoldKind::Pin => self.put_folio(f.head, GUP_PIN_COUNTING_BIAS),
        }
    }
}
