//! zram0 as the probe's swap device: set up for a scenario's `swap`, switched off and reset
//! after it (and on restore).

use crate::error::{ProbeError, Result};
use crate::sys;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The zram device used for `swap`.
pub const ZRAM_DEV: &str = "/dev/zram0";
pub(crate) const ZRAM_SYS: &str = "/sys/block/zram0";

/// zram0's configured size in bytes (0: not set up).
pub fn disksize() -> u64 {
    sys::read_string(format!("{ZRAM_SYS}/disksize"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Active swap devices (`/proc/swaps` without the header).
pub fn active_swaps() -> Vec<String> {
    sys::read_string("/proc/swaps")
        .map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn swap_active() -> bool {
    active_swaps().iter().any(|d| d == ZRAM_DEV)
}

/// Whether zram0 exists and is unused (no size, not swap).
pub(crate) fn check_free() -> Result<()> {
    if !Path::new(ZRAM_SYS).exists() {
        return Err(ProbeError::Host("no /sys/block/zram0".into()));
    }
    if disksize() != 0 || swap_active() {
        return Err(ProbeError::Host("zram0 is already in use".into()));
    }
    Ok(())
}

fn swapoff() -> Result<()> {
    let c = sys::cstring(ZRAM_DEV)?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::swapoff(c.as_ptr()) } == 0 || sys::errno() == libc::EINVAL {
        return Ok(());
    }
    Err(ProbeError::last_os(format!("swapoff {ZRAM_DEV}")))
}

/// Writes `reset`, retrying for a second while the device is busy (a udev probe after
/// swapoff opens it briefly); busy after that means another process holds it open.
fn reset() -> Result<()> {
    let path = format!("{ZRAM_SYS}/reset");
    let mut last = None;
    for _ in 0..20 {
        match sys::write_knob(&path, "1") {
            Ok(()) => return Ok(()),
            Err(ProbeError::Io { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
                last = Some(source);
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EBUSY));
    Err(ProbeError::io(
        format!("reset zram0 (is {ZRAM_DEV} held open by another process?)"),
        e,
    ))
}

/// Switches zram0's swap off and resets it; true when there was something to undo.
pub(crate) fn off() -> Result<bool> {
    let active = swap_active();
    if active {
        swapoff()?;
    }
    let sized = disksize() != 0;
    if sized {
        reset()?;
    }
    Ok(active || sized)
}

/// Sets up `size_bytes` of zram swap (the caller journalled zram first).
pub(crate) fn on(size_bytes: u64) -> Result<()> {
    off()?;
    sys::write_knob(format!("{ZRAM_SYS}/disksize"), &size_bytes.to_string())?;
    write_swap_header(size_bytes)?;
    let c = sys::cstring(ZRAM_DEV)?;
    // SAFETY: valid path.
    if unsafe { libc::swapon(c.as_ptr(), 0) } != 0 {
        return Err(ProbeError::last_os("swapon /dev/zram0"));
    }
    Ok(())
}

/// A version-1 swap header (what mkswap writes) on /dev/zram0.
fn write_swap_header(size_bytes: u64) -> Result<()> {
    let mut page = vec![0u8; 4096];
    let last_page = (size_bytes / 4096).saturating_sub(1) as u32;
    page[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_ne_bytes());
    page[4086..4096].copy_from_slice(b"SWAPSPACE2");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(ZRAM_DEV)
        .map_err(|e| ProbeError::io(format!("open {ZRAM_DEV}"), e))?;
    f.write_all(&page)
        .and_then(|_| f.sync_all())
        .map_err(|e| ProbeError::io("write swap header", e))
}
