//! `linux-6.18-npm`: 6.15+ with CONFIG_NO_PAGE_MAPCOUNT. `_large_mapcount`,
//! `_entire_mapcount` and the MM_ID slots; no per-page `_mapcount`, no `_nr_pages_mapped`
//! (kernel note 4.1, 4.2, 10). kpagecount and PSS use the average mapcount, bit 56 and USS
//! "maybe mapped shared", NR_ANON_MAPPED counts whole folios, and a partial mapping is seen
//! only once the average per-page mapcount drops below one (the blind spot, trace E).

use crate::avg::{average_mapcount, check_small, exclusive, slot_counters, small_change};
use crate::cost::{Costs, Layout};
use crate::event::{Ctx, FolioCounters, FolioRef, Level, Removed, StatDelta};
use crate::kit::{FolioState, Kit};
use crate::mmid::MmSlots;
use crate::scheme::{Queries, Reporting, RmapEvents};
use crate::words::{bytes, FolioNpm};
use foliolab_types::{FolioTruth, MmId, Pfn};

/// One folio's NO_PAGE_MAPCOUNT state, true values (the kernel words are
/// [`crate::words::FolioNpm`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NpmState {
    /// `L`, the slots and `S` (see [`MmSlots`]); a small folio's mapcount in `slots.l`.
    pub slots: MmSlots,
    /// `E`: PMD mappings, 0..=MMs (raw `_entire_mapcount` + 1).
    pub e: i64,
}

impl FolioState for NpmState {
    fn fresh(_f: FolioRef) -> NpmState {
        NpmState::default()
    }
    fn leftovers(&self) -> Option<String> {
        (self.slots.l != 0 || self.e != 0 || self.slots.t != [0, 0])
            .then(|| format!("left: {self:?}"))
    }
}

/// Linux 6.15+ with NO_PAGE_MAPCOUNT.
#[derive(Clone, Default)]
pub struct Linux618Npm {
    kit: Kit<NpmState>,
}

impl Linux618Npm {
    pub fn new() -> Linux618Npm {
        Linux618Npm::default()
    }

    fn add_large(&mut self, f: FolioRef, nr: u64, level: Level, mm: MmId) -> StatDelta {
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        let mut stat = StatDelta::default();
        let diff = match level {
            Level::Pmd => {
                s.e += 1;
                if s.e == 1 {
                    stat.nr_pmd = n;
                }
                1
            }
            Level::Pte => nr as i64,
        };
        if s.slots.add(diff, mm) == diff {
            stat.nr = n;
        }
        stat
    }

    fn remove_large(&mut self, f: FolioRef, nr: u64, level: Level, mm: MmId) -> Removed {
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        let mut r = Removed::default();
        let (diff, last) = match level {
            Level::Pmd => {
                s.e -= 1;
                if s.e == 0 {
                    r.stat.nr_pmd = -n;
                }
                (1, s.e == 0)
            }
            Level::Pte => (nr as i64, s.e == 0),
        };
        let l = s.slots.sub(diff, mm);
        if l == 0 {
            r.stat.nr = -n;
        } else {
            r.partially_mapped = last && l < n;
        }
        r
    }
}

impl RmapEvents for Linux618Npm {
    fn prep_folio(&mut self, f: FolioRef) {
        self.kit.prep(f)
    }
    fn free_folio(&mut self, f: FolioRef) -> Result<(), String> {
        self.kit.free(f)
    }
    fn add_new_anon(&mut self, f: FolioRef, ctx: Ctx) -> StatDelta {
        self.kit.costs.record(ctx.cause, 0, 1);
        let n = f.nr_pages() as i64;
        let s = self.kit.folios.get_mut(f);
        if !f.is_large() {
            s.slots.l = 1;
            return StatDelta { nr: 1, nr_pmd: 0 };
        }
        if f.pmd_mappable() {
            s.e = 1;
            s.slots.set(1, ctx.mm);
            return StatDelta { nr: n, nr_pmd: n };
        }
        s.slots.set(n, ctx.mm);
        StatDelta { nr: n, nr_pmd: 0 }
    }
    fn add(&mut self, f: FolioRef, _first: Pfn, nr: u64, level: Level, ctx: Ctx) -> StatDelta {
        // One atomic for the bit spinlock (and one for `E` at PMD level), all in page[1].
        self.kit
            .record(ctx.cause, 1 + (level == Level::Pmd) as u64, 1);
        if !f.is_large() {
            let nr = small_change(&mut self.kit.folios.get_mut(f).slots, 1);
            return StatDelta { nr, nr_pmd: 0 };
        }
        self.add_large(f, nr, level, ctx.mm)
    }
    fn remove(&mut self, f: FolioRef, _first: Pfn, nr: u64, level: Level, ctx: Ctx) -> Removed {
        self.kit
            .record(ctx.cause, 1 + (level == Level::Pmd) as u64, 1);
        if !f.is_large() {
            let nr = small_change(&mut self.kit.folios.get_mut(f).slots, -1);
            return Removed {
                stat: StatDelta { nr, nr_pmd: 0 },
                partially_mapped: false,
            };
        }
        self.remove_large(f, nr, level, ctx.mm)
    }
}

impl Queries for Linux618Npm {
    fn mapcount(&self, f: FolioRef) -> i64 {
        self.kit.folios.get(f).slots.l
    }
    fn page_mapcount(&self, f: FolioRef, _page: Pfn) -> i64 {
        let s = self.kit.folios.get(f);
        if !f.is_large() {
            return s.slots.l;
        }
        average_mapcount(s.slots.l, s.e, f.nr_pages() as i64)
    }
    fn page_mapped_exclusively(&self, f: FolioRef, _page: Pfn) -> bool {
        exclusive(&self.kit.folios.get(f).slots, f.is_large())
    }
    fn maybe_mapped_shared(&self, f: FolioRef) -> bool {
        self.kit
            .folios
            .get(f)
            .slots
            .maybe_mapped_shared(f.is_large())
    }
    fn can_reuse_large(&self, f: FolioRef, refcount: i64, _ctx: Ctx) -> bool {
        self.kit.folios.get(f).slots.can_reuse(refcount)
    }
    fn nr_mapped_pages(&self, f: FolioRef, truth: &FolioTruth) -> Option<u64> {
        Some(crate::avg::whole_folio_mapped_pages(f, truth))
    }
}

impl Reporting for Linux618Npm {
    fn name(&self) -> &'static str {
        "linux-6.18-npm"
    }
    fn counters(&self, f: FolioRef) -> FolioCounters {
        let s = self.kit.folios.get(f);
        slot_counters(&s.slots, s.e, f.is_large())
    }
    fn check(&self, f: FolioRef, truth: &FolioTruth) -> Vec<String> {
        let s = self.kit.folios.get(f);
        if !f.is_large() {
            return check_small(&s.slots, truth);
        }
        let mut out = Vec::new();
        s.slots.check(truth, &mut out);
        if s.e != truth.pmd_maps as i64 {
            out.push(format!(
                "_entire_mapcount {}, {} PMD mappings",
                s.e, truth.pmd_maps
            ));
        }
        out
    }
    fn costs(&self) -> Costs {
        self.kit.costs()
    }
    fn layout(&self) -> Layout {
        Layout {
            folio_bytes: bytes::<FolioNpm>(),
            ..Layout::default()
        }
    }
}
