//! Model observations in the report crate's terms.

use crate::runner::ModelRunner;
use foliolab_driver::{ModelFolioObs, ModelPageObs, PageObs, RunError, SmapsObs, ZeroKind};
use foliolab_model::observe::{Backing, PageView, SmapsView};
use foliolab_scenario::{PageState, Range, SmapsField};
use foliolab_schemes::FolioCounters;
use foliolab_types::{MmId, PAGE_SIZE};
use std::collections::BTreeMap;

pub fn pages(r: &ModelRunner, proc: &str, range: &Range) -> Result<Vec<(u64, PageObs)>, RunError> {
    let pid = r.pid(proc)?;
    let (start, end) = r.span(proc, range)?;
    let region_start = r.region(proc, &range.region)?.start;
    let mut out = Vec::with_capacity(((end.0 - start.0) / PAGE_SIZE) as usize);
    let mut va = start;
    while va < end {
        let v = r.model().page_view(pid, va);
        out.push((va.0 - region_start.0, page_obs(r, &v)));
        va = va.add(PAGE_SIZE);
    }
    Ok(out)
}

fn page_obs(r: &ModelRunner, v: &PageView) -> PageObs {
    let state = match v.backing {
        Backing::None => PageState::None,
        Backing::Swapped => PageState::Swapped,
        Backing::Zero | Backing::HugeZero => PageState::Zeropage,
        Backing::Present => PageState::Present,
    };
    let mut o = PageObs {
        state,
        ..PageObs::none()
    };
    let (Some(pfn), Some(f)) = (v.pfn, v.folio) else {
        return o;
    };
    o.frame = Some(pfn.0);
    o.folio = Some(f.head.0);
    o.order = Some(f.order.0);
    o.index = Some(v.index);
    o.mapcount = Some(v.kpagecount);
    o.exclusive = Some(v.exclusive);
    o.pmd = Some(v.pmd);
    o.flags = v.flags.iter().map(|s| s.to_string()).collect();
    o.zero = match v.backing {
        Backing::Zero => Some(ZeroKind::Small),
        Backing::HugeZero => Some(ZeroKind::Huge),
        _ => None,
    };
    if v.backing == Backing::Present {
        o.model = Some(model_obs(r, v));
    }
    o
}

fn model_obs(r: &ModelRunner, v: &PageView) -> ModelPageObs {
    let c: &FolioCounters = &v.counters;
    let slot =
        |s: &Option<Option<(MmId, i64)>>| s.as_ref().map(|o| o.map(|(id, n)| (mm_name(r, id), n)));
    ModelPageObs {
        page_mapcount: Some(v.kpagecount as i64),
        anon_exclusive: Some(v.anon_exclusive),
        writable: Some(v.writable),
        folio: ModelFolioObs {
            refcount: Some(v.refcount),
            mapcount: c.mapcount,
            large_mapcount: c.large_mapcount,
            entire_mapcount: c.entire_mapcount,
            nr_pages_mapped: c.nr_pages_mapped,
            pincount: Some(v.pincount),
            slot0: slot(&c.slot0),
            slot1: slot(&c.slot1),
            maybe_shared: c.maybe_shared,
            partially_mapped: Some(v.partially_mapped),
            deferred: Some(v.deferred),
        },
    }
}

/// The process name of an MM id (or `mmN` for an mm that has exited).
fn mm_name(r: &ModelRunner, id: MmId) -> String {
    match r.model().pid_of_mm(id) {
        Some(pid) => r.proc_name(pid),
        None => format!("mm{}", id.0),
    }
}

pub fn smaps(r: &ModelRunner, proc: &str, region: &str) -> Result<Vec<SmapsObs>, RunError> {
    let pid = r.pid(proc)?;
    let reg = r.region(proc, region)?;
    let views = r
        .model()
        .smaps(pid, reg.start, reg.start.add(reg.size_bytes));
    Ok(views.iter().map(|v| smaps_obs(v, reg.start.0)).collect())
}

fn smaps_obs(v: &SmapsView, base: u64) -> SmapsObs {
    let kb = |b: u64| b >> 10;
    let fields: BTreeMap<SmapsField, u64> = [
        (SmapsField::Rss, kb(v.rss)),
        (SmapsField::Pss, v.pss_kb()),
        (SmapsField::PssDirty, v.pss_dirty_kb()),
        (SmapsField::SharedClean, kb(v.shared_clean)),
        (SmapsField::SharedDirty, kb(v.shared_dirty)),
        (SmapsField::PrivateClean, kb(v.private_clean)),
        (SmapsField::PrivateDirty, kb(v.private_dirty)),
        (SmapsField::Referenced, kb(v.referenced)),
        (SmapsField::Anonymous, kb(v.anonymous)),
        (SmapsField::Lazyfree, kb(v.lazyfree)),
        (SmapsField::AnonHuge, kb(v.anon_huge)),
        (SmapsField::ShmemPmdMapped, kb(v.shmem_pmd_mapped)),
        (SmapsField::FilePmdMapped, kb(v.file_pmd_mapped)),
        (SmapsField::Swap, kb(v.swap)),
        (SmapsField::SwapPss, v.swap_pss_kb()),
    ]
    .into_iter()
    .collect();
    SmapsObs {
        vma_start_bytes: v.start.0 - base,
        vma_end_bytes: v.end.0 - base,
        fields_kb: fields,
    }
}
