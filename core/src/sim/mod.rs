//! Deterministic whole-cluster simulator: virtual clock, faulty network, checkers.
