//! Bounded listings: a read that lists keys, services or instances answers at most `limit`
//! items after a key continuation (`start_after`), so its cost is bounded by the page and not
//! by the size of the state.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

/// The items of a listing a page holds by default.
pub const DEFAULT_PAGE_LIMIT: usize = 1_000;

/// The most items a page may be asked for.
pub const MAX_PAGE_LIMIT: usize = 10_000;

/// At most `limit` items of an ordered listing, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// True when the listing goes on past the last item (ask again with that item's key as
    /// `start_after`).
    pub more: bool,
}

impl<T> Page<T> {
    /// The first `limit` items of `items` (at least one, so a listing always advances).
    pub fn take(items: impl IntoIterator<Item = T>, limit: usize) -> Self {
        let limit = limit.max(1);
        let mut iter = items.into_iter();
        let items: Vec<T> = iter.by_ref().take(limit).collect();
        let more = items.len() == limit && iter.next().is_some();
        Page { items, more }
    }

    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            more: self.more,
        }
    }
}

/// The entries of `map` whose keys start with `prefix` and sort after `start_after`, in key
/// order: a range seek, so skipping to a continuation costs a lookup and not a scan.
pub(crate) fn entries_from<'a, 'p, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'p str,
    start_after: Option<&'p str>,
) -> impl Iterator<Item = (&'a str, &'a V)> + use<'a, 'p, V> {
    map.range::<str, _>((lower_bound(prefix, start_after), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.as_str(), v))
}

/// Where a listing of the keys starting with `prefix` after `start_after` begins.
pub(crate) fn lower_bound<'p>(prefix: &'p str, start_after: Option<&'p str>) -> Bound<&'p str> {
    match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;

    fn map(keys: &[&str]) -> BTreeMap<String, ()> {
        keys.iter().map(|k| ((*k).to_owned(), ())).collect()
    }

    fn keys<'a>(it: impl Iterator<Item = (&'a str, &'a ())>) -> Vec<&'a str> {
        it.map(|(k, _)| k).collect()
    }

    #[test]
    fn continuation_skips_to_the_key_after_and_stays_in_the_prefix() {
        let m = map(&["a", "b/1", "b/2", "b/3", "c"]);
        assert_eq!(keys(entries_from(&m, "b/", None)), ["b/1", "b/2", "b/3"]);
        assert_eq!(keys(entries_from(&m, "b/", Some("b/1"))), ["b/2", "b/3"]);
        assert_eq!(
            keys(entries_from(&m, "b/", Some("b/3"))),
            Vec::<&str>::new()
        );
        // A continuation before the prefix starts at the prefix; one past it ends the listing.
        assert_eq!(
            keys(entries_from(&m, "b/", Some("a"))),
            ["b/1", "b/2", "b/3"]
        );
        assert_eq!(keys(entries_from(&m, "b/", Some("z"))), Vec::<&str>::new());
        assert_eq!(keys(entries_from(&m, "", Some("b/2"))), ["b/3", "c"]);
    }

    #[test]
    fn a_page_says_whether_more_follow() {
        assert_eq!(
            Page::take(1..=3, 3),
            Page {
                items: alloc::vec![1, 2, 3],
                more: false
            }
        );
        assert_eq!(
            Page::take(1..=4, 3),
            Page {
                items: alloc::vec![1, 2, 3],
                more: true
            }
        );
        assert_eq!(Page::take(1..=4, 0).items, [1]);
        assert!(Page::take(core::iter::empty::<u8>(), 5).items.is_empty());
    }

    #[test]
    fn paging_through_visits_every_key_once() {
        let all: Vec<String> = (0..2_345).map(|i| alloc::format!("k/{i:05}")).collect();
        let m: BTreeMap<String, ()> = all.iter().map(|k| (k.clone(), ())).collect();
        let (mut seen, mut after) = (Vec::new(), None::<String>);
        loop {
            let page = Page::take(entries_from(&m, "k/", after.as_deref()), 1_000);
            seen.extend(page.items.iter().map(|(k, _)| (*k).to_owned()));
            if !page.more {
                break;
            }
            after = page.items.last().map(|(k, _)| (*k).to_owned());
        }
        assert_eq!(seen, all);
    }
}
