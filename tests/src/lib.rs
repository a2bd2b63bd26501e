//! Cross-crate scenario tests for raftorch live in `tests/tests/`.
