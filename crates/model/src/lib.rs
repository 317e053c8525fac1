//! The model's operations: faults, fork, COW, zap, mprotect, splits, deferred split, statistics; drives a scheme. Pure, no I/O.
