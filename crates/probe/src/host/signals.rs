//! Signals. Once a probe starts acquiring the host, every terminating signal it can catch
//! (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1/2, SIGALRM, SIGPROF, SIGVTALRM, SIGXCPU,
//! SIGXFSZ, SIGIO, SIGPWR, SIGSTKFLT, the real-time signals, and SIGSEGV, SIGBUS, SIGILL,
//! SIGFPE, SIGABRT, SIGSYS, SIGTRAP; SIGPIPE stays ignored, as Rust programs have it, so
//! that a helper gone shows as EPIPE) goes to a handler that only writes the signal number
//! into a pipe; a thread reads it and then:
//!
//! - if this process does not hold the host (it is waiting for the lock, or has restored
//!   and released it), it exits at once with 128 + the signal, touching nothing;
//! - else it kills every helper through its pidfd, takes the host mutex for good (nothing
//!   changes the host after that), restores everything the journal records and exits.
//!
//! A handler of a fault signal (SIGSEGV, ...) never returns: the faulting thread waits
//! there while the signal thread restores and exits.

use crate::host::restore;
use crate::pidfd::{send_signal_raw, PidFd};
use crate::sys;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Serialises host changes with the signal thread: whoever restores takes it and keeps it.
static HOST_MUTEX: Mutex<()> = Mutex::new(());
/// This process holds the host lock and may have changed the host.
static HOLDING: AtomicBool = AtomicBool::new(false);
/// Write end of the signal pipe (-1 before setup).
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);
/// Thread id of the signal thread (its own faults must not wait for itself).
static SIGNAL_TID: AtomicI32 = AtomicI32::new(0);
/// Pidfds of every live helper (and the khugepaged keeper).
static HELPERS: Mutex<Vec<PidFd>> = Mutex::new(Vec::new());
static SETUP: Once = Once::new();

const FAULTS: [i32; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGSYS,
    libc::SIGTRAP,
];

const ASYNC: [i32; 14] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
];

/// Every signal the probe restores on.
pub fn handled_signals() -> Vec<i32> {
    let mut v: Vec<i32> = ASYNC.iter().chain(FAULTS.iter()).copied().collect();
    v.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    v
}

/// The host mutex: held while changing the host, so the signal thread never restores in
/// the middle of a change and nothing changes after it restored.
pub(crate) fn host_lock() -> MutexGuard<'static, ()> {
    HOST_MUTEX.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks whether this process holds the host (after the lock is taken; before it is
/// released). Only then does a signal restore.
pub(crate) fn set_holding(on: bool) {
    let _h = host_lock();
    HOLDING.store(on, Ordering::SeqCst);
}

pub(crate) fn holding() -> bool {
    HOLDING.load(Ordering::SeqCst)
}

/// Registers a helper to kill on a signal or restore.
pub(crate) fn register_helper(fd: &PidFd) {
    if let Ok(copy) = fd.try_clone() {
        helpers().push(copy);
    }
}

/// Forgets a helper (it is gone).
pub(crate) fn unregister_helper(pid: i32) {
    helpers().retain(|f| f.pid() != pid);
}

fn helpers() -> MutexGuard<'static, Vec<PidFd>> {
    HELPERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs every registered helper through its pidfd.
pub(crate) fn kill_helpers() {
    for f in helpers().iter() {
        send_signal_raw(f.raw(), libc::SIGKILL);
    }
}

/// Installs the handlers and starts the signal thread (once per process). Call before
/// waiting for the lock: until [`set_holding`] says otherwise, a signal just exits.
pub(crate) fn install() {
    SETUP.call_once(|| {
        let mut fds = [0i32; 2];
        // SAFETY: valid array; close-on-exec so helpers never inherit it.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            eprintln!(
                "foliolab probe: cannot create the signal pipe: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        // The reader blocks; only the handler's end stays non-blocking.
        // SAFETY: a valid fd.
        unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
        NOTIFY_FD.store(fds[1], Ordering::SeqCst);
        let reader = fds[0];
        // The signal thread blocks every signal (it starts with the mask set here), so a
        // process-directed signal always runs its handler in another thread.
        let old = block_all();
        std::thread::Builder::new()
            .name("foliolab-signals".into())
            .spawn(move || signal_thread(reader))
            .expect("the signal thread starts");
        restore_mask(&old);
        for sig in handled_signals() {
            set_handler(sig);
        }
    });
}

fn block_all() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation on locals.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

fn restore_mask(old: &libc::sigset_t) {
    // SAFETY: restoring a mask saved by block_all.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

fn set_handler(sig: i32) {
    // SAFETY: installing an async-signal-safe handler; sa is fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// The handler: async-signal-safe (write(2), gettid, pause).
extern "C" fn on_signal(sig: i32) {
    let fd = NOTIFY_FD.load(Ordering::Relaxed);
    let byte = sig as u8;
    // SAFETY: writing one byte from the stack to our pipe.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    if FAULTS.contains(&sig) {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        if me == SIGNAL_TID.load(Ordering::Relaxed) {
            // The signal thread itself faulted: nobody is left to restore; die.
            // SAFETY: resetting to the default action and re-raising.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }
        loop {
            // SAFETY: waiting for the signal thread to end the process.
            unsafe { libc::pause() };
        }
    }
}

fn signal_thread(reader: i32) {
    // SAFETY: gettid has no preconditions.
    SIGNAL_TID.store(
        unsafe { libc::syscall(libc::SYS_gettid) } as i32,
        Ordering::SeqCst,
    );
    let sig = loop {
        let mut b = 0u8;
        // SAFETY: reading one byte into a stack variable.
        let r = unsafe { libc::read(reader, (&mut b as *mut u8).cast(), 1) };
        if r == 1 {
            break b as i32;
        }
    };
    let name = sys::signal_name(sig);
    if !holding() {
        eprintln!("foliolab probe: stopped by {name} before holding the host; nothing was changed");
        // SAFETY: leaving the process.
        unsafe { libc::_exit(128 + sig) };
    }
    kill_helpers();
    let guard = host_lock_patiently();
    let code = match restore::restore_journal() {
        Ok(rep) if rep.failed.is_empty() => {
            eprintln!("foliolab probe: stopped by {name}; host restored");
            128 + sig
        }
        Ok(rep) => {
            eprintln!("foliolab probe: stopped by {name}; {}", rep.failure_text());
            128 + sig
        }
        Err(e) => {
            eprintln!("foliolab probe: stopped by {name}; restoring failed: {e}");
            128 + sig
        }
    };
    std::mem::forget(guard);
    // SAFETY: leaving the process.
    unsafe { libc::_exit(code) };
}

/// The host mutex, or after 10 s without it a note and `None`: the holder is a thread
/// stuck in a fault handler, which never changes the host again.
fn host_lock_patiently() -> Option<MutexGuard<'static, ()>> {
    let t = Instant::now();
    loop {
        match HOST_MUTEX.try_lock() {
            Ok(g) => return Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        if t.elapsed() > Duration::from_secs(10) {
            eprintln!("foliolab probe: the host mutex is held by a stuck thread; restoring anyway");
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
