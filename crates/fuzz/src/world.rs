//! The generator's shadow of the scenario so far: which processes live, their regions, and
//! per base page whether it is mapped and with which protection. It is exactly what the
//! validator and the model need to accept the next statement (no access to a hole, no write
//! to a read-only page, no mprotect/madvise over a hole, a `move` inside one VMA, a pin
//! only of pages the protection lets it take), plus what a program may rely on reading: the
//! value of each page where the contract fixes it, and for each pin and pipe the value of
//! every held page (`expect pin` / `expect pipe`). Nothing about folios: the model decides
//! those, the checks after every statement judge them.

use foliolab_scenario::Prot;
use foliolab_types::PAGE_SIZE;
use std::collections::BTreeMap;

/// What the generator knows of one mapped (or once mapped) base page besides its protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// A conservative VMA identity: every statement that may split a VMA at this page gives
    /// the pages it covers a new id, and nothing merges ids, so a run of pages with one id
    /// lies inside one of the model's VMAs (what `move` needs).
    pub vma: u64,
    /// MADV_DONTFORK (VM_DONTCOPY): a forked child gets a hole here.
    pub dontfork: bool,
    /// MADV_WIPEONFORK: a forked child gets fresh zero memory here.
    pub wipe: bool,
    /// What the page reads, where the contract fixes it (`None` after MADV_FREE, in shared
    /// mappings, ...).
    pub value: Option<u64>,
    /// An identity for the memory behind the page: fresh at `map`, wipe-on-fork and
    /// MADV_DONTNEED, shared by fork (parent and child may share the page), carried by
    /// `move`. A pipe's page may change when any page with its token is written.
    pub token: u64,
}

/// One region as a process sees it; `pages[i]` is `None` for a hole.
#[derive(Clone, Debug)]
pub struct RegionShadow {
    pub pages: Vec<Option<Prot>>,
    pub meta: Vec<Meta>,
    /// Private anonymous (pins, pipes, `move`, `migrate`, wipe-on-fork and values are only
    /// generated on these).
    pub anon: bool,
}

impl RegionShadow {
    pub fn size_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_SIZE
    }
    pub fn any(&self, ok: impl Fn(Option<Prot>) -> bool) -> bool {
        self.pages.iter().any(|p| ok(*p))
    }
}

/// What a held page (of a pin or a pipe) reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// The holder's own exclusive page (a pin): it reads what the holder last wrote to the
    /// page with this token while it still maps it.
    Linked {
        token: u64,
        value: u64,
    },
    /// Reads `value` until some process writes a page with this token (the write may or
    /// may not land in the held page: pipes, read-only short pins of what may be a zero
    /// page, pins of lazily freed pages).
    Fragile {
        token: u64,
        value: u64,
    },
    /// Reads `value` for good (the holder no longer maps the page).
    Frozen(u64),
    Unknown,
}

impl Held {
    pub fn value(self) -> Option<u64> {
        match self {
            Held::Linked { value, .. } | Held::Fragile { value, .. } | Held::Frozen(value) => {
                Some(value)
            }
            Held::Unknown => None,
        }
    }
}

/// A live pin or pipe.
#[derive(Clone, Debug)]
pub struct Hold {
    pub owner: String,
    pub pipe: bool,
    pub pages: Vec<Held>,
    /// Where the holder took it: `(region, first page, pages)`.
    pub at: (String, usize, usize),
}

impl Hold {
    /// The one value every held page reads, if the generator knows it.
    pub fn value(&self) -> Option<u64> {
        let first = self.pages.first()?.value()?;
        self.pages
            .iter()
            .all(|h| h.value() == Some(first))
            .then_some(first)
    }
}

#[derive(Clone, Debug, Default)]
pub struct ProcShadow {
    pub regions: BTreeMap<String, RegionShadow>,
    /// Forks between this process and a `spawn`.
    pub depth: u32,
}

/// The live processes, the live pins and pipes, and the fresh-name counters (names are never
/// reused, spec 1).
#[derive(Clone, Debug, Default)]
pub struct World {
    pub procs: BTreeMap<String, ProcShadow>,
    pub holds: BTreeMap<String, Hold>,
    next_proc: u32,
    next_region: u32,
    next_hold: u32,
    next_id: u64,
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

    /// Pins and pipes share one file-wide namespace.
    pub fn fresh_hold(&mut self) -> String {
        self.next_hold += 1;
        format!("n{}", self.next_hold)
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn spawn(&mut self, name: &str) {
        assert!(!self.procs.contains_key(name), "process {name} reused");
        self.procs.insert(name.to_string(), ProcShadow::default());
        self.spawned = true;
    }

    /// The child gets the parent's regions, with holes where the parent said `dontfork` and
    /// fresh zero memory where it said `wipeonfork`; no pins or pipes.
    pub fn fork(&mut self, parent: &str, child: &str) {
        assert!(!self.procs.contains_key(child), "process {child} reused");
        let mut c = self.procs[parent].clone();
        c.depth += 1;
        self.max_depth = self.max_depth.max(c.depth);
        for r in c.regions.values_mut() {
            for i in 0..r.pages.len() {
                if r.pages[i].is_none() {
                    continue;
                }
                if r.meta[i].dontfork {
                    r.pages[i] = None;
                } else if r.meta[i].wipe {
                    self.next_id += 1;
                    r.meta[i].token = self.next_id;
                    r.meta[i].value = Some(0);
                }
            }
        }
        self.procs.insert(child.to_string(), c);
    }

    /// Exit releases the process's pins and pipes.
    pub fn exit(&mut self, proc: &str) {
        let gone = self.procs.remove(proc);
        assert!(gone.is_some(), "exit of a dead process {proc}");
        self.holds.retain(|_, h| h.owner != proc);
    }

    pub fn map(&mut self, proc: &str, region: &str, size_bytes: u64, prot: Prot, anon: bool) {
        assert!(size_bytes > 0 && size_bytes.is_multiple_of(PAGE_SIZE));
        let n = (size_bytes / PAGE_SIZE) as usize;
        let vma = self.fresh_id();
        let meta = (0..n)
            .map(|_| Meta {
                vma,
                dontfork: false,
                wipe: false,
                value: anon.then_some(0),
                token: self.fresh_id(),
            })
            .collect();
        let pages = vec![Some(prot); n];
        let p = self.procs.get_mut(proc).expect("live process");
        let shadow = RegionShadow { pages, meta, anon };
        let old = p.regions.insert(region.to_string(), shadow);
        assert!(old.is_none(), "region {region} reused");
    }

    /// munmap: a hole; the process's pins of these pages read what they last read.
    pub fn unmap(&mut self, proc: &str, region: &str, first: usize, n: usize) {
        self.freeze(proc, region, first, n);
        let r = self.region_mut(proc, region);
        assert!(first + n <= r.pages.len(), "range outside region {region}");
        for p in &mut r.pages[first..first + n] {
            *p = None;
        }
    }

    /// MADV_DONTNEED: the pages read zero from now on, from new memory.
    pub fn dontneed(&mut self, proc: &str, region: &str, first: usize, n: usize) {
        self.freeze(proc, region, first, n);
        for i in first..first + n {
            let token = self.fresh_id();
            let r = self.region_mut(proc, region);
            let anon = r.anon;
            let m = &mut r.meta[i];
            m.token = token;
            m.value = anon.then_some(0);
        }
    }

    /// MADV_FREE: a page may read its data or zero until it is written again; a pin of it
    /// may no longer see the process's next write.
    pub fn free(&mut self, proc: &str, region: &str, first: usize, n: usize) {
        let tokens = self.tokens(proc, region, first, n);
        for h in self.holds.values_mut().filter(|h| h.owner == proc) {
            for p in &mut h.pages {
                if let Held::Linked { token, value } = *p {
                    if tokens.contains(&token) {
                        *p = Held::Fragile { token, value };
                    }
                }
            }
        }
        let r = self.region_mut(proc, region);
        for m in &mut r.meta[first..first + n] {
            m.value = None;
        }
    }

    /// The process's pins of pages it stops mapping keep what they read now.
    fn freeze(&mut self, proc: &str, region: &str, first: usize, n: usize) {
        let tokens = self.tokens(proc, region, first, n);
        for h in self.holds.values_mut().filter(|h| h.owner == proc) {
            for p in &mut h.pages {
                if let Held::Linked { token, value } = *p {
                    if tokens.contains(&token) {
                        *p = Held::Frozen(value);
                    }
                }
            }
        }
    }

    fn tokens(&self, proc: &str, region: &str, first: usize, n: usize) -> Vec<u64> {
        let r = &self.procs[proc].regions[region];
        (first..first + n)
            .filter(|&i| r.pages[i].is_some())
            .map(|i| r.meta[i].token)
            .collect()
    }

    /// A write of `value` to every page of the range.
    pub fn write(&mut self, proc: &str, region: &str, first: usize, n: usize, value: u64) {
        let tokens = self.tokens(proc, region, first, n);
        for h in self.holds.values_mut() {
            let own = h.owner == proc;
            for p in &mut h.pages {
                match *p {
                    Held::Linked { token, .. } if own && tokens.contains(&token) => {
                        *p = Held::Linked { token, value };
                    }
                    Held::Fragile { token, .. } if tokens.contains(&token) => *p = Held::Unknown,
                    _ => {}
                }
            }
        }
        let r = self.region_mut(proc, region);
        let anon = r.anon;
        for m in &mut r.meta[first..first + n] {
            m.value = anon.then_some(value);
        }
    }

    /// mprotect keeps holes holes (and may split VMAs).
    pub fn protect(&mut self, proc: &str, region: &str, first: usize, n: usize, to: Prot) {
        self.split_vmas(proc, region, first, n);
        let r = self.region_mut(proc, region);
        for p in &mut r.pages[first..first + n] {
            assert!(p.is_some(), "mprotect over a hole");
            *p = Some(to);
        }
    }

    /// VMA flag advice (`hugepage`, `dontfork`, `wipeonfork`, ...): splits VMAs; sets the
    /// fork flags given.
    pub fn set_flags(
        &mut self,
        proc: &str,
        region: &str,
        first: usize,
        n: usize,
        dontfork: Option<bool>,
        wipe: Option<bool>,
    ) {
        self.split_vmas(proc, region, first, n);
        let r = self.region_mut(proc, region);
        for m in &mut r.meta[first..first + n] {
            if let Some(d) = dontfork {
                m.dontfork = d;
            }
            if let Some(w) = wipe {
                m.wipe = w;
            }
        }
    }

    /// New VMA ids for the range, one per id it held (the pieces stay apart).
    fn split_vmas(&mut self, proc: &str, region: &str, first: usize, n: usize) {
        let mut renamed: BTreeMap<u64, u64> = BTreeMap::new();
        for i in first..first + n {
            let old = self.procs[proc].regions[region].meta[i].vma;
            let new = match renamed.get(&old) {
                Some(&v) => v,
                None => {
                    let v = self.fresh_id();
                    renamed.insert(old, v);
                    v
                }
            };
            self.region_mut(proc, region).meta[i].vma = new;
        }
    }

    /// mremap of pages `[first, first+n)` (inside one VMA) to a new region: one VMA there,
    /// a hole here; pins follow the pages.
    pub fn move_to(&mut self, proc: &str, region: &str, first: usize, n: usize, to: &str) {
        let vma = self.fresh_id();
        let r = self.region_mut(proc, region);
        let pages = r.pages[first..first + n].to_vec();
        assert!(pages.iter().all(Option::is_some), "move of a hole");
        let mut meta = r.meta[first..first + n].to_vec();
        let anon = r.anon;
        for p in &mut r.pages[first..first + n] {
            *p = None;
        }
        for m in &mut meta {
            m.vma = vma;
        }
        let p = self.procs.get_mut(proc).expect("live process");
        let old = p
            .regions
            .insert(to.to_string(), RegionShadow { pages, meta, anon });
        assert!(old.is_none(), "region {to} reused");
    }

    /// A pin (`pipe` false) or a pipe of pages `[first, first+n)`, held as `name`. A pin is
    /// `strong` when it is `rw` or `longterm`: it never holds a zero page (GUP faults or
    /// unshares), so it keeps the process's page. A read-only short pin of a page reading
    /// zero may hold the shared zero page, which the process's next write replaces.
    #[allow(clippy::too_many_arguments)]
    pub fn hold(
        &mut self,
        name: &str,
        proc: &str,
        region: &str,
        first: usize,
        n: usize,
        pipe: bool,
        strong: bool,
    ) {
        let r = &self.procs[proc].regions[region];
        let pages = (first..first + n)
            .map(|i| {
                let m = r.meta[i];
                match m.value {
                    None => Held::Unknown,
                    Some(value) if !pipe && (strong || value != 0) => Held::Linked {
                        token: m.token,
                        value,
                    },
                    Some(value) => Held::Fragile {
                        token: m.token,
                        value,
                    },
                }
            })
            .collect();
        let h = Hold {
            owner: proc.to_string(),
            pipe,
            pages,
            at: (region.to_string(), first, n),
        };
        assert!(self.holds.insert(name.to_string(), h).is_none());
    }

    pub fn release(&mut self, name: &str) {
        assert!(self.holds.remove(name).is_some(), "release of {name}");
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
