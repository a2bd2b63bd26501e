//! Majority arithmetic: committed index and election results. Pure functions.

use alloc::vec::Vec;

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A majority granted.
    Won,
    /// A majority can no longer grant.
    Lost,
    /// Not decided yet.
    Pending,
}

/// The largest value that a majority of `values` (one per voter) is at or above.
///
/// For match indexes this is the committed index; for acknowledged heartbeat rounds it is the
/// round a quorum has confirmed. Returns 0 for an empty set.
pub fn majority_value(values: impl Iterator<Item = u64>) -> u64 {
    let mut sorted: Vec<u64> = values.collect();
    if sorted.is_empty() {
        return 0;
    }
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[sorted.len() / 2]
}

/// Counts votes: `votes` yields `Some(granted)` for each voter that answered, `None` otherwise.
pub fn vote_result(votes: impl Iterator<Item = Option<bool>>) -> VoteResult {
    let (mut granted, mut rejected, mut total) = (0usize, 0usize, 0usize);
    for vote in votes {
        total += 1;
        match vote {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    let majority = total / 2 + 1;
    if granted >= majority {
        VoteResult::Won
    } else if total - rejected < majority {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, written the slow way: the largest `v` such that a majority is `>= v`.
    fn naive_majority_value(values: &[u64]) -> u64 {
        let majority = values.len() / 2 + 1;
        values
            .iter()
            .copied()
            .filter(|&v| values.iter().filter(|&&w| w >= v).count() >= majority)
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #[test]
        fn majority_value_matches_naive(values in proptest::collection::vec(0u64..20, 0..9)) {
            prop_assert_eq!(majority_value(values.iter().copied()), naive_majority_value(&values));
        }

        #[test]
        fn vote_result_is_consistent(votes in proptest::collection::vec(proptest::option::of(any::<bool>()), 1..9)) {
            let n = votes.len();
            let yes = votes.iter().filter(|v| **v == Some(true)).count();
            let no = votes.iter().filter(|v| **v == Some(false)).count();
            let expected = if yes > n / 2 { VoteResult::Won } else if no >= n - n / 2 { VoteResult::Lost } else { VoteResult::Pending };
            prop_assert_eq!(vote_result(votes.into_iter()), expected);
        }
    }

    #[test]
    fn examples() {
        assert_eq!(majority_value([5, 3, 1].into_iter()), 3);
        assert_eq!(majority_value([5, 3, 1, 1].into_iter()), 1);
        assert_eq!(majority_value([7].into_iter()), 7);
        assert_eq!(
            vote_result([Some(true), None, None].into_iter()),
            VoteResult::Pending
        );
        assert_eq!(
            vote_result([Some(true), Some(true), None].into_iter()),
            VoteResult::Won
        );
        assert_eq!(
            vote_result([Some(true), Some(false), Some(false)].into_iter()),
            VoteResult::Lost
        );
    }
}
