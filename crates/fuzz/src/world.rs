//! The generator's shadow of the scenario so far: which processes live, their regions, and
//! per base page whether it is mapped and with which protection. It is exactly what the
//! validator and the model need to accept the next statement (no access to a hole, no write
//! to a read-only page, no mprotect/madvise over a hole), and nothing about folios: the
//! model decides those, the checks after every statement judge them.

use foliolab_scenario::Prot;
use foliolab_types::PAGE_SIZE;
use std::collections::BTreeMap;

/// One region as a process sees it; `pages[i]` is `None` for a hole.
#[derive(Clone, Debug)]
pub struct RegionShadow {
    pub pages: Vec<Option<Prot>>,
}

impl RegionShadow {
    pub fn size_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_SIZE
    }
    pub fn any(&self, ok: impl Fn(Option<Prot>) -> bool) -> bool {
        self.pages.iter().any(|p| ok(*p))
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProcShadow {
    pub regions: BTreeMap<String, RegionShadow>,
    /// Regions of shared memory (`map ... shmem`): MADV_FREE and MADV_WIPEONFORK fail there.
    pub shared: std::collections::BTreeSet<String>,
    /// Forks between this process and a `spawn`.
    pub depth: u32,
}

/// The live processes and the fresh-name counters (names are never reused, spec 1).
#[derive(Clone, Debug, Default)]
pub struct World {
    pub procs: BTreeMap<String, ProcShadow>,
    next_proc: u32,
    next_region: u32,
    pub spawned: bool,
    /// Deepest fork seen (for the report).
    pub max_depth: u32,
}

impl World {
    pub fn fresh_proc(&mut self) -> String {
        self.next_proc += 1;
        format!("p{}", self.next_proc)
    }

    pub fn fresh_region(&mut self) -> String {
        self.next_region += 1;
        format!("r{}", self.next_region)
    }

    pub fn spawn(&mut self, name: &str) {
        assert!(!self.procs.contains_key(name), "process {name} reused");
        self.procs.insert(name.to_string(), ProcShadow::default());
        self.spawned = true;
    }

    pub fn fork(&mut self, parent: &str, child: &str) {
        assert!(!self.procs.contains_key(child), "process {child} reused");
        let mut c = self.procs[parent].clone();
        c.depth += 1;
        self.max_depth = self.max_depth.max(c.depth);
        self.procs.insert(child.to_string(), c);
    }

    pub fn exit(&mut self, proc: &str) {
        let gone = self.procs.remove(proc);
        assert!(gone.is_some(), "exit of a dead process {proc}");
    }

    pub fn map(&mut self, proc: &str, region: &str, size_bytes: u64, prot: Prot) {
        assert!(size_bytes > 0 && size_bytes.is_multiple_of(PAGE_SIZE));
        let pages = vec![Some(prot); (size_bytes / PAGE_SIZE) as usize];
        let p = self.procs.get_mut(proc).expect("live process");
        let old = p.regions.insert(region.to_string(), RegionShadow { pages });
        assert!(old.is_none(), "region {region} reused");
    }

    /// Sets pages `[first, first+n)` of a region to `to` (a hole when `None`).
    pub fn set(&mut self, proc: &str, region: &str, first: usize, n: usize, to: Option<Prot>) {
        let r = self.region_mut(proc, region);
        assert!(first + n <= r.pages.len(), "range outside region {region}");
        for p in &mut r.pages[first..first + n] {
            *p = to;
        }
    }

    /// mprotect keeps holes holes.
    pub fn protect(&mut self, proc: &str, region: &str, first: usize, n: usize, to: Prot) {
        let r = self.region_mut(proc, region);
        for p in &mut r.pages[first..first + n] {
            assert!(p.is_some(), "mprotect over a hole");
            *p = Some(to);
        }
    }

    fn region_mut(&mut self, proc: &str, region: &str) -> &mut RegionShadow {
        self.procs
            .get_mut(proc)
            .and_then(|p| p.regions.get_mut(region))
            .expect("known region")
    }

    pub fn live(&self) -> Vec<String> {
        self.procs.keys().cloned().collect()
    }
}

/// What a range must satisfy, page by page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anything, holes included (munmap, observe).
    Any,
    /// Mapped, any protection (mprotect, madvise).
    Mapped,
    /// Mapped and readable.
    Readable,
    /// Mapped and writable.
    Writable,
}

impl Need {
    pub fn ok(self, page: Option<Prot>) -> bool {
        match self {
            Need::Any => true,
            Need::Mapped => page.is_some(),
            Need::Readable => page.is_some_and(|p| p.readable()),
            Need::Writable => page.is_some_and(|p| p.writable()),
        }
    }
}
