//! The built-in example scenarios (every `examples/*.scn`, embedded at build time).

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
