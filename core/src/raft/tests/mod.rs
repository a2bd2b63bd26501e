//! Unit scenarios for the consensus core on an in-memory network the test controls message by
//! message (etcd's interaction-test style, as Rust functions).

mod election;
mod fuzz;
mod harness;
mod hostile;
mod join;
mod reads;
mod replication;
mod transfer;
