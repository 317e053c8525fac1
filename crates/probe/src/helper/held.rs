//! What a helper holds for `pin` (an io_uring with the range registered as fixed buffers: a
//! longterm FOLL_PIN | FOLL_WRITE of every page) and `splice` (a pipe holding the pages by
//! vmsplice: plain references).

use super::{errno_text, Helper, PAGE};
use crate::protocol::Reply;

const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_UNREGISTER_BUFFERS: u32 = 1;
/// io_uring registers at most 1 GiB per buffer.
const RING_BUFFER_MAX: u64 = 1 << 30;

/// One held thing.
pub(super) enum Held {
    /// An io_uring with the range registered as fixed buffers.
    Ring { fd: i32, addr: u64, len: u64 },
    /// A pipe holding the spliced pages.
    Pipe { rd: i32, wr: i32, len: u64 },
}

impl Held {
    /// Drops the pins or page references now. Unregistering is synchronous: the pins drop
    /// here, not in io_uring's deferred ring teardown.
    pub(super) fn close(&self) {
        // SAFETY: closing fds this helper owns.
        unsafe {
            match *self {
                Held::Ring { fd, .. } => {
                    libc::syscall(
                        libc::SYS_io_uring_register,
                        fd,
                        IORING_UNREGISTER_BUFFERS,
                        0usize,
                        0u32,
                    );
                    libc::close(fd);
                }
                Held::Pipe { rd, wr, .. } => {
                    libc::close(rd);
                    libc::close(wr);
                }
            }
        }
    }

    /// Closes the descriptors a forked child inherited without releasing anything: a
    /// ring's buffers stay registered for the parent.
    pub(super) fn forget_in_child(&self) {
        // SAFETY: closing inherited fds.
        unsafe {
            match *self {
                Held::Ring { fd, .. } => {
                    libc::close(fd);
                }
                Held::Pipe { rd, wr, .. } => {
                    libc::close(rd);
                    libc::close(wr);
                }
            }
        }
    }

    fn values(&self) -> Result<Vec<u64>, String> {
        match *self {
            Held::Pipe { rd, len, .. } => tee_values(rd, len),
            Held::Ring { addr, len, .. } => ring_values(addr, len),
        }
    }
}

fn new_pipe(len: u64) -> Result<(i32, i32), String> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", errno_text()));
    }
    let want = len.max(PAGE).next_power_of_two();
    // SAFETY: valid fd.
    if unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, want as libc::c_int) } < 0 {
        let e = errno_text();
        // SAFETY: closing our fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        return Err(format!("F_SETPIPE_SZ {want}: {e}"));
    }
    Ok((fds[0], fds[1]))
}

fn ring_setup() -> Result<i32, String> {
    // SAFETY: io_uring_params is plain data; zeroed is valid input.
    let fd = unsafe {
        let mut p = [0u8; 120];
        libc::syscall(libc::SYS_io_uring_setup, 4u32, p.as_mut_ptr())
    } as i32;
    if fd < 0 {
        return Err(format!("io_uring_setup: {}", errno_text()));
    }
    Ok(fd)
}

/// The range as iovecs of at most [`RING_BUFFER_MAX`] bytes.
fn iovecs(addr: u64, len: u64) -> Vec<libc::iovec> {
    let mut v = Vec::new();
    let mut a = addr;
    while a < addr + len {
        let l = (addr + len - a).min(RING_BUFFER_MAX);
        v.push(libc::iovec {
            iov_base: a as *mut _,
            iov_len: l as usize,
        });
        a += l;
    }
    v
}

impl Helper {
    pub(super) fn pin(&mut self, name: String, addr: u64, len: u64) -> Result<Reply, String> {
        let fd = ring_setup()?;
        let iovs = iovecs(addr, len);
        // SAFETY: iovs is a valid array of iovec.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                fd,
                IORING_REGISTER_BUFFERS,
                iovs.as_ptr(),
                iovs.len() as u32,
            )
        };
        if r < 0 {
            let e = errno_text();
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
            return Err(format!("IORING_REGISTER_BUFFERS: {e}"));
        }
        self.held.insert(name, Held::Ring { fd, addr, len });
        Ok(Reply::Done)
    }

    pub(super) fn splice(&mut self, name: String, addr: u64, len: u64) -> Result<Reply, String> {
        let (rd, wr) = new_pipe(len)?;
        let mut done = 0u64;
        while done < len {
            let iov = libc::iovec {
                iov_base: (addr + done) as *mut _,
                iov_len: (len - done) as usize,
            };
            // SAFETY: iov describes scenario memory.
            let r = unsafe { libc::vmsplice(wr, &iov, 1, 0) };
            if r <= 0 {
                let e = errno_text();
                Held::Pipe { rd, wr, len }.close();
                return Err(format!("vmsplice: {e}"));
            }
            done += r as u64;
        }
        self.held.insert(name, Held::Pipe { rd, wr, len });
        Ok(Reply::Done)
    }

    pub(super) fn release(&mut self, name: &str) -> Result<Reply, String> {
        let h = self
            .held
            .remove(name)
            .ok_or_else(|| format!("nothing held as {name}"))?;
        h.close();
        Ok(Reply::Done)
    }

    pub(super) fn held_values(&mut self, name: &str) -> Result<Reply, String> {
        let h = self
            .held
            .get(name)
            .ok_or_else(|| format!("nothing held as {name}"))?;
        h.values().map(Reply::Held)
    }
}

/// Values of the pages in a pipe, read from a tee'd copy so the pipe keeps them.
fn tee_values(rd: i32, len: u64) -> Result<Vec<u64>, String> {
    let (trd, twr) = new_pipe(len)?;
    let res = read_tee(rd, trd, twr, len);
    // SAFETY: our fds.
    unsafe {
        libc::close(trd);
        libc::close(twr);
    }
    res
}

fn read_tee(rd: i32, trd: i32, twr: i32, len: u64) -> Result<Vec<u64>, String> {
    // SAFETY: valid pipe fds.
    let r = unsafe { libc::tee(rd, twr, len as usize, libc::SPLICE_F_NONBLOCK) };
    if r < 0 {
        return Err(format!("tee: {}", errno_text()));
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; PAGE as usize];
    let mut left = r as u64;
    while left > 0 {
        let want = left.min(PAGE) as usize;
        let mut got = 0usize;
        while got < want {
            // SAFETY: reading into buf within its length.
            let n = unsafe { libc::read(trd, buf[got..].as_mut_ptr().cast(), want - got) };
            if n <= 0 {
                return Err(format!("read tee: {}", errno_text()));
            }
            got += n as usize;
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&buf[..8]);
        out.push(u64::from_ne_bytes(first));
        left -= got as u64;
    }
    Ok(out)
}

/// Values of the pages registered as fixed buffers. The pinned pages stay mapped at the
/// registered addresses while the process keeps them (a longterm pin makes fork copy them
/// for the child), so they are read there through /proc/self/mem, which reports an
/// unmapped address as an error rather than faulting.
fn ring_values(addr: u64, len: u64) -> Result<Vec<u64>, String> {
    let f =
        std::fs::File::open("/proc/self/mem").map_err(|e| format!("open /proc/self/mem: {e}"))?;
    let mut out = Vec::new();
    let mut a = addr;
    while a < addr + len {
        let mut b = [0u8; 8];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, a)
            .map_err(|e| format!("read pinned page {a:#x}: {e}"))?;
        out.push(u64::from_ne_bytes(b));
        a += PAGE;
    }
    Ok(out)
}
