//! The helper process: one per scenario process. It is started by exec (the CLI's hidden
//! `__probe-helper` subcommand calls [`helper_main`]), forks for `fork`, and performs the
//! system calls the runner sends it as text lines on stdin, answering one line on stdout:
//! `ok ...` or `err ...`. It never prints anything else on stdout.

use std::collections::HashMap;
use std::ffi::CString;

const PAGE: u64 = 4096;
const MADV_COLD: i32 = 20;
const MADV_PAGEOUT: i32 = 21;
const MADV_POPULATE_READ: i32 = 22;
const MADV_POPULATE_WRITE: i32 = 23;
const MADV_COLLAPSE: i32 = 25;
const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_UNREGISTER_BUFFERS: u32 = 1;

/// What a helper holds for `pin` and `splice`.
enum Held {
    /// An io_uring with the range registered as fixed buffers.
    Ring { fd: i32, addr: u64, len: u64 },
    /// The read end of a pipe holding the spliced pages (write end closed).
    Pipe { rd: i32, wr: i32, len: u64 },
}

struct Helper {
    input: Vec<u8>,
    held: HashMap<String, Held>,
    files: HashMap<String, i32>,
    /// Preallocated buffer for values read, so the access loop never allocates.
    values: Vec<u64>,
}

fn errno_text() -> String {
    let e = std::io::Error::last_os_error();
    format!("errno {} ({e})", e.raw_os_error().unwrap_or(0))
}

fn write_all(fd: i32, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        // SAFETY: b is a valid slice.
        let r = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        b = &b[r as usize..];
    }
    true
}

fn reply(s: &str) {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(b'\n');
    if !write_all(1, &v) {
        // SAFETY: the runner is gone; leave at once.
        unsafe { libc::_exit(0) };
    }
}

extern "C" fn on_fault(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Async-signal-safe: format into a stack buffer and write(2) it.
    let mut buf = [0u8; 64];
    let name: &[u8] = if sig == libc::SIGBUS {
        b"err SIGBUS at 0x"
    } else {
        b"err SIGSEGV at 0x"
    };
    buf[..name.len()].copy_from_slice(name);
    let mut n = name.len();
    // SAFETY: info is provided by the kernel for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as u64;
    for i in (0..16).rev() {
        let d = ((addr >> (i * 4)) & 0xf) as u8;
        buf[n] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        n += 1;
    }
    buf[n] = b'\n';
    n += 1;
    // SAFETY: writing a stack buffer, then exiting.
    unsafe {
        libc::write(1, buf.as_ptr().cast(), n);
        libc::_exit(3);
    }
}

#[inline(never)]
fn touch_stack() {
    let mut a = [0u8; 128 * 1024];
    for i in (0..a.len()).step_by(PAGE as usize) {
        // SAFETY: in-bounds write to a local array.
        unsafe { std::ptr::write_volatile(a.as_mut_ptr().add(i), 1) };
    }
    std::hint::black_box(&a);
}

fn rusage_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct.
    unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        (r.ru_minflt + r.ru_majflt) as u64
    }
}

fn parse_u64(s: Option<&str>) -> Result<u64, String> {
    let s = s.ok_or("missing argument")?;
    let r = if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|_| format!("bad number {s}"))
}

fn prot_bits(p: &str) -> Result<i32, String> {
    Ok(match p {
        "none" => libc::PROT_NONE,
        "r" => libc::PROT_READ,
        "rw" => libc::PROT_READ | libc::PROT_WRITE,
        "rx" => libc::PROT_READ | libc::PROT_EXEC,
        "rwx" => libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
        _ => return Err(format!("bad prot {p}")),
    })
}

fn advice_bits(a: &str) -> Result<i32, String> {
    Ok(match a {
        "hugepage" => libc::MADV_HUGEPAGE,
        "nohugepage" => libc::MADV_NOHUGEPAGE,
        "dontneed" => libc::MADV_DONTNEED,
        "free" => libc::MADV_FREE,
        "pageout" => MADV_PAGEOUT,
        "cold" => MADV_COLD,
        "willneed" => libc::MADV_WILLNEED,
        "dontfork" => libc::MADV_DONTFORK,
        "dofork" => libc::MADV_DOFORK,
        "wipeonfork" => libc::MADV_WIPEONFORK,
        "keeponfork" => libc::MADV_KEEPONFORK,
        "collapse" => MADV_COLLAPSE,
        "populate_read" => MADV_POPULATE_READ,
        "populate_write" => MADV_POPULATE_WRITE,
        _ => return Err(format!("bad advice {a}")),
    })
}

fn close_held(h: &Held) {
    // SAFETY: closing fds this helper owns; unregistering is synchronous (the pins drop now,
    // not in io_uring's deferred ring teardown).
    unsafe {
        match *h {
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

impl Helper {
    fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            let mut buf = [0u8; 4096];
            // SAFETY: reading into a stack buffer.
            let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if r <= 0 {
                return None;
            }
            self.input.extend_from_slice(&buf[..r as usize]);
        }
    }

    /// Runs one access loop, measuring faults around it with nothing else faulting inside.
    fn access(&mut self, addr: u64, len: u64, write: Option<u64>) -> Result<(u64, usize), String> {
        let n = (len / PAGE) as usize;
        if self.values.len() < n {
            self.values.resize(n, 0);
        }
        self.values[..n].fill(0);
        touch_stack();
        let before = rusage_faults();
        let base = addr as *mut u64;
        let vals = self.values.as_mut_ptr();
        for i in 0..n {
            // SAFETY: the runner only sends ranges inside regions it mapped; a fault on a
            // hole or a protected page ends the helper through the SIGSEGV handler, which
            // is the run error the spec asks for. `vals` has n elements.
            unsafe {
                let p = base.add(i * (PAGE as usize / 8));
                match write {
                    Some(v) => std::ptr::write_volatile(p, v),
                    None => *vals.add(i) = std::ptr::read_volatile(p),
                }
            }
        }
        let after = rusage_faults();
        Ok((after - before, n))
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

    /// `map ADDR LEN KIND PROT [PATH [FILE_OFFSET]]`.
    fn map(&mut self, it: &mut std::str::Split<'_, char>) -> Result<String, String> {
        let addr = parse_u64(it.next())?;
        let len = parse_u64(it.next())?;
        let kind = it.next().ok_or("missing kind")?;
        let prot = prot_bits(it.next().ok_or("missing prot")?)?;
        let (flags, fd) = match kind {
            "anon" => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
            "shmem" => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
            "fprivate" => (
                libc::MAP_PRIVATE,
                self.file_fd(it.next().ok_or("missing path")?)?,
            ),
            "fshared" => (
                libc::MAP_SHARED,
                self.file_fd(it.next().ok_or("missing path")?)?,
            ),
            _ => return Err(format!("bad kind {kind}")),
        };
        // Version 2: the file offset of a file mapping (optional).
        let file_off = match it.next() {
            Some(o) => parse_u64(Some(o))?,
            None => 0,
        };
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                addr as *mut _,
                len as usize,
                prot,
                flags | libc::MAP_FIXED_NOREPLACE,
                fd,
                file_off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", errno_text()));
        }
        if p as u64 != addr {
            return Err(format!("mmap placed at {p:?}, not {addr:#x}"));
        }
        Ok(String::new())
    }

    fn command(&mut self, line: &str) -> Result<String, String> {
        let mut it = line.split(' ');
        let cmd = it.next().unwrap_or("");
        match cmd {
            "map" => self.map(&mut it),
            "grow" => grow(parse_u64(it.next())?, parse_u64(it.next())?),
            "unmap" => {
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
                // SAFETY: unmapping a scenario range.
                if unsafe { libc::munmap(addr as *mut _, len as usize) } != 0 {
                    return Err(format!("munmap: {}", errno_text()));
                }
                Ok(String::new())
            }
            "protect" => {
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
                let prot = prot_bits(it.next().ok_or("missing prot")?)?;
                // SAFETY: changing protection of a scenario range.
                if unsafe { libc::mprotect(addr as *mut _, len as usize, prot) } != 0 {
                    return Err(format!("mprotect: {}", errno_text()));
                }
                Ok(String::new())
            }
            "advise" => {
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
                let name = it.next().ok_or("missing advice")?;
                let adv = advice_bits(name)?;
                // SAFETY: madvise on a scenario range.
                let r = unsafe { libc::madvise(addr as *mut _, len as usize, adv) };
                if r != 0 {
                    if adv == MADV_COLLAPSE {
                        return Ok(format!("collapse-failed {}", errno_text()));
                    }
                    return Err(format!("madvise {name}: {}", errno_text()));
                }
                Ok(String::new())
            }
            "move" => {
                let (addr, len, to) = (
                    parse_u64(it.next())?,
                    parse_u64(it.next())?,
                    parse_u64(it.next())?,
                );
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
                Ok(String::new())
            }
            "write" => {
                let (addr, len, v) = (
                    parse_u64(it.next())?,
                    parse_u64(it.next())?,
                    parse_u64(it.next())?,
                );
                let (faults, _) = self.access(addr, len, Some(v))?;
                Ok(faults.to_string())
            }
            "read" => {
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
                let (faults, n) = self.access(addr, len, None)?;
                let mut s = faults.to_string();
                for v in &self.values[..n] {
                    s.push_str(&format!(" {v:x}"));
                }
                Ok(s)
            }
            "fork" => {
                let cmd_path = it.next().ok_or("missing path")?;
                let resp_path = it.next().ok_or("missing path")?;
                let c1 = CString::new(cmd_path).map_err(|_| "bad path")?;
                let c2 = CString::new(resp_path).map_err(|_| "bad path")?;
                // SAFETY: valid paths.
                let (cfd, rfd) = unsafe {
                    (
                        libc::open(c1.as_ptr(), libc::O_RDONLY),
                        libc::open(c2.as_ptr(), libc::O_WRONLY),
                    )
                };
                if cfd < 0 || rfd < 0 {
                    return Err(format!("open child pipes: {}", errno_text()));
                }
                // SAFETY: the helper is single-threaded.
                let pid = unsafe { libc::fork() };
                if pid < 0 {
                    return Err(format!("fork: {}", errno_text()));
                }
                if pid == 0 {
                    // The child: its own command pipes; no pins or pipes of the parent.
                    // SAFETY: fds we own.
                    unsafe {
                        libc::dup2(cfd, 0);
                        libc::dup2(rfd, 1);
                        libc::close(cfd);
                        libc::close(rfd);
                    }
                    for (_, h) in self.held.drain() {
                        match h {
                            // SAFETY: closing inherited fds; the ring's buffers stay
                            // registered for the parent.
                            Held::Ring { fd, .. } => unsafe {
                                libc::close(fd);
                            },
                            Held::Pipe { rd, wr, .. } => unsafe {
                                libc::close(rd);
                                libc::close(wr);
                            },
                        }
                    }
                    self.input.clear();
                    return Ok("child".to_string());
                }
                // SAFETY: fds we own.
                unsafe {
                    libc::close(cfd);
                    libc::close(rfd);
                }
                Ok(pid.to_string())
            }
            "pin" => {
                let name = it.next().ok_or("missing name")?.to_string();
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
                // SAFETY: io_uring_params is plain data; zeroed is valid input.
                let fd = unsafe {
                    let mut p = [0u8; 120];
                    libc::syscall(libc::SYS_io_uring_setup, 4u32, p.as_mut_ptr())
                } as i32;
                if fd < 0 {
                    return Err(format!("io_uring_setup: {}", errno_text()));
                }
                let max = 1u64 << 30;
                let mut iovs = Vec::new();
                let mut a = addr;
                while a < addr + len {
                    let l = (addr + len - a).min(max);
                    iovs.push(libc::iovec {
                        iov_base: a as *mut _,
                        iov_len: l as usize,
                    });
                    a += l;
                }
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
                Ok(String::new())
            }
            "splice" => {
                let name = it.next().ok_or("missing name")?.to_string();
                let (addr, len) = (parse_u64(it.next())?, parse_u64(it.next())?);
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
                        close_held(&Held::Pipe { rd, wr, len });
                        return Err(format!("vmsplice: {e}"));
                    }
                    done += r as u64;
                }
                self.held.insert(name, Held::Pipe { rd, wr, len });
                Ok(String::new())
            }
            "release" => {
                let name = it.next().ok_or("missing name")?;
                let h = self
                    .held
                    .remove(name)
                    .ok_or_else(|| format!("nothing held as {name}"))?;
                close_held(&h);
                Ok(String::new())
            }
            "held" => {
                let name = it.next().ok_or("missing name")?;
                let vals = match self
                    .held
                    .get(name)
                    .ok_or_else(|| format!("nothing held as {name}"))?
                {
                    Held::Pipe { rd, len, .. } => tee_values(*rd, *len)?,
                    Held::Ring { fd, addr, len } => ring_values(*fd, *addr, *len)?,
                };
                Ok(vals
                    .iter()
                    .map(|v| format!("{v:x}"))
                    .collect::<Vec<_>>()
                    .join(" "))
            }
            "exit" => {
                for (_, h) in self.held.drain() {
                    close_held(&h);
                }
                reply("ok");
                // SAFETY: leaving the process.
                unsafe { libc::_exit(0) };
            }
            "ping" => Ok(std::process::id().to_string()),
            _ => Err(format!("unknown command {cmd}")),
        }
    }
}

/// `grow ADDR NEW_LEN`: mremap of the page at ADDR to NEW_LEN bytes in place (version 2).
fn grow(addr: u64, new_len: u64) -> Result<String, String> {
    // SAFETY: mremap without MREMAP_MAYMOVE never moves anything: it grows the VMA in place
    // over unmapped pages or fails.
    let p = unsafe { libc::mremap(addr as *mut _, PAGE as usize, new_len as usize, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("mremap (grow): {}", errno_text()));
    }
    Ok(String::new())
}

/// Values of the pages in a pipe, read from a tee'd copy so the pipe keeps them.
fn tee_values(rd: i32, len: u64) -> Result<Vec<u64>, String> {
    let (trd, twr) = new_pipe(len)?;
    let res = (|| {
        // SAFETY: valid pipe fds.
        let r = unsafe { libc::tee(rd, twr, len as usize, libc::SPLICE_F_NONBLOCK) };
        if r < 0 {
            return Err(format!("tee: {}", errno_text()));
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; PAGE as usize];
        let mut left = r as u64;
        while left > 0 {
            let mut got = 0usize;
            while got < PAGE as usize && (got as u64) < left {
                // SAFETY: reading into buf.
                let n =
                    unsafe { libc::read(trd, buf[got..].as_mut_ptr().cast(), PAGE as usize - got) };
                if n <= 0 {
                    return Err(format!("read tee: {}", errno_text()));
                }
                got += n as usize;
            }
            out.push(u64::from_ne_bytes([
                buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
            ]));
            left -= got as u64;
        }
        Ok(out)
    })();
    // SAFETY: our fds.
    unsafe {
        libc::close(trd);
        libc::close(twr);
    }
    res
}

/// Values of the pages registered as fixed buffers. The pinned pages stay mapped at the
/// registered addresses while the process keeps them (a longterm pin makes fork copy them
/// for the child), so they are read there through /proc/self/mem, which reports an
/// unmapped address as an error rather than faulting.
fn ring_values(_fd: i32, addr: u64, len: u64) -> Result<Vec<u64>, String> {
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

fn pin_cpu() {
    if let Some(cpu) = std::env::var("FOLIOLAB_PROBE_CPU")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        // SAFETY: cpu_set_t manipulation on a local.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

fn no_thp_on_own_mappings() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for l in maps.lines() {
        let Some((a, b)) = l.split_whitespace().next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
            // SAFETY: advice only; errors (special mappings) are ignored.
            unsafe { libc::madvise(a as *mut _, (b - a) as usize, libc::MADV_NOHUGEPAGE) };
        }
    }
}

/// The helper process's main function: never returns. The CLI calls it for the hidden
/// `__probe-helper` subcommand. With THP still disabled (inherited from the runner), it
/// allocates and touches its own memory, then clears PR_SET_THP_DISABLE, marks its own
/// mappings MADV_NOHUGEPAGE, pins itself to one CPU and serves commands.
pub fn helper_main() -> ! {
    // SAFETY: process-wide setup before anything else runs; all calls take plain values.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fault as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
    pin_cpu();
    // Own memory first: 24 MiB of heap touched and kept, and the stack.
    {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        for _ in 0..96 {
            let mut b = vec![0u8; 256 * 1024];
            for i in (0..b.len()).step_by(PAGE as usize) {
                b[i] = 1;
            }
            blocks.push(std::hint::black_box(b));
        }
        drop(blocks);
    }
    touch_stack();
    let mut h = Helper {
        input: Vec::with_capacity(1 << 16),
        held: HashMap::new(),
        files: HashMap::new(),
        values: Vec::with_capacity(1 << 18),
    };
    h.values.resize(1 << 18, 0);
    // SAFETY: prctl with plain values.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
    no_thp_on_own_mappings();
    reply(&format!("ok {}", std::process::id()));
    while let Some(line) = h.read_line() {
        match h.command(&line) {
            Ok(s) if s.is_empty() => reply("ok"),
            Ok(s) => reply(&format!("ok {s}")),
            Err(e) => reply(&format!("err {e}")),
        }
    }
    // SAFETY: the runner closed the pipe: leave.
    unsafe { libc::_exit(0) }
}
