//! Panics of the model are failures the fuzzer catches: their message (and where the panic
//! hook saw them, when [`install_quiet_hook`] is in place) becomes the failure message.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook with one that records the location for [`message`] instead of
/// printing (shrinking panics thousands of times). Process-wide; the CLI calls it.
pub fn install_quiet_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        LAST_LOCATION.with(|c| *c.borrow_mut() = loc);
    }));
}

/// The panic's message, with the location when the quiet hook recorded it.
pub fn message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    let loc = LAST_LOCATION.with(|c| c.borrow_mut().take());
    match loc {
        Some(l) => format!("panicked at {l}: {text}"),
        None => format!("panicked: {text}"),
    }
}
