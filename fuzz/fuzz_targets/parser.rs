//! Any text: the parser returns a scenario or a positioned error, never panics; validation
//! never panics; a parsed scenario prints canonically and parses back to the same program.
#![no_main]

use foliolab_scenario::{parse, print, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = parse("fuzz.scn", text) else {
        return;
    };
    let _ = validate(&s);
    let printed = print(&s);
    let back = parse("printed.scn", &printed)
        .unwrap_or_else(|e| panic!("the printed form does not parse: {e}\n{printed}"));
    assert!(back.same_program(&s), "print/parse changed the program:\n{printed}");
});
