//! Deterministic whole-cluster simulator: virtual clock, faulty network, checkers.

pub mod linearizability;
