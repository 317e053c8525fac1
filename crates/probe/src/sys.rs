//! Small wrappers over files and system calls, each failure carrying what was attempted.

use crate::error::{ProbeError, Result};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The whole file as text.
pub fn read_string(path: impl AsRef<Path>) -> Result<String> {
    let p = path.as_ref();
    fs::read_to_string(p).map_err(|e| ProbeError::io(format!("read {}", p.display()), e))
}

/// Writes `value` to a sysfs/procfs file in one write.
pub fn write_knob(path: impl AsRef<Path>, value: &str) -> Result<()> {
    let p = path.as_ref();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(p)
        .map_err(|e| ProbeError::io(format!("open {}", p.display()), e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| ProbeError::io(format!("write {value:?} to {}", p.display()), e))
}

/// Pins the calling thread (and the children it forks from now on) to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes inside it;
    // sched_setaffinity reads the set it is given.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if ok != 0 {
        return Err(ProbeError::last_os("sched_setaffinity"));
    }
    Ok(())
}

/// A sysfs knob's current value: the bracketed choice (`always [madvise] never`) or the
/// trimmed text.
pub fn knob_value(text: &str) -> String {
    if let (Some(a), Some(b)) = (text.find('['), text.find(']')) {
        if a < b {
            return text[a + 1..b].to_string();
        }
    }
    text.trim().to_string()
}

/// Reads a knob's current value.
pub fn read_knob(path: impl AsRef<Path>) -> Result<String> {
    Ok(knob_value(&read_string(path)?))
}

/// A C string from a path, or a typed error.
pub fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| ProbeError::Host(format!("path with NUL byte: {s:?}")))
}

/// `errno` of the last failed call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    read_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Name of a signal number (`SIGTERM`, `SIGRTMIN+3`, `signal 99`).
pub fn signal_name(sig: i32) -> String {
    const NAMES: [(i32, &str); 31] = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(s, _)| *s == sig) {
        return n.to_string();
    }
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - libc::SIGRTMIN());
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn knob_values() {
        assert_eq!(knob_value("always [madvise] never\n"), "madvise");
        assert_eq!(knob_value("511\n"), "511");
        assert_eq!(
            knob_value("always within_size advise [never] deny force"),
            "never"
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(libc::SIGQUIT), "SIGQUIT");
        assert_eq!(signal_name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
        assert_eq!(signal_name(99), "signal 99");
    }
}
