//! Process statements on the kernel: each scenario operation becomes one helper command.

use super::proc::{Proc, Region};
use super::{place, rerr, KernelRunner};
use crate::error::ProbeError;
use crate::pidfd::PidFd;
use crate::protocol::{Command, MapTarget, Reply};
use crate::readers::{Pagemap, PAGE};
use foliolab_driver::{Problem, ProblemKind, RunError};
use foliolab_scenario::{MapKind, ProcOp, Prot, Range};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

type Res<T> = std::result::Result<T, RunError>;

fn pipe_cloexec() -> crate::error::Result<(File, File)> {
    let mut fds = [0i32; 2];
    // SAFETY: valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ProbeError::last_os("pipe2"));
    }
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// A signal the helper's fault handler reports: the access faulted (a run error).
fn is_fault(message: &str) -> bool {
    message.starts_with("SIGSEGV") || message.starts_with("SIGBUS")
}

impl KernelRunner<'_> {
    pub(super) fn proc_mut(&mut self, name: &str) -> Res<&mut Proc> {
        self.procs
            .get_mut(name)
            .ok_or_else(|| RunError::new(format!("no live process {name}")))
    }

    /// A command on the range of a process: (its reply, and the range's address, length).
    fn on_range(
        &mut self,
        proc: &str,
        range: &Range,
        make: impl Fn(u64, u64) -> Command,
    ) -> Res<Reply> {
        let p = self.proc_mut(proc)?;
        let (a, l, _) = p.span(range)?;
        p.call(&make(a, l))
    }

    pub(super) fn proc_op(&mut self, proc: &str, op: &ProcOp) -> Res<()> {
        match op {
            ProcOp::Map {
                region,
                size_bytes,
                kind,
                prot,
                align_bytes,
            } => self.map(proc, region, *size_bytes, kind, *prot, *align_bytes),
            ProcOp::Unmap { range } => self
                .on_range(proc, range, |addr, len| Command::Unmap { addr, len })
                .map(drop),
            ProcOp::Protect { range, prot } => self
                .on_range(proc, range, |addr, len| Command::Protect {
                    addr,
                    len,
                    prot: *prot,
                })
                .map(drop),
            ProcOp::Advise { range, advice } => {
                let r = self.on_range(proc, range, |addr, len| Command::Advise {
                    addr,
                    len,
                    advice: *advice,
                })?;
                if let Reply::CollapseFailed(why) = r {
                    eprintln!("foliolab probe: {proc}: advise collapse failed: {why}");
                }
                Ok(())
            }
            ProcOp::Move {
                range,
                new_region,
                align_bytes,
                shift_bytes,
            } => self.move_range(proc, range, new_region, *align_bytes, *shift_bytes),
            ProcOp::Write { range, value } => self.write(proc, range, *value),
            ProcOp::Read { range } => foliolab_driver::Runner::read(self, proc, range).map(drop),
            ProcOp::Fork { child } => self.fork(proc, child),
            ProcOp::Exit => self.exit(proc),
            ProcOp::Pin {
                name,
                range,
                write,
                longterm,
                fast,
            } => {
                if !*write || !*longterm || *fast {
                    return Err(RunError::new(
                        "unsupported: only `pin rw longterm` runs on the kernel",
                    ));
                }
                self.pin(proc, name, range)
            }
            ProcOp::Splice { name, range } => self
                .on_range(proc, range, |addr, len| Command::Splice {
                    name: name.clone(),
                    addr,
                    len,
                })
                .map(drop),
            ProcOp::Release { name } => self
                .proc_mut(proc)?
                .call(&Command::Release { name: name.clone() })
                .map(drop),
            ProcOp::Migrate { .. } => Err(RunError::new("unsupported: migrate is model-only")),
            _ => Err(RunError::new("not an action statement")),
        }
    }

    /// What a region of `kind` maps, from byte `offset` of a file.
    pub(super) fn map_target(&self, kind: &MapKind, offset: u64) -> Res<MapTarget> {
        Ok(match kind {
            MapKind::Anon => MapTarget::Anon,
            MapKind::Shmem => MapTarget::Shmem,
            MapKind::File { file, shared } => {
                let f = self
                    .files
                    .get(file)
                    .ok_or_else(|| RunError::new(format!("no file {file}")))?;
                let path = format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd());
                MapTarget::File {
                    path,
                    shared: *shared,
                    offset,
                }
            }
            MapKind::DriverMixedmap | MapKind::DriverPfnmap => {
                return Err(RunError::new("unsupported: driver mappings are model-only"))
            }
        })
    }

    fn map(
        &mut self,
        proc: &str,
        region: &str,
        size: u64,
        kind: &MapKind,
        prot: Prot,
        align: u64,
    ) -> Res<()> {
        let target = self.map_target(kind, 0)?;
        let p = self.proc_mut(proc)?;
        let addr = place(p.cursor, align, 0);
        p.call(&Command::Map {
            addr,
            len: size,
            target,
            prot,
        })?;
        p.cursor = addr + size;
        let r = Region {
            addr,
            size,
            kind: kind.clone(),
            prot,
        };
        p.regions.insert(region.to_string(), r);
        Ok(())
    }

    fn move_range(
        &mut self,
        proc: &str,
        range: &Range,
        new_region: &str,
        align: u64,
        shift: u64,
    ) -> Res<()> {
        let p = self.proc_mut(proc)?;
        let to = place(p.cursor, align, shift);
        let len = p.move_to(range, new_region, to)?;
        p.cursor = to + len;
        Ok(())
    }

    /// A command that may kill the process (an access): on a fault the process is gone and
    /// the error says which signal.
    pub(super) fn access(&mut self, proc: &str, c: Command, what: &str) -> Res<Reply> {
        match self.proc_mut(proc)?.call(&c) {
            Ok(r) => Ok(r),
            Err(e) => {
                if is_fault(&e.message) || e.died {
                    if let Some(mut dead) = self.procs.remove(proc) {
                        dead.wait_gone(Duration::from_secs(10));
                    }
                }
                let message = format!("{what}: {}", e.message);
                Err(if e.died {
                    RunError::died(message)
                } else {
                    RunError::new(message)
                })
            }
        }
    }

    fn write(&mut self, proc: &str, range: &Range, value: u64) -> Res<()> {
        let (addr, len, _) = self.proc_mut(proc)?.span(range)?;
        match self.access(proc, Command::Write { addr, len, value }, "write")? {
            Reply::Faults(f) => {
                self.proc_mut(proc)?.last_faults = f;
                Ok(())
            }
            r => Err(RunError::new(format!("write: unexpected reply {r:?}"))),
        }
    }

    fn fork(&mut self, parent: &str, child: &str) -> Res<()> {
        let (cmd_r, cmd_w) = pipe_cloexec().map_err(rerr)?;
        let (resp_r, resp_w) = pipe_cloexec().map_err(rerr)?;
        let me = std::process::id();
        let c = Command::Fork {
            cmd_path: format!("/proc/{me}/fd/{}", cmd_r.as_raw_fd()),
            resp_path: format!("/proc/{me}/fd/{}", resp_w.as_raw_fd()),
        };
        let p = self.proc_mut(parent)?;
        let (pid, fd) = match p.call(&c)? {
            Reply::Forked { pid, pidfd } => (pid as i32, pidfd),
            r => return Err(RunError::new(format!("fork: unexpected reply {r:?}"))),
        };
        // The parent helper keeps its pidfd of the child until its next command.
        let pidfd = PidFd::from_process_fd(&p.pidfd, fd, pid).map_err(rerr)?;
        drop((cmd_r, resp_w));
        let c = p.forked(pidfd, cmd_w, resp_r)?;
        self.procs.insert(child.to_string(), c);
        Ok(())
    }

    fn exit(&mut self, proc: &str) -> Res<()> {
        let mut p = self
            .procs
            .remove(proc)
            .ok_or_else(|| RunError::new(format!("no live process {proc}")))?;
        let r = p.call(&Command::Exit);
        p.wait_gone(Duration::from_secs(30));
        r.map(drop)
    }

    /// `pin`: an io_uring fixed buffer. A longterm pin migrates pages out of ZONE_MOVABLE
    /// and CMA, which the model never does: that is reported. A frame that changes because
    /// the pin's write fault copied a COW-shared page (a pin in a forked child) is not a
    /// migration.
    fn pin(&mut self, proc: &str, name: &str, range: &Range) -> Res<()> {
        let p = self.proc_mut(proc)?;
        let (addr, len, _) = p.span(range)?;
        let pid = p.pid();
        let n = (len / PAGE) as usize;
        let before = Pagemap::open(pid).and_then(|m| m.entries(addr, n));
        p.call(&Command::Pin {
            name: name.to_string(),
            addr,
            len,
        })?;
        let after = Pagemap::open(pid).and_then(|m| m.entries(addr, n));
        if let (Ok(b), Ok(a)) = (before, after) {
            if let Some(pfn) = self.unpinnable.migrated(&b, &a) {
                self.problems.push(Problem {
                    kind: ProblemKind::Invariant,
                    message: format!("longterm pin {name} migrated pages (pfn {pfn:#x} is in ZONE_MOVABLE or CMA)"),
                });
            }
        }
        Ok(())
    }
}
