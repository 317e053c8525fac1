//! One scenario process: a helper the runner spawned, or a child a helper forked. The runner
//! talks to it through [`Command`]s and [`Reply`]s and knows it only by its pidfd.

use crate::error::{ProbeError, Result};
use crate::host;
use crate::pidfd::{Ended, PidFd};
use crate::protocol::{Command, Reply};
use crate::runner::ProbeOptions;
use foliolab_driver::RunError;
use foliolab_scenario::{MapKind, Prot, Range};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command as Exec, Stdio};
use std::time::Duration;

type Res<T> = std::result::Result<T, RunError>;

#[derive(Clone, Debug)]
pub(super) struct Region {
    pub(super) addr: u64,
    pub(super) size: u64,
    pub(super) kind: MapKind,
    pub(super) prot: Prot,
}

pub(super) struct Proc {
    pub(super) pidfd: PidFd,
    cmd: File,
    resp: BufReader<File>,
    /// The helper process when the runner spawned it (our child); `None` for a forked one.
    child: Option<Child>,
    pub(super) regions: BTreeMap<String, Region>,
    /// Where the next region is placed.
    pub(super) cursor: u64,
    pub(super) last_faults: u64,
}

/// Starts a helper executable with piped stdin/stdout, registered for killing by pidfd.
pub(crate) fn start_helper(opts: &ProbeOptions) -> Result<(Child, PidFd)> {
    let child = Exec::new(&opts.helper)
        .args(&opts.helper_args)
        .env("FOLIOLAB_PROBE_CPU", opts.cpu.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| ProbeError::io(format!("start helper {}", opts.helper.display()), e))?;
    // Our child, not yet waited for: its pid cannot have been reused.
    let pidfd = PidFd::open(child.id() as i32)?;
    host::register_helper(&pidfd);
    Ok((child, pidfd))
}

impl Proc {
    /// A new helper, started and ready.
    pub(super) fn spawn(opts: &ProbeOptions, cursor: u64) -> Result<Proc> {
        let (mut child, pidfd) = start_helper(opts)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ProbeError::Helper("no pipes".into()));
        };
        let mut p = Proc {
            pidfd,
            cmd: File::from(OwnedFd::from(stdin)),
            resp: BufReader::new(File::from(OwnedFd::from(stdout))),
            child: Some(child),
            regions: BTreeMap::new(),
            cursor,
            last_faults: 0,
        };
        match p.recv() {
            Ok(Reply::Ready { .. }) => Ok(p),
            Ok(r) => Err(ProbeError::Helper(format!("helper did not start: {r:?}"))),
            Err(e) => Err(ProbeError::Helper(format!("helper did not start: {e}"))),
        }
    }

    /// The child a helper forked, reached through the pipes the runner made for it.
    pub(super) fn forked(&self, pidfd: PidFd, cmd: File, resp: File) -> Res<Proc> {
        host::register_helper(&pidfd);
        let mut c = Proc {
            pidfd,
            cmd,
            resp: BufReader::new(resp),
            child: None,
            regions: self.regions.clone(),
            cursor: self.cursor,
            last_faults: 0,
        };
        match c.recv()? {
            Reply::Ready { .. } => Ok(c),
            r => Err(RunError::new(format!("fork: child answered {r:?}"))),
        }
    }

    pub(super) fn pid(&self) -> i32 {
        self.pidfd.pid()
    }

    /// Sends one command and waits for its reply; an `err` reply is a run error, a helper
    /// gone without a reply a died process.
    pub(super) fn call(&mut self, c: &Command) -> Res<Reply> {
        let mut line = c.encode();
        line.push('\n');
        if self.cmd.write_all(line.as_bytes()).is_err() {
            return Err(self.died());
        }
        match self.recv()? {
            Reply::Err(why) => Err(RunError::new(why)),
            r => Ok(r),
        }
    }

    fn recv(&mut self) -> Res<Reply> {
        let mut s = String::new();
        match self.resp.read_line(&mut s) {
            Ok(0) | Err(_) => Err(self.died()),
            Ok(_) => Reply::decode(s.trim_end())
                .map_err(|e| RunError::new(format!("helper protocol: {e}: {s:?}"))),
        }
    }

    /// The error for a helper that went away without answering: how it ended.
    fn died(&mut self) -> RunError {
        RunError::died(format!("process (pid {}) {}", self.pid(), self.how_ended()))
    }

    /// How the process ended (waits up to a second for it to be gone).
    pub(super) fn how_ended(&mut self) -> Ended {
        self.pidfd.wait_ended(1000);
        if let Some(e) = self.pidfd.reap_child(false) {
            self.child = None;
            return e;
        }
        self.pidfd.exit_info()
    }

    pub(super) fn region(&self, name: &str) -> Res<&Region> {
        self.regions
            .get(name)
            .ok_or_else(|| RunError::new(format!("no region {name}")))
    }

    /// mremap of `range` to address `to`, where it becomes region `new_region` with the kind
    /// and protection of the region it came from; its length in bytes.
    pub(super) fn move_to(&mut self, range: &Range, new_region: &str, to: u64) -> Res<u64> {
        let (addr, len, _) = self.span(range)?;
        let src = self.region(&range.region)?.clone();
        self.call(&Command::Move { addr, len, to })?;
        let r = Region {
            addr: to,
            size: len,
            kind: src.kind,
            prot: src.prot,
        };
        self.regions.insert(new_region.to_string(), r);
        Ok(len)
    }

    /// (address, length, offset in the region) of a range.
    pub(super) fn span(&self, r: &Range) -> Res<(u64, u64, u64)> {
        let reg = self.region(&r.region)?;
        let (s, e) = r.form.resolve(reg.size);
        if e > reg.size || s >= e {
            return Err(RunError::new(format!("range outside region {}", r.region)));
        }
        Ok((reg.addr + s, e - s, s))
    }

    /// Waits until the process has exited (its address space torn down) and reaps it if it
    /// is our child: a helper we spawned, or a forked child whose parent helper is gone (the
    /// runner is its subreaper); else its parent helper reaped it already.
    pub(super) fn wait_gone(&mut self, timeout: Duration) {
        self.pidfd.wait_ended(timeout.as_millis() as i32);
        self.pidfd.reap_child(false);
        self.child = None;
        host::unregister_helper(self.pid());
    }

    /// SIGKILL through the pidfd, then [`Proc::wait_gone`].
    pub(super) fn kill(&mut self) {
        self.pidfd.signal(libc::SIGKILL);
        self.wait_gone(Duration::from_secs(10));
    }
}
