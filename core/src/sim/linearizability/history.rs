//! Client operations and the time-ordered event list that the search walks.

use alloc::vec::Vec;

/// One operation as a client saw it: when it was invoked, what it asked, and (maybe) what came back.
///
/// Times are logical ticks from one clock shared by all clients. Operation `a` must take effect
/// before operation `b` exactly when `a` has a response and `a.ret_time < b.call`; operations whose
/// intervals touch (`a.ret_time == b.call`) count as concurrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<Op, Ret> {
    /// Who issued it. Informational only: the checker orders operations by time, not by client.
    pub client: u64,
    /// When the client invoked it.
    pub call: u64,
    /// When the client received the response, if it did.
    ///
    /// Ignored when `ret` is `None`: a request the client gave up on may still be applied later.
    pub ret_time: Option<u64>,
    /// What the client asked for.
    pub op: Op,
    /// What the client was told. `None` means indeterminate: the client never heard back (the node
    /// crashed, the request timed out), so the operation may have taken effect at any point after
    /// `call`, or never, and whatever it returned is unconstrained.
    pub ret: Option<Ret>,
}

impl<Op, Ret> Operation<Op, Ret> {
    /// An operation that completed: invoked at `call`, answered `ret` at `ret_time`.
    pub fn complete(client: u64, call: u64, ret_time: u64, op: Op, ret: Ret) -> Self {
        Self {
            client,
            call,
            ret_time: Some(ret_time),
            op,
            ret: Some(ret),
        }
    }

    /// An operation invoked at `call` whose outcome the client never learned.
    pub fn indeterminate(client: u64, call: u64, op: Op) -> Self {
        Self {
            client,
            call,
            ret_time: None,
            op,
            ret: None,
        }
    }

    /// True when the client never heard back, so the operation may be left out of a linearization.
    pub fn is_indeterminate(&self) -> bool {
        self.ret.is_none()
    }

    /// The latest time at which the operation can have taken effect, or `None` if unbounded.
    pub fn deadline(&self) -> Option<u64> {
        self.ret.as_ref().and(self.ret_time)
    }
}

/// What a node of the event list stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Node {
    /// The invocation of local operation `op`.
    Call(usize),
    /// The response of local operation `op`: it must be linearized before the search passes here.
    Return(usize),
    /// The tail sentinel: nothing is left after this point.
    End,
}

/// Invocations and responses of one partition, sorted by time, in a doubly linked list from which
/// linearized operations are lifted and to which they are restored when the search backtracks
/// (dancing links: restores happen in exactly the reverse order of lifts).
///
/// Node 0 is the head sentinel and node `len - 1` the tail sentinel. "Local" operation `i` is
/// `ops[i]` of the slice the list was built from.
#[derive(Debug)]
pub(super) struct EventList {
    kinds: Vec<Node>,
    prev: Vec<usize>,
    next: Vec<usize>,
    /// Node of each local operation's invocation.
    call_node: Vec<usize>,
    /// Node of each local operation's response, if it has a deadline.
    return_node: Vec<Option<usize>>,
}

impl EventList {
    /// Builds the list for the operations `history[ops[..]]`.
    ///
    /// Invocations sort before responses at the same instant, so touching intervals are concurrent.
    /// Returns the index into `history` of an operation that answered before it was invoked.
    pub(super) fn new<Op, Ret>(
        history: &[Operation<Op, Ret>],
        ops: &[usize],
    ) -> Result<Self, usize> {
        // (time, 0 = call / 1 = return, local op): a total order, so the list is deterministic.
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * ops.len());
        for (local, &global) in ops.iter().enumerate() {
            let operation = &history[global];
            events.push((operation.call, 0, local));
            if let Some(deadline) = operation.deadline() {
                if deadline < operation.call {
                    return Err(global);
                }
                events.push((deadline, 1, local));
            }
        }
        events.sort_unstable();

        let len = events.len() + 2;
        let mut kinds = Vec::with_capacity(len);
        let mut call_node = alloc::vec![0; ops.len()];
        let mut return_node = alloc::vec![None; ops.len()];
        kinds.push(Node::End); // head sentinel; never read as a kind
        for (i, &(_, kind, local)) in events.iter().enumerate() {
            let node = i + 1;
            if kind == 0 {
                call_node[local] = node;
                kinds.push(Node::Call(local));
            } else {
                return_node[local] = Some(node);
                kinds.push(Node::Return(local));
            }
        }
        kinds.push(Node::End);
        Ok(Self {
            kinds,
            prev: (0..len).map(|i| i.saturating_sub(1)).collect(),
            next: (0..len).map(|i| (i + 1).min(len - 1)).collect(),
            call_node,
            return_node,
        })
    }

    /// The first node still in the list (the tail sentinel if it is empty).
    pub(super) fn first(&self) -> usize {
        self.next[0]
    }

    /// The node after `node`. Must not be called on the tail sentinel.
    pub(super) fn next(&self, node: usize) -> usize {
        self.next[node]
    }

    /// What `node` stands for.
    pub(super) fn kind(&self, node: usize) -> Node {
        self.kinds[node]
    }

    /// The node of local operation `op`'s invocation.
    pub(super) fn call_node(&self, op: usize) -> usize {
        self.call_node[op]
    }

    /// Removes local operation `op`'s invocation and response from the list.
    pub(super) fn lift(&mut self, op: usize) {
        self.unlink(self.call_node[op]);
        if let Some(ret) = self.return_node[op] {
            self.unlink(ret);
        }
    }

    /// Undoes the most recent [`EventList::lift`], which must have been of `op`.
    pub(super) fn unlift(&mut self, op: usize) {
        if let Some(ret) = self.return_node[op] {
            self.relink(ret);
        }
        self.relink(self.call_node[op]);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        self.prev[next] = prev;
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        self.prev[next] = node;
    }
}
