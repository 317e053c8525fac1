//! A closed standard output (`foliolab run | head`) ends the command quietly with exit 0, as
//! ripgrep does: the library's writers return the `BrokenPipe` error up to `main`, and the
//! `println!` of the other commands, which panics on a closed stdout, is caught here after
//! unwinding has run every destructor (the probe's host guard restores the host on the way).

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

/// True when `e` is, or is caused by, a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The panic `print!` raises on a closed stdout.
fn is_pipe_panic(payload: &(dyn Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    text.is_some_and(|t| t.starts_with("failed printing to stdout") && t.contains("Broken pipe"))
}

/// Runs the command `f`; a closed stdout makes it exit 0 without a message, any other panic
/// goes on as usual.
pub fn quiet_on_broken_pipe(f: impl FnOnce() -> u8) -> u8 {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !is_pipe_panic(info.payload()) {
            default_hook(info);
        }
    }));
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(payload) if is_pipe_panic(&*payload) => 0,
        Err(payload) => panic::resume_unwind(payload),
    }
}
