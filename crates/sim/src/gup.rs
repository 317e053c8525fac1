//! Pins and pipes on the model runner: `pin`, `splice` and `release` statements, and the
//! reads of held pages behind `expect pin` / `expect pipe`, judged for leaks like any read.

use crate::runner::ModelRunner;
use foliolab_driver::{Problem, ProblemKind, RunError};
use foliolab_model::{Pid, PinOpts};
use foliolab_scenario::ProcOp;

impl ModelRunner {
    /// Performs a `pin`, `splice` or `release` of `proc`.
    pub(crate) fn perform_gup(
        &mut self,
        proc: &str,
        pid: Pid,
        op: &ProcOp,
    ) -> Result<(), RunError> {
        match op {
            ProcOp::Pin {
                name,
                range,
                write,
                longterm,
                fast,
            } => {
                let (s, e) = self.span(proc, range)?;
                let opts = PinOpts {
                    write: *write,
                    longterm: *longterm,
                    fast: *fast,
                };
                let id = self.model.pin(pid, s, e, opts).map_err(Self::err)?;
                self.holds.insert(name.clone(), (pid, id));
            }
            ProcOp::Splice { name, range } => {
                let (s, e) = self.span(proc, range)?;
                let id = self.model.splice(pid, s, e).map_err(Self::err)?;
                self.holds.insert(name.clone(), (pid, id));
            }
            ProcOp::Release { name } => {
                let (_, id) = self.hold(proc, name)?;
                self.holds.remove(name);
                self.model.release(id);
            }
            _ => {}
        }
        Ok(())
    }

    fn hold(&self, proc: &str, name: &str) -> Result<(Pid, foliolab_model::HoldId), RunError> {
        let pid = self.pid(proc)?;
        match self.holds.get(name) {
            Some(&(owner, id)) if owner == pid => Ok((owner, id)),
            _ => Err(RunError::new(format!("{proc} holds no pin or pipe {name}"))),
        }
    }

    /// What the pages held as `name` contain now; a value another process wrote after the
    /// fork that separated it from the holder is a leak (CVE-2020-29374).
    pub(crate) fn read_held(&mut self, proc: &str, name: &str) -> Result<Vec<u64>, RunError> {
        let (pid, id) = self.hold(proc, name)?;
        let contents = self.model.held_contents(id);
        for (i, c) in contents.iter().enumerate() {
            if let Some(writer) = self.expected.held_leak(pid.0, *c) {
                let message = format!(
                    "{proc} read {:#x} in page #{i} of {name}, written by another process ({}) \
                     after their fork",
                    c.value,
                    self.proc_name(Pid(writer))
                );
                self.pending.push(Problem {
                    kind: ProblemKind::Leak,
                    message,
                });
            }
        }
        Ok(contents.iter().map(|c| c.value).collect())
    }
}
