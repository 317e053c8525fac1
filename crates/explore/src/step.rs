//! Threads as sequences of atomic steps. A kernel operation (a zap, a write fault, a GUP-fast
//! walk) is an [`Op`]: its steps, each one indivisible (one atomic access or one critical
//! section the model does not split), with the condition under which it may run (a lock it
//! takes is free). A thread's [`Code`] is a sequence of operations; its dynamic state is a
//! program counter and [`Regs`], the values the kernel code keeps in locals between steps.

use crate::world::World;

/// Index of a thread in an exploration (at most 9, so a schedule is a string of digits).
pub type Tid = usize;

/// Where a thread goes after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The next step of the operation (or the first of the next operation).
    Next,
    /// The step labelled so in the same operation.
    Goto(&'static str),
    /// Leave the operation now (its remaining steps are skipped).
    EndOp,
}

/// What a step does.
pub type RunFn = Box<dyn Fn(&mut World, &mut Regs, Tid) -> Flow>;
/// Whether a step may run now (a lock it takes is free).
pub type ReadyFn = Box<dyn Fn(&World, &Regs, Tid) -> bool>;

/// One atomic step.
pub struct Step {
    /// What the kernel does here, as a trace shows it (`clear_full_ptes(B, 4)`).
    pub name: String,
    /// A jump target inside the operation.
    pub label: Option<&'static str>,
    pub ready: Option<ReadyFn>,
    pub run: RunFn,
}

impl Step {
    pub fn new(name: impl Into<String>, run: RunFn) -> Step {
        Step {
            name: name.into(),
            label: None,
            ready: None,
            run,
        }
    }
    /// A step that may run only when `ready` says so (it waits otherwise).
    pub fn guarded(name: impl Into<String>, ready: ReadyFn, run: RunFn) -> Step {
        Step {
            ready: Some(ready),
            ..Step::new(name, run)
        }
    }
    pub fn labelled(mut self, label: &'static str) -> Step {
        self.label = Some(label);
        self
    }
}

/// One kernel operation: a name, its steps, and whether it changes mapcounts (between the
/// steps of such an operation the counters may legitimately disagree with the page tables).
pub struct Op {
    pub name: String,
    pub changes_rmap: bool,
    pub steps: Vec<Step>,
}

impl Op {
    pub fn new(name: impl Into<String>, changes_rmap: bool) -> Op {
        Op {
            name: name.into(),
            changes_rmap,
            steps: Vec::new(),
        }
    }
    pub fn step(mut self, s: Step) -> Op {
        self.steps.push(s);
        self
    }
    pub fn steps(mut self, s: impl IntoIterator<Item = Step>) -> Op {
        self.steps.extend(s);
        self
    }
}

/// A thread's program: operations run one after the other.
pub struct Code {
    pub name: String,
    pub ops: Vec<Op>,
}

impl Code {
    pub fn new(name: impl Into<String>) -> Code {
        Code {
            name: name.into(),
            ops: Vec::new(),
        }
    }
    pub fn op(mut self, op: Op) -> Code {
        assert!(!op.steps.is_empty(), "operation {} has no steps", op.name);
        self.ops.push(op);
        self
    }
}

/// A thread's position: operation and step within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pc {
    pub op: u16,
    pub step: u16,
}

/// The values kernel code keeps in locals between steps. Every field is part of the state
/// fingerprint, so two interleavings reaching the same world with the same locals merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Regs {
    /// The raw PTE value last read (`Pte.0`).
    pub pte: u64,
    /// The page (PFN) the thread works on.
    pub page: u64,
    /// `page_folio(page)` as read: the head PFN; it may be stale by the time it is used.
    pub folio: u64,
    /// Result of the last test (a branch condition).
    pub flag: bool,
    /// The last rmap removal reported the folio partially mapped (deferred split follows).
    pub partial: bool,
    /// The mmu_gather: (folio head, references) to drop once the TLB is flushed.
    pub gather: Vec<(u64, i32)>,
    /// A folio this thread allocated (a COW copy, a fault).
    pub new_folio: u64,
    /// A lockless query's answer, once taken.
    pub answer: Option<bool>,
    /// Fewest and most MMs mapping the folio while a lockless query is in flight.
    pub window: Option<(u8, u8)>,
    /// A counter value loaded by a split read-modify-write (MM_ID `_large_mapcount`).
    pub loaded: i64,
    /// Loop index inside an operation (the next page of the range to look at).
    pub idx: u32,
    /// The PTE batch being worked on: first page index, length, pages done.
    pub batch: (u32, u32, u32),
    /// References this thread holds beyond page tables (GUP-fast, isolation, split).
    pub held: i32,
}
