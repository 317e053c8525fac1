//! The helper's memory system calls: mmap, munmap, mprotect, madvise, mremap, and the access
//! loop of `read` and `write`.

use super::{errno_text, touch_stack, Helper, PAGE};
use crate::protocol::{MapTarget, Reply};
use foliolab_scenario::{Advice, Prot};
use std::ffi::CString;

const MADV_COLD: i32 = 20;
const MADV_PAGEOUT: i32 = 21;
const MADV_POPULATE_READ: i32 = 22;
const MADV_POPULATE_WRITE: i32 = 23;
const MADV_COLLAPSE: i32 = 25;

fn prot_bits(p: Prot) -> i32 {
    match p {
        Prot::None => libc::PROT_NONE,
        Prot::R => libc::PROT_READ,
        Prot::Rw => libc::PROT_READ | libc::PROT_WRITE,
        Prot::Rx => libc::PROT_READ | libc::PROT_EXEC,
        Prot::Rwx => libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
    }
}

fn advice_bits(a: Advice) -> i32 {
    match a {
        Advice::Hugepage => libc::MADV_HUGEPAGE,
        Advice::Nohugepage => libc::MADV_NOHUGEPAGE,
        Advice::Dontneed => libc::MADV_DONTNEED,
        Advice::Free => libc::MADV_FREE,
        Advice::Pageout => MADV_PAGEOUT,
        Advice::Cold => MADV_COLD,
        Advice::Willneed => libc::MADV_WILLNEED,
        Advice::Dontfork => libc::MADV_DONTFORK,
        Advice::Dofork => libc::MADV_DOFORK,
        Advice::Wipeonfork => libc::MADV_WIPEONFORK,
        Advice::Keeponfork => libc::MADV_KEEPONFORK,
        Advice::Collapse => MADV_COLLAPSE,
        Advice::PopulateRead => MADV_POPULATE_READ,
        Advice::PopulateWrite => MADV_POPULATE_WRITE,
    }
}

fn rusage_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        (r.ru_minflt + r.ru_majflt) as u64
    }
}

pub(super) fn unmap(addr: u64, len: u64) -> Result<Reply, String> {
    // SAFETY: unmapping a scenario range.
    if unsafe { libc::munmap(addr as *mut _, len as usize) } != 0 {
        return Err(format!("munmap: {}", errno_text()));
    }
    Ok(Reply::Done)
}

pub(super) fn protect(addr: u64, len: u64, prot: Prot) -> Result<Reply, String> {
    // SAFETY: changing protection of a scenario range.
    if unsafe { libc::mprotect(addr as *mut _, len as usize, prot_bits(prot)) } != 0 {
        return Err(format!("mprotect: {}", errno_text()));
    }
    Ok(Reply::Done)
}

/// madvise; a failed MADV_COLLAPSE is an answer, not an error (the kernel may refuse).
pub(super) fn advise(addr: u64, len: u64, advice: Advice) -> Result<Reply, String> {
    // SAFETY: madvise on a scenario range.
    let r = unsafe { libc::madvise(addr as *mut _, len as usize, advice_bits(advice)) };
    if r == 0 {
        return Ok(Reply::Done);
    }
    if advice == Advice::Collapse {
        return Ok(Reply::CollapseFailed(errno_text()));
    }
    Err(format!("madvise {}: {}", advice.name(), errno_text()))
}

pub(super) fn move_to(addr: u64, len: u64, to: u64) -> Result<Reply, String> {
    // SAFETY: mremap of a scenario range to a free scenario address.
    let p = unsafe {
        libc::mremap(
            addr as *mut _,
            len as usize,
            len as usize,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!("mremap: {}", errno_text()));
    }
    Ok(Reply::Done)
}

/// mremap of the page at `addr` to `new_len` bytes without MREMAP_MAYMOVE: the VMA grows
/// in place over unmapped pages, or the call fails; nothing moves.
pub(super) fn grow(addr: u64, new_len: u64) -> Result<Reply, String> {
    // SAFETY: mremap without MREMAP_MAYMOVE never moves or replaces a mapping.
    let p = unsafe { libc::mremap(addr as *mut _, PAGE as usize, new_len as usize, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("mremap (grow): {}", errno_text()));
    }
    Ok(Reply::Done)
}

impl Helper {
    pub(super) fn map(
        &mut self,
        addr: u64,
        len: u64,
        target: &MapTarget,
        prot: Prot,
    ) -> Result<Reply, String> {
        let (flags, fd, offset) = match target {
            MapTarget::Anon => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0),
            MapTarget::Shmem => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0),
            MapTarget::File {
                path,
                shared,
                offset,
            } => (
                if *shared {
                    libc::MAP_SHARED
                } else {
                    libc::MAP_PRIVATE
                },
                self.file_fd(path)?,
                *offset,
            ),
        };
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                addr as *mut _,
                len as usize,
                prot_bits(prot),
                flags | libc::MAP_FIXED_NOREPLACE,
                fd,
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", errno_text()));
        }
        if p as u64 != addr {
            return Err(format!("mmap placed at {p:?}, not {addr:#x}"));
        }
        Ok(Reply::Done)
    }

    fn file_fd(&mut self, path: &str) -> Result<i32, String> {
        if let Some(&fd) = self.files.get(path) {
            return Ok(fd);
        }
        let c = CString::new(path).map_err(|_| "bad path".to_string())?;
        // SAFETY: valid path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("open {path}: {}", errno_text()));
        }
        self.files.insert(path.to_string(), fd);
        Ok(fd)
    }

    /// Runs one access loop over every page of the range (a store of `write`, else a load
    /// into `values`), measuring faults around it with nothing else faulting inside.
    /// Returns (faults, pages).
    pub(super) fn access(&mut self, addr: u64, len: u64, write: Option<u64>) -> (u64, usize) {
        let n = (len / PAGE) as usize;
        if write.is_none() {
            if self.values.len() < n {
                self.values.resize(n, 0);
            }
            // Touch the buffer now, so the loop's stores into it never fault.
            self.values[..n].fill(0);
        }
        touch_stack();
        let before = rusage_faults();
        let base = addr as *mut u64;
        let vals = self.values.as_mut_ptr();
        for i in 0..n {
            // SAFETY: the runner only sends ranges inside regions it mapped; a fault on a
            // hole or a protected page ends the helper through the SIGSEGV handler, which
            // is the run error the spec asks for. `vals` has at least n elements on reads.
            unsafe {
                let p = base.add(i * (PAGE as usize / 8));
                match write {
                    Some(v) => std::ptr::write_volatile(p, v),
                    None => *vals.add(i) = std::ptr::read_volatile(p),
                }
            }
        }
        (rusage_faults() - before, n)
    }
}
