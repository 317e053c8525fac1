//! Randomized simulation testing of the model (TigerBeetle's VOPR, proptest's state
//! machines): a seeded generator of valid scenarios with swarm weights ([`gen`], over the
//! statement table [`ops`]), runs under every scheme with the invariants and the oracle
//! checked after every statement ([`exec`]), shrinking of a failure to a short scenario
//! that fails the same way ([`shrink`]), and campaigns over many seeds on all cores
//! ([`campaign`]). Pure: the CLI does the printing, the clock and the files.

pub mod gen;
pub mod ops;
pub mod regress;
pub mod seed;
pub mod shrink;
pub mod world;

pub use foliolab_types::prng;
pub use gen::{Gen, Supported};
pub use prng::{case_seed, ByteEntropy, Entropy, Prng, Rng};
pub use seed::parse_seed;
pub mod campaign;
pub mod exec;
pub mod panics;

pub use exec::{run_one, ExecOptions, FailKind, Failure, SchemeSpec};
