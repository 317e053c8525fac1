//! One execution of a case: a fresh world after the case's setup, the threads' positions and
//! locals, and [`Exec::step`], which runs one step of one thread and then every check that
//! applies to the state it reached.

use crate::check;
use crate::design::{Design, UnknownDesign};
use crate::step::{Code, Flow, Pc, Regs, Tid};
use crate::world::{Event, Knobs, World};
use foliolab_types::Pfn;
use std::hash::{Hash, Hasher};

/// One exploration target: the MMs, how the world is set up before the threads start, and
/// the threads.
pub struct Case {
    pub name: &'static str,
    /// One line: what this case races.
    pub about: &'static str,
    pub nr_mms: u8,
    pub setup: fn(&mut World),
    pub threads: Vec<Code>,
}

/// Thread state in one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ThreadState {
    pub pc: Pc,
    pub regs: Regs,
    pub done: bool,
}

pub struct Exec<'c> {
    pub case: &'c Case,
    pub world: World,
    pub threads: Vec<ThreadState>,
}

impl<'c> Exec<'c> {
    /// A fresh world for `design`, set up, with every thread at its first step.
    pub fn new(case: &'c Case, design: &str, knobs: Knobs) -> Result<Exec<'c>, UnknownDesign> {
        let mut world = World::new(Design::new(design)?, case.nr_mms, knobs);
        (case.setup)(&mut world);
        assert!(
            world
                .events
                .iter()
                .all(|e| !matches!(e, Event::Violation(_))),
            "setup of {} broke a rule: {:?}",
            case.name,
            world.events
        );
        world.events.clear();
        let threads = vec![ThreadState::default(); case.threads.len()];
        Ok(Exec {
            case,
            world,
            threads,
        })
    }

    pub fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.done)
    }

    /// Threads whose next step may run now, in index order.
    pub fn enabled(&self) -> Vec<Tid> {
        (0..self.threads.len())
            .filter(|&t| {
                let st = &self.threads[t];
                !st.done
                    && self
                        .step_of(t)
                        .ready
                        .as_ref()
                        .is_none_or(|r| r(&self.world, &st.regs, t))
            })
            .collect()
    }

    fn code(&self, t: Tid) -> &'c Code {
        &self.case.threads[t]
    }
    fn step_of(&self, t: Tid) -> &'c crate::step::Step {
        let pc = self.threads[t].pc;
        &self.code(t).ops[pc.op as usize].steps[pc.step as usize]
    }
    /// The name of thread `t`'s next step (or "done").
    pub fn next_step_name(&self, t: Tid) -> String {
        if self.threads[t].done {
            return "done".into();
        }
        self.step_of(t).name.clone()
    }
    pub fn op_name(&self, t: Tid) -> &'c str {
        let pc = self.threads[t].pc;
        let ops = &self.code(t).ops;
        &ops[(pc.op as usize).min(ops.len() - 1)].name
    }

    /// Runs thread `t`'s next step, then the checks; returns what the step and the checks
    /// found.
    pub fn step(&mut self, t: Tid) -> Vec<Event> {
        let step = self.step_of(t);
        let flow = (step.run)(&mut self.world, &mut self.threads[t].regs, t);
        self.advance(t, flow);
        self.track_windows();
        check::always(&mut self.world);
        if self.rmap_quiescent() {
            check::rmap_quiescent(&mut self.world);
        }
        if self.threads.iter().all(|s| s.done || s.pc.step == 0) {
            check::quiescent(&mut self.world);
        }
        if self.finished() {
            self.check_locks_released();
        }
        std::mem::take(&mut self.world.events)
    }

    fn advance(&mut self, t: Tid, flow: Flow) {
        let code = self.code(t);
        let st = &mut self.threads[t];
        let op = &code.ops[st.pc.op as usize];
        let next_op = match flow {
            Flow::Next => st.pc.step as usize + 1 == op.steps.len(),
            Flow::EndOp => true,
            Flow::Goto(label) => {
                let i = op.steps.iter().position(|s| s.label == Some(label));
                st.pc.step = i.unwrap_or_else(|| panic!("no label {label} in {}", op.name)) as u16;
                return;
            }
        };
        if !next_op {
            st.pc.step += 1;
            return;
        }
        // Locals do not outlive their operation.
        st.regs = Regs::default();
        st.pc = Pc {
            op: st.pc.op + 1,
            step: 0,
        };
        st.done = st.pc.op as usize == code.ops.len();
    }

    /// No thread is half-way through an operation that changes mapcounts.
    fn rmap_quiescent(&self) -> bool {
        (0..self.threads.len()).all(|t| {
            let st = &self.threads[t];
            st.done || st.pc.step == 0 || !self.code(t).ops[st.pc.op as usize].changes_rmap
        })
    }

    /// Lockless queries in flight see how many MMs map their folio at each state. (The
    /// folio cannot be split or freed under them: the querying thread holds a PTL mapping
    /// it.)
    fn track_windows(&mut self) {
        for st in &mut self.threads {
            let Some((lo, hi)) = st.regs.window else {
                continue;
            };
            let head = Pfn(st.regs.folio);
            let n = if self.world.live.contains(&head) {
                self.world.nr_mms_mapping(self.world.folio(head))
            } else {
                0
            };
            st.regs.window = Some((lo.min(n), hi.max(n)));
        }
    }

    fn check_locks_released(&mut self) {
        for t in 0..self.threads.len() {
            for (lock, _) in self.world.locks.held_by(t) {
                let name = self.code(t).name.clone();
                self.world
                    .violation(format!("thread {name} ended holding {lock}"));
            }
        }
    }

    /// A 64-bit fingerprint of the threads and the world.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.threads.hash(&mut h);
        self.world.hash_state(&mut h);
        h.finish()
    }
}
