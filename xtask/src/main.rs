//! Placeholder; replaced by the real automation.
fn main() {}
