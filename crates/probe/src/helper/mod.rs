//! The helper process: one per scenario process. It is started by exec (the CLI's hidden
//! `__probe-helper` subcommand calls [`helper_main`]), forks for `fork`, and performs the
//! system calls the runner sends it as [`Command`] lines on stdin, answering one [`Reply`]
//! line each on stdout. It never prints anything else on stdout.

mod fork;
mod held;
mod memory;

use crate::protocol::{Command, Reply};
use held::Held;
use std::collections::BTreeMap;

const PAGE: u64 = 4096;

struct Helper {
    input: Vec<u8>,
    held: BTreeMap<String, Held>,
    /// Files mapped, by the path the runner gave, opened once.
    files: BTreeMap<String, i32>,
    /// Preallocated buffer for values read, so the access loop never allocates.
    values: Vec<u64>,
    /// The pidfd of the child the last `fork` created, kept until the next command so the
    /// runner can copy it (`pidfd_getfd`).
    child_pidfd: Option<i32>,
}

pub(crate) fn errno_text() -> String {
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

fn reply(r: &Reply) {
    let mut v = r.encode().into_bytes();
    v.push(b'\n');
    if !write_all(1, &v) {
        // SAFETY: the runner is gone; leave at once.
        unsafe { libc::_exit(0) };
    }
}

/// Reports a fault of the access loop (a hole, `prot=none`, a read-only page) and ends the
/// process: the run error the scenario language asks for.
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

    /// Performs one command; `Err` is the reply's reason.
    fn perform(&mut self, cmd: Command) -> Result<Reply, String> {
        match cmd {
            Command::Map {
                addr,
                len,
                target,
                prot,
            } => self.map(addr, len, &target, prot),
            Command::Unmap { addr, len } => memory::unmap(addr, len),
            Command::Protect { addr, len, prot } => memory::protect(addr, len, prot),
            Command::Advise { addr, len, advice } => memory::advise(addr, len, advice),
            Command::Move { addr, len, to } => memory::move_to(addr, len, to),
            Command::Grow { addr, new_len } => memory::grow(addr, new_len),
            Command::Write { addr, len, value } => {
                Ok(Reply::Faults(self.access(addr, len, Some(value)).0))
            }
            Command::Read { addr, len } => {
                let (faults, n) = self.access(addr, len, None);
                Ok(Reply::Values {
                    faults,
                    values: self.values[..n].to_vec(),
                })
            }
            Command::Fork {
                cmd_path,
                resp_path,
            } => self.fork(&cmd_path, &resp_path),
            Command::Pin { name, addr, len } => self.pin(name, addr, len),
            Command::Splice { name, addr, len } => self.splice(name, addr, len),
            Command::Release { name } => self.release(&name),
            Command::Held { name } => self.held_values(&name),
            Command::Exit => self.exit(),
        }
    }

    /// Releases what the process holds and leaves, after saying so.
    fn exit(&mut self) -> ! {
        for h in std::mem::take(&mut self.held).values() {
            h.close();
        }
        reply(&Reply::Done);
        // SAFETY: leaving the process.
        unsafe { libc::_exit(0) };
    }

    fn serve(&mut self) -> ! {
        while let Some(line) = self.read_line() {
            if let Some(fd) = self.child_pidfd.take() {
                // SAFETY: our copy of a forked child's pidfd; the runner has its own now.
                unsafe { libc::close(fd) };
            }
            let r = Command::decode(&line).and_then(|c| self.perform(c));
            reply(&r.unwrap_or_else(Reply::Err));
        }
        // SAFETY: the runner closed the pipe: leave.
        unsafe { libc::_exit(0) }
    }
}

fn pin_cpu() {
    if let Some(cpu) = std::env::var("FOLIOLAB_PROBE_CPU")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        // Best effort, as before: an unusable CPU number leaves the helper unpinned.
        let _ = crate::sys::pin_to_cpu(cpu);
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

/// Signals and allocator settings, before anything else runs.
fn setup_process() {
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
}

/// The helper's own memory first: 24 MiB of heap touched and kept, and the stack, so that
/// nothing the helper does later faults outside the scenario's regions.
fn prefault_own_memory() {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..96 {
        let mut b = vec![0u8; 256 * 1024];
        for i in (0..b.len()).step_by(PAGE as usize) {
            b[i] = 1;
        }
        blocks.push(std::hint::black_box(b));
    }
    drop(blocks);
    touch_stack();
}

/// The helper process's main function: never returns. The CLI calls it for the hidden
/// `__probe-helper` subcommand. With THP still disabled (inherited from the runner), it
/// allocates and touches its own memory, then clears PR_SET_THP_DISABLE, marks its own
/// mappings MADV_NOHUGEPAGE, pins itself to one CPU and serves commands.
pub fn helper_main() -> ! {
    setup_process();
    pin_cpu();
    prefault_own_memory();
    let mut h = Helper {
        input: Vec::with_capacity(1 << 16),
        held: BTreeMap::new(),
        files: BTreeMap::new(),
        values: Vec::with_capacity(1 << 18),
        child_pidfd: None,
    };
    // Touched now, while THP is still disabled for this process.
    h.values.resize(1 << 18, 0);
    // SAFETY: prctl with plain values.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) };
    no_thp_on_own_mappings();
    reply(&Reply::Ready {
        pid: std::process::id(),
    });
    h.serve()
}
