//! The library side of the `foliolab` command: loading scenarios (files, `-` for standard
//! input, the built-in set), running them on the model, canonical formatting, and what a
//! closed pipe does. The binary (`main.rs`) parses arguments and dispatches; tests and the
//! cargo-fuzz targets call the same code in-process.

pub mod builtin;
pub mod diff;
pub mod era;
pub mod fmt;
pub mod load;
pub mod mutate;
pub mod out;
pub mod pipe;
pub mod run;
pub mod scheme_arg;
pub mod show;
