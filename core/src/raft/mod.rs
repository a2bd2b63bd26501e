//! Raft consensus: a sans-IO state machine driven through [`RawNode`].
