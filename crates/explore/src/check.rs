//! What the explorer checks, and when.
//!
//! - After every step ([`always`]): the tail-refcount rule (every tail page's `_refcount` is
//!   0, kernel note 1.3), and, as an observation, a folio whose mapcount exceeds its refcount
//!   (the ordering rule of 4.12 broken for a while).
//! - When no thread is inside an operation that changes mapcounts ([`rmap_quiescent`]): the
//!   oracle recounts every folio's mappings from the page tables and the design's own
//!   `check` compares its counters with that truth; a total mapcount kept in page[1]'s
//!   `_refcount` must equal what the design counted; the step-by-step MM_ID words must
//!   equal the design's.
//! - When every thread is between operations ([`quiescent`]): each folio's refcount equals
//!   its page-table entries plus the GUP references held, and a flagged folio is queued.
//! - At decision steps, by the operations themselves: a reuse while another MM can still
//!   reach the page, GUP-fast handing out a page its PTE no longer maps, a lockless answer
//!   no instant of its window justifies.

use crate::world::World;
use foliolab_mem::PageFlags;
use foliolab_oracle::recount;
use foliolab_types::{FolioTruth, Pfn};

/// Checks that hold in every state.
pub fn always(w: &mut World) {
    let heads: Vec<Pfn> = w.live.iter().copied().collect();
    for head in heads {
        let f = w.folio(head);
        for i in 1..f.nr_pages() {
            if i == 1 && w.design.page1_total() {
                continue;
            }
            let rc = w.mem.page(head.add(i)).refcount;
            if rc != 0 {
                w.violation(format!(
                    "tail page {:#x} (page[{i}] of {:#x}) has _refcount {rc}: tail refcounts \
                     must stay 0",
                    head.add(i).0,
                    head.0
                ));
            }
        }
        let (mapcount, rc) = (w.design.mapcount(f, &w.mem), w.refcount(head) as i64);
        if mapcount > rc && !w.frozen.contains_key(&head) {
            w.observe("folio_mapcount > folio_ref_count");
        }
    }
}

/// Checks that hold when no operation that changes mapcounts is half done.
pub fn rmap_quiescent(w: &mut World) {
    let truth = recount(w.mms.iter(), &w.mem);
    let heads: Vec<Pfn> = w.live.iter().copied().collect();
    for head in heads {
        let f = w.folio(head);
        let t = truth
            .get(&head)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_else(|| FolioTruth::new(f.nr_pages()));
        let mut bad = w.design.check(f, &t);
        if w.design.page1_total() && f.is_large() {
            let stored = w.design.mapcount(f, &w.mem);
            let counted = w.design.inner_mapcount(f);
            if stored != counted {
                bad.push(format!(
                    "page[1] _refcount holds the total mapcount {stored}, the design counted \
                     {counted} mappings: a speculative reference changed it"
                ));
            }
        }
        if let Some(words) = w.mmid.get(&head).copied() {
            bad.extend(mmid_wrong(w, f, words, &t));
        }
        for b in bad {
            w.violation(format!("folio {:#x}: {b}", head.0));
        }
        observe_partial(w, f, &t);
    }
}

/// The deferred split queue against the page tables when no rmap change is in flight: a
/// partially mapped folio not flagged (missed so far) or a flagged one that is not
/// (spurious, or stale: the flag is sticky until the folio leaves the queue).
fn observe_partial(w: &mut World, f: foliolab_schemes::FolioRef, t: &FolioTruth) {
    if !f.anon || f.order.0 < 2 {
        return;
    }
    let partial = t.pages_mapped() > 0 && t.pages_mapped() < f.nr_pages();
    let flagged = w
        .mem
        .page(f.head.add(1))
        .flags
        .has(PageFlags::PARTIALLY_MAPPED);
    if partial && !flagged {
        w.observe("deferred split: partially mapped but not flagged");
    } else if flagged && !partial {
        w.observe("deferred split: flagged but not partially mapped");
    }
}

/// The step-by-step MM_ID words against the page tables (the large mapcount, and (M6): a
/// clear shared bit means one MM maps the folio) and against the design's own words.
fn mmid_wrong(
    w: &World,
    f: foliolab_schemes::FolioRef,
    words: crate::mmid::MmIdWords,
    t: &FolioTruth,
) -> Vec<String> {
    let v = words.view();
    let mut out = Vec::new();
    if v.l != t.total_entries() as i64 {
        out.push(format!(
            "step-by-step _large_mapcount {}, page tables map the folio {} times",
            v.l,
            t.total_entries()
        ));
    }
    if !v.shared && v.l >= 1 && t.nr_mms() > 1 {
        out.push(format!(
            "shared bit clear while {} MMs map the folio",
            t.nr_mms()
        ));
    }
    let c = w.design.counters(f);
    let same = c.large_mapcount.is_none_or(|l| l == v.l)
        && c.slot0.is_none_or(|s| s == v.slots[0])
        && c.slot1.is_none_or(|s| s == v.slots[1])
        && (v.l <= 1 || c.maybe_shared.is_none_or(|s| s == v.shared));
    if !same {
        out.push(format!(
            "step-by-step MM_ID words {v:?} differ from the design's {c:?}"
        ));
    }
    out
}

/// Checks that hold when every thread is between operations.
pub fn quiescent(w: &mut World) {
    let truth = recount(w.mms.iter(), &w.mem);
    let heads: Vec<Pfn> = w.live.iter().copied().collect();
    for head in heads {
        let f = w.folio(head);
        let entries = truth.get(&head).map_or(0, |t| t.total_entries()) as i64;
        let end = head.0 + f.nr_pages();
        let held = w
            .holds
            .iter()
            .filter(|h| (head.0..end).contains(&h.page.0))
            .count() as i64;
        let rc = w.refcount(head) as i64;
        if rc != entries + held {
            w.violation(format!(
                "folio {:#x}: _refcount {rc}, but {entries} page-table entries and {held} GUP \
                 references",
                head.0
            ));
        }
        let p1 = f.is_large().then(|| w.mem.page(head.add(1)).flags);
        if p1.is_some_and(|fl| fl.has(PageFlags::PARTIALLY_MAPPED) && !fl.has(PageFlags::DEFERRED))
        {
            w.violation(format!(
                "folio {:#x}: flagged partially mapped but not queued",
                head.0
            ));
        }
    }
}
