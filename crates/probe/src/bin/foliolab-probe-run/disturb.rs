//! `--kill-helper LINE:PROC`: hooks on the kernel runner that, just before it performs the
//! statement at LINE, SIGKILL PROC's helper from outside the probe, as the OOM killer would.
//! The host-safety tests use it to show that a helper that dies is a failed run, never a
//! pass: when the statement is PROC's own, the runner finds its helper gone; otherwise its
//! check after the statement does. Everything else is the kernel runner's own.

use foliolab_driver::{RunError, Runner, StatementHooks};
use foliolab_probe::pidfd::PidFd;
use foliolab_probe::KernelRunner;
use foliolab_scenario::Stmt;

pub struct KillBefore {
    line: u32,
    proc: String,
}

impl KillBefore {
    pub fn new(line: u32, proc: &str) -> KillBefore {
        KillBefore {
            line,
            proc: proc.to_string(),
        }
    }

    /// SIGKILL from outside the runner, as the OOM killer would, then a moment for the
    /// kernel to tear the process down.
    fn kill(&self, runner: &KernelRunner<'_>) {
        let fd = runner
            .pid_of(&self.proc)
            .and_then(|pid| PidFd::open(pid).ok());
        if let Some(fd) = fd {
            fd.signal(libc::SIGKILL);
            fd.wait_ended(5000);
        }
    }
}

impl<'g> StatementHooks<KernelRunner<'g>> for KillBefore {
    fn perform(&mut self, inner: &mut KernelRunner<'g>, stmt: &Stmt) -> Result<(), RunError> {
        if stmt.pos.line == self.line {
            self.kill(inner);
        }
        inner.perform(stmt)
    }
}
