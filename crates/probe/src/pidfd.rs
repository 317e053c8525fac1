//! Process file descriptors: the probe signals and watches its helpers through pidfds, never
//! by pid, so a helper that died and was reaped can never be confused with a process that
//! later got the same pid.

use crate::error::{ProbeError, Result};
use crate::sys;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A pidfd and the pid it was opened for (the pid is for messages only).
#[derive(Debug)]
pub struct PidFd {
    pid: i32,
    fd: OwnedFd,
}

/// How a process ended, as far as the probe can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// `_exit(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// It has ended, but the kernel does not say how (not our child, and no
    /// `PIDFD_INFO_EXIT` before Linux 6.15).
    Unknown,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Exited(c) => write!(f, "exited with status {c}"),
            Ended::Signaled(s) => write!(f, "killed by {}", sys::signal_name(*s)),
            Ended::Unknown => f.write_str("ended (how is unknown)"),
        }
    }
}

/// `struct pidfd_info` up to `exit_code` (PIDFD_INFO_SIZE_VER0, 64 bytes; Linux 6.13+,
/// `exit_code` filled since 6.15).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}
const _: () = assert!(std::mem::size_of::<PidfdInfo>() == 64);
const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(0xFF, 11, struct pidfd_info)` with the 64-byte struct.
const PIDFD_GET_INFO: u64 = 0xC000_0000 | (64 << 16) | (0xFF << 8) | 11;

impl PidFd {
    /// Opens a pidfd for `pid`. Race-free only while `pid` cannot have been reaped (our
    /// child not yet waited for); for other processes use [`PidFd::from_process_fd`].
    pub fn open(pid: i32) -> Result<PidFd> {
        // SAFETY: pidfd_open takes plain values; a non-negative result is a new fd we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            return Err(ProbeError::last_os(format!("pidfd_open {pid}")));
        }
        // SAFETY: fd is a fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(PidFd { pid, fd })
    }

    /// A copy of descriptor `target` of the process behind `owner` (`pidfd_getfd`): how
    /// the runner gets the pidfd a helper created with `clone3(CLONE_PIDFD)` for a child.
    pub fn from_process_fd(owner: &PidFd, target: RawFd, pid: i32) -> Result<PidFd> {
        // SAFETY: plain values; a non-negative result is a new fd we own.
        let fd =
            unsafe { libc::syscall(libc::SYS_pidfd_getfd, owner.fd.as_raw_fd(), target, 0) } as i32;
        if fd < 0 {
            return Err(ProbeError::last_os(format!("pidfd_getfd of pid {pid}")));
        }
        // SAFETY: fd is a fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(PidFd { pid, fd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Another descriptor for the same process.
    pub fn try_clone(&self) -> Result<PidFd> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| ProbeError::io(format!("dup pidfd of {}", self.pid), e))?;
        Ok(PidFd { pid: self.pid, fd })
    }

    /// `pidfd_send_signal`; a process that is already gone is not an error.
    pub fn signal(&self, sig: i32) {
        send_signal_raw(self.fd.as_raw_fd(), sig);
    }

    /// Whether the process has ended (the pidfd polls readable), waiting up to `timeout_ms`.
    pub fn wait_ended(&self, timeout_ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        r > 0 && p.revents != 0
    }

    /// Reaps our child (`waitid(P_PIDFD)`) and says how it ended; `None` while it runs or
    /// when it is not our child.
    pub fn reap_child(&self, block: bool) -> Option<Ended> {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::__WALL | if block { 0 } else { libc::WNOHANG };
        // SAFETY: valid pointers; P_PIDFD takes the fd as id.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        // SAFETY: si_pid and si_status are valid for SIGCHLD siginfo.
        if r != 0 || unsafe { info.si_pid() } == 0 {
            return None;
        }
        // SAFETY: as above.
        let status = unsafe { info.si_status() };
        Some(match info.si_code {
            libc::CLD_EXITED => Ended::Exited(status),
            _ => Ended::Signaled(status),
        })
    }

    /// How a process that is not our child ended, from `PIDFD_GET_INFO` (Linux 6.15+, once
    /// its parent reaped it).
    pub fn exit_info(&self) -> Ended {
        let mut info = PidfdInfo {
            mask: PIDFD_INFO_EXIT,
            ..Default::default()
        };
        // SAFETY: info is a valid, writable 64-byte struct as the ioctl's size says.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
        if r != 0 || info.mask & PIDFD_INFO_EXIT == 0 {
            return Ended::Unknown;
        }
        let st = info.exit_code;
        if libc::WIFSIGNALED(st) {
            Ended::Signaled(libc::WTERMSIG(st))
        } else {
            Ended::Exited(libc::WEXITSTATUS(st))
        }
    }
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`, ignoring errors: async-signal-safe, for the
/// signal path.
pub(crate) fn send_signal_raw(fd: RawFd, sig: i32) {
    // SAFETY: plain values; a stale or gone process gives ESRCH, which we ignore.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_killed_through_pidfd_reports_the_signal() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let fd = PidFd::open(child.id() as i32).expect("pidfd_open");
        assert!(!fd.wait_ended(0));
        fd.signal(libc::SIGKILL);
        assert!(fd.wait_ended(5000));
        assert_eq!(fd.reap_child(true), Some(Ended::Signaled(libc::SIGKILL)));
        // Reaped: the pidfd still refers to the ended process, never to a new one.
        fd.signal(libc::SIGKILL); // after the reap: harmless, never another process
        assert!(matches!(
            fd.exit_info(),
            Ended::Signaled(libc::SIGKILL) | Ended::Unknown
        ));
        std::mem::forget(child);
    }

    #[test]
    fn exit_status() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn sh");
        let fd = PidFd::open(child.id() as i32).expect("pidfd_open");
        assert_eq!(fd.reap_child(true), Some(Ended::Exited(7)));
        std::mem::forget(child);
    }
}
