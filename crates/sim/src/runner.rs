//! [`ModelRunner`]: the model behind the report crate's `Runner` trait. It places regions,
//! turns statements into model operations, keeps the oracle's expected memory in step, and
//! after every statement checks the invariants and the scheme against the oracle's recount.

use crate::place::{Placement, Region};
use foliolab_driver::{Problem, ProblemKind, ReadValue, RunError, Runner, RunnerKind};
use foliolab_model::check_touched::TouchedCheck;
use foliolab_model::{
    Access, Advice as MAdvice, Era, Model, ModelError, Pid, Prot as MProt, RssCounter, ThpConfig,
};
use foliolab_oracle::{recount, ExpectedMemory, ReadVerdict, Recounter};
use foliolab_scenario::{Advice, MapKind, Prot, Range, RssKind, Scenario, Stmt, StmtKind};
use foliolab_types::{TruthStore, VirtAddr, PAGE_SIZE};
use std::collections::BTreeMap;

/// Whether runners check in full by default (`--full-check`).
static FULL_CHECK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the runners created from now on check every statement in full (`--full-check` of
/// the commands that run the model) or on what it touched (the default).
pub fn full_check_by_default(on: bool) {
    FULL_CHECK.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether runners check both ways by default (`FOLIOLAB_CHECK_AGREEMENT=1`).
static AGREEMENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the runners created from now on check every statement both ways and panic when
/// the verdicts differ (the command line sets it from `FOLIOLAB_CHECK_AGREEMENT=1`).
pub fn check_agreement_by_default(on: bool) {
    AGREEMENT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Expected-memory ids of driver buffers start here (files take the low ids).
const DRIVER_FILE_IDS: u32 = 1 << 31;

/// Runs scenarios on the model under one scheme.
pub struct ModelRunner {
    pub(crate) model: Model,
    scheme: String,
    pub(crate) thp: ThpConfig,
    pub(crate) procs: BTreeMap<String, Pid>,
    pub(crate) place: Placement,
    pub(crate) expected: ExpectedMemory,
    /// Problems found while performing the statement (wrong reads), reported after it.
    pub(crate) pending: Vec<Problem>,
    /// Pins and pipes by name: the holding process and the model's hold.
    pub(crate) holds: BTreeMap<String, (Pid, foliolab_model::HoldId)>,
    /// Check invariants and the oracle after every statement (on by default).
    pub check_every_statement: bool,
    /// Highs sampled after every statement (for `foliolab compare`).
    pub peaks: Peaks,
    /// Files of `file` statements by name.
    pub(crate) files: BTreeMap<String, foliolab_mem::FileId>,
    /// Driver buffers handed out so far (their ids in expected memory follow the files').
    pub(crate) drivers: u32,
    /// The oracle's recount, kept up to date from what each statement touched.
    recount: Recounter,
    /// Whether `recount` describes the page tables after the last statement.
    truth_current: bool,
    /// The sums the checks on touched state keep between statements.
    touched: TouchedCheck,
    /// The VMA-count check's state (`vma_check.rs`).
    vmas: crate::vma_check::VmaCheck,
    /// Check every statement with a full recount and the full invariants instead of on
    /// what it touched (`--full-check`); the verdicts are the same, only slower.
    pub full_check: bool,
    /// Check both ways after every statement and panic when they disagree (the agreement
    /// tests; the command line turns it on with `FOLIOLAB_CHECK_AGREEMENT=1`).
    pub check_agreement: bool,
}

/// The largest values seen after any statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// Page frames in use (user folios, page cache, zero pages).
    pub used_pages: u64,
    pub deferred_queue_len: u64,
}

impl ModelRunner {
    /// A runner for scheme `name`; `None` if no such scheme exists.
    pub fn new(scheme: &str) -> Option<ModelRunner> {
        Some(Self::with_scheme(foliolab_schemes::by_name(scheme)?))
    }

    /// A runner driven by any scheme (tests use deliberately broken ones).
    pub fn with_scheme(s: Box<dyn foliolab_schemes::Scheme>) -> ModelRunner {
        Self::with_era(Era::LINUX_6_18, s)
    }

    /// A runner performing `era`'s operations under the design `s` (the era's own design or
    /// any other, as `compare` runs them).
    pub fn with_era(era: Era, s: Box<dyn foliolab_schemes::Scheme>) -> ModelRunner {
        ModelRunner {
            scheme: s.name().to_string(),
            model: Model::with_era(era, s, ThpConfig::default()),
            thp: ThpConfig::default(),
            procs: BTreeMap::new(),
            place: Placement::default(),
            expected: ExpectedMemory::default(),
            pending: Vec::new(),
            holds: BTreeMap::new(),
            check_every_statement: true,
            peaks: Peaks::default(),
            files: BTreeMap::new(),
            drivers: 0,
            recount: Recounter::default(),
            truth_current: false,
            touched: TouchedCheck::default(),
            vmas: Default::default(),
            full_check: FULL_CHECK.load(std::sync::atomic::Ordering::Relaxed),
            check_agreement: AGREEMENT.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// A runner performing `era`'s operations under the registered design `scheme` (the
    /// era's own design is `era.design`); `None` if no such design exists.
    pub fn for_era(era: Era, scheme: &str) -> Option<ModelRunner> {
        Some(Self::with_era(era, foliolab_schemes::by_name(scheme)?))
    }

    /// The era whose operations this runner performs.
    pub fn era(&self) -> &Era {
        &self.model.era
    }

    /// The oracle's recount of the page tables after the last statement, if the checks or
    /// the observation step took one (the fuzzer reuses it instead of recounting).
    pub fn last_truth(&self) -> Option<&TruthStore> {
        self.truth_current.then(|| self.recount.truth())
    }

    /// Folios the last checked statement touched (their truth, pages or layout changed),
    /// sorted; everything else is as it was before the statement.
    pub fn last_touched(&self) -> &[foliolab_types::Pfn] {
        self.touched.last_folios(self.recount.changed())
    }

    /// Whether the check on touched state answered the last checked statement alone, from
    /// its kept sums, without running the full check (see
    /// `TouchedCheck::answered_alone`).
    pub fn touched_answered_alone(&self) -> bool {
        self.touched.answered_alone()
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model itself (tests switch on its broken variants through this).
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    pub(crate) fn pid(&self, proc: &str) -> Result<Pid, RunError> {
        self.procs
            .get(proc)
            .copied()
            .ok_or_else(|| RunError::new(format!("no live process {proc}")))
    }

    pub(crate) fn region(&self, proc: &str, region: &str) -> Result<Region, RunError> {
        self.place
            .region(proc, region)
            .ok_or_else(|| RunError::new(format!("{proc} has no region {region}")))
    }

    /// Virtual [start, end) of a range.
    pub(crate) fn span(&self, proc: &str, range: &Range) -> Result<(VirtAddr, VirtAddr), RunError> {
        let r = self.region(proc, &range.region)?;
        let (s, e) = range.form.resolve(r.size_bytes);
        Ok((r.start.add(s), r.start.add(e)))
    }

    pub(crate) fn err(e: ModelError) -> RunError {
        RunError::new(e.to_string())
    }

    fn access_range(
        &mut self,
        proc: &str,
        range: &Range,
        value: Option<u64>,
    ) -> Result<Vec<ReadValue>, RunError> {
        let pid = self.pid(proc)?;
        let (start, end) = self.span(proc, range)?;
        let region_start = self.region(proc, &range.region)?.start;
        self.model.begin_access(pid);
        let mut out = Vec::new();
        let mut va = start;
        while va < end {
            let access = match value {
                Some(v) => Access::Write {
                    value: v,
                    tag: self.expected.write(pid.0, va, v),
                },
                None => Access::Read,
            };
            let got = self.model.access(pid, va, access).map_err(Self::err)?;
            if value.is_none() {
                self.judge_read(proc, pid, va, got);
            }
            out.push(ReadValue {
                offset_bytes: va.0 - region_start.0,
                value: got.value,
            });
            va = va.add(PAGE_SIZE);
        }
        Ok(out)
    }

    fn judge_read(&mut self, proc: &str, pid: Pid, va: VirtAddr, got: foliolab_mem::Content) {
        let verdict = self.expected.verdict(pid.0, va, got);
        let (kind, message) = match verdict {
            ReadVerdict::Ok => return,
            ReadVerdict::Leak { writer } => (
                ProblemKind::Leak,
                format!(
                    "{proc} read {:#x} at {:#x}, written by another process ({}) after their fork",
                    got.value,
                    va.0,
                    self.proc_name(Pid(writer))
                ),
            ),
            ReadVerdict::Wrong { expected } => (
                ProblemKind::WrongRead,
                format!(
                    "{proc} read {:#x} at {:#x}, expected {expected:#x}",
                    got.value, va.0
                ),
            ),
        };
        self.pending.push(Problem { kind, message });
    }

    pub(crate) fn proc_name(&self, pid: Pid) -> String {
        self.procs
            .iter()
            .find(|(_, p)| **p == pid)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| format!("pid{}", pid.0))
    }

    fn perform_global(&mut self, kind: &StmtKind) -> Result<(), RunError> {
        match kind {
            StmtKind::Thp { settings } => {
                crate::thp::apply(&mut self.thp, settings, &self.model.era);
                self.model.thp = self.thp.clone();
            }
            StmtKind::Spawn { proc } => {
                let pid = self.model.spawn();
                self.procs.insert(proc.clone(), pid);
            }
            StmtKind::Shrink => self.model.shrink(),
            StmtKind::Khugepaged => self.model.khugepaged_scan(),
            StmtKind::Swap { size_bytes } => self.model.enable_swap(*size_bytes),
            StmtKind::File { file, size_bytes } => {
                let id = self.model.file_create(*size_bytes);
                self.files.insert(file.clone(), id);
            }
            _ => {}
        }
        Ok(())
    }

    fn perform_proc(&mut self, proc: &str, op: &foliolab_scenario::ProcOp) -> Result<(), RunError> {
        use foliolab_scenario::ProcOp as Op;
        let pid = self.pid(proc)?;
        if let Some(r) = self.perform_placed(proc, pid, op) {
            return r;
        }
        match op {
            Op::Map {
                region,
                size_bytes,
                prot,
                align_bytes,
                kind,
            } => {
                let start = self.place.place(proc, region, *size_bytes, *align_bytes);
                self.map(pid, start, *size_bytes, mprot(*prot), kind)?;
            }
            Op::Unmap { range } => {
                let (s, e) = self.span(proc, range)?;
                self.model.munmap(pid, s, e.0 - s.0);
                self.expected.clear(pid.0, s, e);
            }
            Op::Protect { range, prot } => {
                let (s, e) = self.span(proc, range)?;
                self.model
                    .mprotect(pid, s, e.0 - s.0, mprot(*prot))
                    .map_err(Self::err)?;
            }
            Op::Advise { range, advice } => self.advise(proc, pid, range, *advice)?,
            Op::Write { range, value } => {
                self.access_range(proc, range, Some(*value))?;
            }
            Op::Read { range } => {
                self.access_range(proc, range, None)?;
            }
            Op::Move {
                range,
                new_region,
                align_bytes,
                shift_bytes,
            } => {
                let (s, e) = self.span(proc, range)?;
                let new = self.place.place_shifted(
                    proc,
                    new_region,
                    e.0 - s.0,
                    *align_bytes,
                    *shift_bytes,
                );
                self.model
                    .mremap_move(pid, s, e.0 - s.0, new)
                    .map_err(Self::err)?;
                self.expected.move_range(pid.0, s, e, new);
            }
            Op::Migrate { range } => {
                let (s, e) = self.span(proc, range)?;
                self.model.migrate(pid, s, e).map_err(Self::err)?;
            }
            Op::Fork { child } => {
                let c = self.model.fork(pid).map_err(Self::err)?;
                self.procs.insert(child.clone(), c);
                self.place.fork(proc, child);
                self.expected.fork(pid.0, c.0);
                self.forget_uncopied(pid, c);
            }
            Op::Pin { .. } | Op::Splice { .. } | Op::Release { .. } => {
                self.perform_gup(proc, pid, op)?
            }
            Op::Exit => {
                self.holds.retain(|_, (owner, _)| *owner != pid);
                self.model.exit(pid);
                self.expected.exit(pid.0);
                self.procs.remove(proc);
            }
            _ => {}
        }
        Ok(())
    }

    fn advise(
        &mut self,
        proc: &str,
        pid: Pid,
        range: &Range,
        advice: Advice,
    ) -> Result<(), RunError> {
        let (s, e) = self.span(proc, range)?;
        if advice == Advice::Collapse {
            // MADV_COLLAPSE may fail on a kernel; its result is reported, not fatal.
            self.model.madvise_collapse(pid, s, e).map_err(Self::err)?;
            return Ok(());
        }
        let a = model_advice(advice)
            .ok_or_else(|| RunError::new(format!("advise {} is not modelled", advice.name())))?;
        let r = self.model.madvise(pid, s, e.0 - s.0, a);
        if a == MAdvice::Dontneed && r.is_ok() {
            self.expected.discard(pid.0, s, e);
        }
        if matches!(a, MAdvice::Free | MAdvice::Pageout) {
            self.forget_discarded(pid, s, e);
        }
        r.map_err(Self::err)
    }

    /// A new region of any kind at `start`; file-backed kinds bind expected memory to
    /// their file (drivers' buffers are files of their own there).
    pub(crate) fn map(
        &mut self,
        pid: Pid,
        start: VirtAddr,
        len: u64,
        prot: MProt,
        kind: &MapKind,
    ) -> Result<(), RunError> {
        let end = start.add(len);
        let bind = match kind {
            MapKind::Anon => {
                self.model
                    .mmap_anon(pid, start, len, prot)
                    .map_err(Self::err)?;
                return Ok(());
            }
            MapKind::Shmem => {
                let f = self.model.mmap_shmem(pid, start, len, prot);
                (f.map_err(Self::err)?.0, true)
            }
            MapKind::File { file, shared } => {
                let id = *self
                    .files
                    .get(file)
                    .ok_or_else(|| RunError::new(format!("no file {file}")))?;
                let r = self.model.mmap_file(pid, start, len, prot, id, *shared);
                r.map_err(Self::err)?;
                (id.0, *shared)
            }
            MapKind::DriverMixedmap | MapKind::DriverPfnmap => {
                let r = if *kind == MapKind::DriverMixedmap {
                    self.model.mmap_driver_mixedmap(pid, start, len, prot)
                } else {
                    self.model.mmap_driver_pfnmap(pid, start, len, prot)
                };
                r.map_err(Self::err)?;
                self.drivers += 1;
                (DRIVER_FILE_IDS + self.drivers, true)
            }
        };
        self.expected.map_file(pid.0, start, end, bind.0, 0, bind.1);
        Ok(())
    }

    /// Ranges the child did not inherit (MADV_DONTFORK: a hole; MADV_WIPEONFORK: zeros).
    fn forget_uncopied(&mut self, parent: Pid, child: Pid) {
        use foliolab_mem::VmFlags;
        let gone: Vec<(VirtAddr, VirtAddr)> = self
            .model
            .proc(parent)
            .aspace
            .vmas
            .iter()
            .filter(|v| v.flags.has(VmFlags::DONTCOPY) || v.flags.has(VmFlags::WIPEONFORK))
            .map(|v| (v.start, v.end))
            .collect();
        for (s, e) in gone {
            self.expected.clear(child.0, s, e);
        }
    }

    /// Lazyfree pages that reclaim dropped read zero from now on (after MADV_FREE a program
    /// may see either its data or zeros: the kernel's contract), so expected memory follows
    /// what is still mapped.
    fn forget_discarded(&mut self, pid: Pid, s: VirtAddr, e: VirtAddr) {
        let mut va = s;
        while va < e {
            if self.model.page_view(pid, va).backing == foliolab_model::observe::Backing::None {
                self.expected.discard(pid.0, va, va.add(PAGE_SIZE));
            }
            va = va.add(PAGE_SIZE);
        }
    }

    /// The full check: a recount from every page table, the invariants over every folio
    /// and process. The kept recount must equal the full one; the touched-state sums are
    /// kept up to date for the statements checked incrementally after this one.
    fn check_full(&mut self) -> Vec<String> {
        let full = recount(
            self.model.processes().map(|(_, p)| &p.aspace),
            &self.model.mem,
        );
        let mut out = self.model.check_invariants(&full);
        if let Some(m) = first_difference(self.recount.truth(), &full) {
            out.push(format!(
                "the kept recount differs from the full recount: {m}"
            ));
        }
        let (truth, changed) = (self.recount.truth(), self.recount.changed());
        self.model
            .keep_touched_sums(&mut self.touched, truth, changed);
        out
    }

    /// The kept recount after a statement: from the processes it touched, or from every
    /// one after unchecked statements or when the memmap's marks overflowed.
    fn update_recount(&mut self) {
        let (model, touched) = (&self.model, &mut self.touched);
        let seen = &mut |c| touched.entry(c);
        match model.touched_spaces() {
            Some(spaces) if !model.mem.touched.pages.overflowed() => {
                let space_of = |mm| model.space_of(mm);
                self.recount
                    .update_touched(&spaces, &space_of, &model.mem, seen);
            }
            _ => {
                let spaces = model.processes().map(|(_, p)| &p.aspace);
                self.recount.update(spaces, &model.mem, seen);
            }
        }
    }

    /// A design that counts VMAs against the VMAs mapping each folio (`vma_check.rs`);
    /// nothing for the others.
    fn check_vmas(&mut self) -> Vec<String> {
        let touched = self.touched.last_folios(self.recount.changed());
        let (full, agreement) = (self.full_check, self.check_agreement);
        self.vmas.run(&self.model, touched, full, agreement)
    }

    /// Both checks; panics when their verdicts differ (the agreement tests).
    fn check_both(&mut self) -> Vec<String> {
        let problems = self.model.pending_problems().to_vec();
        let (truth, changed) = (self.recount.truth(), self.recount.changed());
        let touched = self.model.check_touched(&mut self.touched, truth, changed);
        self.model.restore_problems(problems);
        let full = recount(
            self.model.processes().map(|(_, p)| &p.aspace),
            &self.model.mem,
        );
        let all = self.model.check_invariants(&full);
        if let Some(m) = first_difference(self.recount.truth(), &full) {
            panic!("agreement: the kept recount differs from the full recount: {m}");
        }
        assert_eq!(
            touched, all,
            "agreement: the check on touched state and the full check differ"
        );
        all
    }
}

/// Where two recounts differ, if they do.
fn first_difference(kept: &TruthStore, full: &TruthStore) -> Option<String> {
    if kept == full {
        return None;
    }
    let keys: std::collections::BTreeSet<_> = kept.keys().chain(full.keys()).collect();
    keys.into_iter()
        .find(|k| kept.get(k) != full.get(k))
        .map(|k| format!("{k:?}: kept {:?}, full {:?}", kept.get(&k), full.get(&k)))
}

fn model_advice(a: Advice) -> Option<MAdvice> {
    Some(match a {
        Advice::Hugepage => MAdvice::Hugepage,
        Advice::Nohugepage => MAdvice::Nohugepage,
        Advice::Dontneed => MAdvice::Dontneed,
        Advice::Dontfork => MAdvice::Dontfork,
        Advice::Dofork => MAdvice::Dofork,
        Advice::Wipeonfork => MAdvice::Wipeonfork,
        Advice::Keeponfork => MAdvice::Keeponfork,
        Advice::Willneed => MAdvice::Willneed,
        Advice::PopulateRead => MAdvice::PopulateRead,
        Advice::PopulateWrite => MAdvice::PopulateWrite,
        Advice::Cold => MAdvice::Cold,
        Advice::Pageout => MAdvice::Pageout,
        Advice::Free => MAdvice::Free,
        Advice::Collapse => return None,
    })
}

pub(crate) fn mprot(p: Prot) -> MProt {
    MProt {
        read: p.readable(),
        write: p.writable(),
        exec: matches!(p, Prot::Rx | Prot::Rwx),
    }
}

impl Runner for ModelRunner {
    fn kind(&self) -> RunnerKind {
        RunnerKind::Model {
            scheme: self.scheme.clone(),
        }
    }

    /// The era's own design: a scenario naming no schemes describes the era's kernel.
    fn kernel_design(&self) -> &str {
        self.model.era.design
    }

    /// The era's kernel shows only the statistics it has (no per-size ones before mTHP);
    /// model-only counters always exist.
    fn shows_counter(&self, name: &str) -> bool {
        let model_only = foliolab_scenario::counter_class(name)
            == Some(foliolab_scenario::CounterClass::ModelOnly);
        model_only || self.model.era.thp_stats.exists(name)
    }

    fn unsupported(&self, scenario: &Scenario) -> Vec<String> {
        crate::support::unsupported(scenario, &self.model.era)
    }

    fn perform(&mut self, stmt: &Stmt) -> Result<(), RunError> {
        match &stmt.kind {
            StmtKind::Proc { proc, op } => self
                .perform_proc(proc, op)
                .map_err(|e| crate::address::relative(e, &self.place.regions_of(proc))),
            other => self.perform_global(other),
        }
    }

    fn read(&mut self, proc: &str, range: &Range) -> Result<Vec<ReadValue>, RunError> {
        self.access_range(proc, range, None)
            .map_err(|e| crate::address::relative(e, &self.place.regions_of(proc)))
    }

    fn pages(
        &mut self,
        proc: &str,
        range: &Range,
    ) -> Result<Vec<(u64, foliolab_driver::PageObs)>, RunError> {
        crate::observe::pages(self, proc, range)
    }

    fn smaps(
        &mut self,
        proc: &str,
        region: &str,
    ) -> Result<Vec<foliolab_driver::SmapsObs>, RunError> {
        crate::observe::smaps(self, proc, region)
    }

    fn rss_pages(&mut self, proc: &str, kind: RssKind) -> Result<u64, RunError> {
        let pid = self.pid(proc)?;
        let c = match kind {
            RssKind::Anon => RssCounter::Anon,
            RssKind::File => RssCounter::File,
            RssKind::Shmem => RssCounter::Shmem,
            RssKind::Swap => RssCounter::Swap,
        };
        Ok(self.model.rss(pid, c).max(0) as u64)
    }

    fn faults(&mut self, proc: &str) -> Result<u64, RunError> {
        Ok(self.model.proc(self.pid(proc)?).faults_last)
    }

    fn stats(&mut self) -> Result<BTreeMap<String, i64>, RunError> {
        Ok(self.model.counters_by_name())
    }

    fn held_values(&mut self, proc: &str, name: &str) -> Result<Vec<u64>, RunError> {
        self.read_held(proc, name)
    }

    fn frame_epoch(&mut self, frame: u64) -> Option<u64> {
        Some(self.model.mem.frame_epoch(foliolab_types::Pfn(frame)) as u64)
    }

    fn after_statement(&mut self, _stmt: &Stmt) -> Vec<Problem> {
        let total = foliolab_mem::memory::PHYS_BYTES / PAGE_SIZE;
        let used = total.saturating_sub(self.model.mem.nr_free_pages());
        self.peaks.used_pages = self.peaks.used_pages.max(used);
        self.peaks.deferred_queue_len = self
            .peaks
            .deferred_queue_len
            .max(self.model.deferred_queue_len());
        let mut out = std::mem::take(&mut self.pending);
        self.truth_current = false;
        if !self.check_every_statement {
            // The observation step without a recount: designs use their own truth. Marks
            // say "everything" and keep nothing until a checked statement clears them.
            self.model.saturate_touched();
            self.model.observe_designs(None);
            return out;
        }
        self.update_recount();
        self.truth_current = true;
        let mut messages = if self.check_agreement {
            self.check_both()
        } else if self.full_check {
            self.check_full()
        } else {
            let truth = self.recount.truth();
            let changed = self.recount.changed();
            self.model.check_touched(&mut self.touched, truth, changed)
        };
        messages.extend(self.check_vmas());
        out.extend(messages.into_iter().map(|message| Problem {
            kind: ProblemKind::Invariant,
            message,
        }));
        self.model.observe_designs(Some(self.recount.truth()));
        out
    }
}
