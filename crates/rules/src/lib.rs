//! The architecture's rules (ARCHITECTURE.md, "Architecture invariants") as data, checked by
//! this crate's tests against every crate's `Cargo.toml` and sources:
//!
//! - `tests/architecture.rs`: each crate depends only on the workspace crates its row allows,
//!   uses `anyhow` only where allowed, performs I/O (files, processes, the environment, the
//!   clock, standard streams, libc) only where allowed, and keeps no `HashMap`/`HashSet` where
//!   its state is model state (iteration order must be deterministic), and names a test-support
//!   crate ([`DEV_ONLY`]) only among its dev-dependencies;
//! - `tests/function_length.rs`: no function over [`MAX_FUNCTION_LINES`] lines except those
//!   listed in `long-functions.txt`, a list that may only shrink.
//!
//! A new crate needs a row in [`CRATES`] before its tests pass: the rule is stated, not
//! inferred.

/// What one crate may do.
#[derive(Clone, Copy, Debug)]
pub struct CrateRule {
    /// Directory, relative to the repository root.
    pub dir: &'static str,
    /// The workspace crates (package names) it may depend on, in any dependency section.
    pub may_depend_on: &'static [&'static str],
    /// It may read or write files, spawn processes, read the environment or the clock, print,
    /// or call libc.
    pub io: bool,
    /// It may use `anyhow` (libraries return typed errors).
    pub anyhow: bool,
    /// Its state is model state: no `HashMap`/`HashSet` (every collection the model iterates
    /// is ordered).
    pub model_state: bool,
}

const TYPES: &str = "foliolab-types";
const SCENARIO: &str = "foliolab-scenario";
const DRIVER: &str = "foliolab-driver";
const MEM: &str = "foliolab-mem";
const SCHEMES: &str = "foliolab-schemes";
const MODEL: &str = "foliolab-model";
const ORACLE: &str = "foliolab-oracle";
const SIM: &str = "foliolab-sim";
const PROBE: &str = "foliolab-probe";
const FUZZ: &str = "foliolab-fuzz";
const EXPLORE: &str = "foliolab-explore";
const RECORD: &str = "foliolab-record";
const TESTKIT: &str = "foliolab-testkit";

/// Test support: any crate's tests may use these, in `[dev-dependencies]` only (a library or
/// binary that depended on one would do its file I/O).
pub const DEV_ONLY: &[&str] = &[TESTKIT];

/// One row per workspace member.
pub const CRATES: &[CrateRule] = &[
    CrateRule {
        dir: "crates/types",
        may_depend_on: &[],
        io: false,
        anyhow: false,
        model_state: true,
    },
    CrateRule {
        dir: "crates/scenario",
        may_depend_on: &[TYPES],
        io: false,
        anyhow: false,
        model_state: false,
    },
    CrateRule {
        dir: "crates/driver",
        may_depend_on: &[TYPES, SCENARIO],
        io: false,
        anyhow: false,
        model_state: false,
    },
    CrateRule {
        dir: "crates/mem",
        may_depend_on: &[TYPES],
        io: false,
        anyhow: false,
        model_state: true,
    },
    // Designs see rmap events and answer queries; they never see page tables.
    CrateRule {
        dir: "crates/schemes",
        may_depend_on: &[TYPES],
        io: false,
        anyhow: false,
        model_state: true,
    },
    CrateRule {
        dir: "crates/model",
        may_depend_on: &[TYPES, MEM, SCHEMES],
        io: false,
        anyhow: false,
        model_state: true,
    },
    // The oracle recounts from page tables: it cannot see a design's counters.
    CrateRule {
        dir: "crates/oracle",
        may_depend_on: &[TYPES, MEM],
        io: false,
        anyhow: false,
        model_state: true,
    },
    CrateRule {
        dir: "crates/sim",
        may_depend_on: &[TYPES, SCENARIO, DRIVER, MEM, SCHEMES, MODEL, ORACLE],
        io: false,
        anyhow: false,
        model_state: true,
    },
    // Kernels judge the model: the probe shares nothing with it but the language.
    CrateRule {
        dir: "crates/probe",
        may_depend_on: &[TYPES, SCENARIO, DRIVER, RECORD],
        io: true,
        anyhow: false,
        model_state: false,
    },
    // Designs come from the registry, which sizes memory itself: no need for `mem`.
    CrateRule {
        dir: "crates/fuzz",
        may_depend_on: &[TYPES, SCENARIO, DRIVER, SCHEMES, MODEL, ORACLE, SIM],
        io: false,
        anyhow: false,
        model_state: false,
    },
    // The race explorer runs kernel paths step by step on the model's memory and designs and
    // asks the oracle; it depends on itself (dev) only to build its test-only variants.
    CrateRule {
        dir: "crates/explore",
        may_depend_on: &[TYPES, MEM, SCHEMES, ORACLE, EXPLORE],
        io: false,
        anyhow: false,
        model_state: true,
    },
    CrateRule {
        dir: "crates/cli",
        may_depend_on: &[
            TYPES, SCENARIO, DRIVER, SCHEMES, MODEL, ORACLE, SIM, PROBE, FUZZ, EXPLORE, RECORD,
        ],
        io: true,
        anyhow: true,
        model_state: false,
    },
    // A recording to a scenario: pure (the probe traces and hands the bytes over); its tests
    // run the converted scenario on the model (sim, driver: dev-dependencies).
    CrateRule {
        dir: "crates/record",
        may_depend_on: &[TYPES, SCENARIO, DRIVER, SIM],
        io: false,
        anyhow: false,
        model_state: false,
    },
    CrateRule {
        dir: "crates/rules",
        may_depend_on: &[],
        io: true,
        anyhow: false,
        model_state: false,
    },
    // Walks the repository's folders for the tests (every scenario of a folder, sorted and
    // counted): I/O, so a dev-dependency only (`DEV_ONLY`).
    CrateRule {
        dir: "crates/testkit",
        may_depend_on: &[],
        io: true,
        anyhow: false,
        model_state: false,
    },
    // Writes tests/cow/ from the kernel selftest's cases.
    CrateRule {
        dir: "tools/cowgen",
        may_depend_on: &[SCENARIO],
        io: true,
        anyhow: false,
        model_state: false,
    },
];

/// Source text that performs I/O, for crates whose rule forbids it.
pub const IO_PATTERNS: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "stdin()",
    "stdout()",
    "stderr()",
    "println!",
    "eprintln!",
    "print!(",
    "eprint!(",
    "dbg!(",
    "File::",
    "libc::",
    "Instant::now",
    "SystemTime",
];

/// Collections whose iteration order is not deterministic.
pub const UNORDERED_PATTERNS: &[&str] = &["HashMap", "HashSet"];

/// Functions longer than this (lines from `fn` to the closing brace) must be split.
pub const MAX_FUNCTION_LINES: usize = 80;
