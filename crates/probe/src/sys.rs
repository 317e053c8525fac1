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

/// Name of a signal number.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        n => format!("signal {n}"),
    }
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
}
