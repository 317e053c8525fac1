//! The traced command: forked in a process group of its own, held until tracing is on,
//! then exec'd. The recorder kills the group on every path that ends the recording early.

use crate::error::{ProbeError, Result};
use std::ffi::CString;

pub struct Command {
    pub pid: i32,
    go: i32,
    pub exit: Option<i32>,
}

impl Command {
    /// Forks; the child waits for [`Command::release`] and then execs `argv` (PATH searched).
    pub fn fork(argv: &[String]) -> Result<Command> {
        if argv.is_empty() {
            return Err(ProbeError::Host("no command to record".into()));
        }
        let args: Vec<CString> = argv
            .iter()
            .map(|a| crate::sys::cstring(a))
            .collect::<Result<_>>()?;
        let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let mut fds = [0i32; 2];
        // SAFETY: a valid array for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(ProbeError::last_os("pipe2"));
        }
        // SAFETY: the child only calls async-signal-safe functions before execvp.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(ProbeError::last_os("fork"));
        }
        if pid == 0 {
            // SAFETY: async-signal-safe calls on our own descriptors and memory.
            unsafe {
                libc::setpgid(0, 0);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::close(fds[1]);
                let mut b = 0u8;
                let n = libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                if n == 1 {
                    libc::execvp(ptrs[0], ptrs.as_ptr());
                }
                libc::_exit(127);
            }
        }
        // SAFETY: our descriptor.
        unsafe {
            libc::setpgid(pid, pid);
            libc::close(fds[0]);
        }
        Ok(Command {
            pid,
            go: fds[1],
            exit: None,
        })
    }

    /// Lets the child exec.
    pub fn release(&mut self) -> Result<()> {
        let b = 1u8;
        // SAFETY: writing one byte from a local.
        let n = unsafe { libc::write(self.go, (&b as *const u8).cast(), 1) };
        // SAFETY: our descriptor.
        unsafe { libc::close(self.go) };
        self.go = -1;
        if n != 1 {
            return Err(ProbeError::last_os("start the command"));
        }
        Ok(())
    }

    /// Reaps the command if it exited; its exit status (128 + signal when killed).
    pub fn poll(&mut self) -> Option<i32> {
        if self.exit.is_none() {
            let mut st = 0;
            // SAFETY: waitpid on our child.
            let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
            if r == self.pid {
                let code = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else {
                    128 + libc::WTERMSIG(st)
                };
                self.exit = Some(code);
            }
        }
        self.exit
    }

    /// Kills the command's process group and reaps the command.
    pub fn kill(&mut self) {
        if self.exit.is_some() {
            return;
        }
        // SAFETY: signalling the group we created.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let mut st = 0;
        // SAFETY: waitpid on our child.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
        self.exit = Some(128 + libc::SIGKILL);
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        if self.go >= 0 {
            // SAFETY: our descriptor; the child then exits without exec.
            unsafe { libc::close(self.go) };
        }
        self.kill();
    }
}
