//! The khugepaged keeper: a helper process that keeps khugepaged's list of mms from ever
//! being empty. Khugepaged drops an mm it has scanned through and wakes at once when an mm
//! joins an empty list; with the keeper's mm always on the list it only runs when its sleep
//! ends (paused: one hour).

use crate::error::{ProbeError, Result};
use crate::host::signals;
use crate::pidfd::PidFd;
use crate::protocol::{Command, MapTarget, Reply};
use foliolab_scenario::{Advice, Prot};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::process::Child;

pub(crate) struct Keeper {
    child: Child,
    pidfd: PidFd,
    cmd: fs::File,
    resp: BufReader<fs::File>,
    addr: u64,
    len: u64,
}

impl Keeper {
    fn request(&mut self, c: &Command) -> Result<Reply> {
        let mut line = c.encode();
        line.push('\n');
        self.cmd
            .write_all(line.as_bytes())
            .map_err(|e| ProbeError::io("khugepaged keeper: write", e))?;
        let mut s = String::new();
        self.resp
            .read_line(&mut s)
            .map_err(|e| ProbeError::io("khugepaged keeper: read", e))?;
        match Reply::decode(s.trim_end()) {
            Ok(Reply::Err(e)) => Err(ProbeError::Helper(format!("khugepaged keeper: {e}"))),
            Ok(r) => Ok(r),
            Err(e) => Err(ProbeError::Helper(format!("khugepaged keeper: {e}: {s:?}"))),
        }
    }

    /// (Re-)registers the keeper's mm with khugepaged.
    pub(crate) fn advise(&mut self) -> Result<()> {
        let c = Command::Advise {
            addr: self.addr,
            len: self.len,
            advice: Advice::Hugepage,
        };
        self.request(&c).map(|_| ())
    }

    /// Starts the keeper on a freshly spawned (and registered) helper: one order-0 page in each of the PMD
    /// ranges of a `len`-byte region, each held by a pipe (vmsplice) so that khugepaged
    /// scans it but never collapses it (the extra reference fails its refcount check before
    /// it allocates anything); then MADV_HUGEPAGE registers the mm. One paused pass covers
    /// 8 of the 64 ranges of 128 MiB.
    pub(crate) fn start(mut child: Child, pidfd: PidFd, addr: u64, len: u64) -> Result<Keeper> {
        let (Some(i), Some(o)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ProbeError::Helper("khugepaged keeper: no pipes".into()));
        };
        let mut k = Keeper {
            child,
            pidfd,
            cmd: fs::File::from(OwnedFd::from(i)),
            resp: BufReader::new(fs::File::from(OwnedFd::from(o))),
            addr,
            len,
        };
        k.populate()?;
        k.advise()?;
        Ok(k)
    }

    fn populate(&mut self) -> Result<()> {
        let mut s = String::new();
        self.resp
            .read_line(&mut s)
            .map_err(|e| ProbeError::io("khugepaged keeper: start", e))?;
        let (addr, len) = (self.addr, self.len);
        self.request(&Command::Map {
            addr,
            len,
            target: MapTarget::Anon,
            prot: Prot::Rw,
        })?;
        self.request(&Command::Advise {
            addr,
            len,
            advice: Advice::Nohugepage,
        })?;
        let pmd = 2u64 << 20;
        for i in 0..len / pmd {
            let a = addr + i * pmd;
            self.request(&Command::Write {
                addr: a,
                len: 0x1000,
                value: 1,
            })?;
            self.request(&Command::Splice {
                name: format!("keep{i}"),
                addr: a,
                len: 0x1000,
            })?;
        }
        Ok(())
    }

    /// Whether the keeper has died (then khugepaged's pause no longer holds).
    pub(crate) fn ended(&self) -> bool {
        self.pidfd.wait_ended(0)
    }

    /// Kills the keeper through its pidfd and reaps it.
    pub(crate) fn stop(mut self) {
        self.pidfd.signal(libc::SIGKILL);
        let _ = self.child.wait();
        signals::unregister_helper(self.pidfd.pid());
    }
}
