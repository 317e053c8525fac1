//! `fork`: the helper forks with `clone3(CLONE_PIDFD)`, so a pidfd for the child exists
//! from the first instant (the runner copies it with `pidfd_getfd` and never refers to the
//! child by pid). The child serves its own command pipes.

use super::{errno_text, Helper};
use crate::protocol::Reply;
use std::ffi::CString;

/// `struct clone_args` up to `tls` (CLONE_ARGS_SIZE_VER0).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}
const _: () = assert!(std::mem::size_of::<CloneArgs>() == 64);

fn open_path(path: &str, flags: i32) -> Result<i32, String> {
    let c = CString::new(path).map_err(|_| "bad path".to_string())?;
    // SAFETY: valid path.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("open {path}: {}", errno_text()));
    }
    Ok(fd)
}

/// fork(2) as clone3 with CLONE_PIDFD: (pid, pidfd) in the parent, (0, -1) in the child.
/// The helper is single-threaded, so the child may go on running Rust code.
fn clone_with_pidfd() -> Result<(i32, i32), String> {
    let mut pidfd: i32 = -1;
    let args = CloneArgs {
        flags: libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: args is a valid clone_args of the size given; without a stack this is fork.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    } as i32;
    if pid < 0 {
        return Err(format!("clone3: {}", errno_text()));
    }
    Ok((pid, if pid == 0 { -1 } else { pidfd }))
}

impl Helper {
    pub(super) fn fork(&mut self, cmd_path: &str, resp_path: &str) -> Result<Reply, String> {
        let cfd = open_path(cmd_path, libc::O_RDONLY)?;
        let rfd = match open_path(resp_path, libc::O_WRONLY) {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: our fd.
                unsafe { libc::close(cfd) };
                return Err(e);
            }
        };
        let (pid, pidfd) = clone_with_pidfd()?;
        if pid == 0 {
            self.become_child(cfd, rfd);
            return Ok(Reply::Ready {
                pid: std::process::id(),
            });
        }
        // SAFETY: fds we own; the child has its copies.
        unsafe {
            libc::close(cfd);
            libc::close(rfd);
        }
        self.child_pidfd = Some(pidfd);
        Ok(Reply::Forked {
            pid: pid as u32,
            pidfd,
        })
    }

    /// The child: its own command pipes on stdin/stdout; no pins, pipes or pidfds of the
    /// parent.
    fn become_child(&mut self, cfd: i32, rfd: i32) {
        // SAFETY: fds we own; dup2 clears close-on-exec on 0 and 1.
        unsafe {
            libc::dup2(cfd, 0);
            libc::dup2(rfd, 1);
            libc::close(cfd);
            libc::close(rfd);
        }
        for h in std::mem::take(&mut self.held).values() {
            h.forget_in_child();
        }
        if let Some(fd) = self.child_pidfd.take() {
            // SAFETY: an inherited pidfd of a sibling.
            unsafe { libc::close(fd) };
        }
        self.input.clear();
    }
}
