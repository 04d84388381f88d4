//! One cached HA collection as it is shared between readers: the records in the server's order plus
//! an index by key, built once per fetch. Immutable once built, so it is handed out behind an `Arc`
//! and a per-object read costs one hash lookup, never a copy or a scan of the whole list.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Deref;

/// An HA collection in the server's order, indexed by key (a resource's sid, a group's or rule's id).
#[derive(Debug, Clone)]
pub struct Indexed<K, T> {
    items: Vec<T>,
    by_key: HashMap<K, usize>,
}

impl<K: Hash + Eq, T> Indexed<K, T> {
    /// Indexes `items` by `key`; records without a key are listed but not indexed. When two records
    /// share a key the first one wins, as a front-to-back search would find it.
    pub(crate) fn new(items: Vec<T>, key: impl Fn(&T) -> Option<K>) -> Indexed<K, T> {
        let mut by_key = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(k) = key(item) {
                by_key.entry(k).or_insert(i);
            }
        }
        Indexed { items, by_key }
    }

    /// The record with `key`, if any.
    pub fn get<Q>(&self, key: &Q) -> Option<&T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.by_key.get(key).and_then(|&i| self.items.get(i))
    }

    /// Whether a record has `key`.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.by_key.contains_key(key)
    }
}

impl<K, T> Indexed<K, T> {
    /// Every record, in the server's order.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<K, T> Deref for Indexed<K, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<'a, K, T> IntoIterator for &'a Indexed<K, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_the_first_record_with_a_key_and_skip_keyless_ones() {
        let list = Indexed::new(vec![("a", 1), ("", 2), ("b", 3), ("a", 4)], |(k, _)| {
            (!k.is_empty()).then(|| k.to_string())
        });
        assert_eq!(list.get("a"), Some(&("a", 1)));
        assert_eq!(list.get("b"), Some(&("b", 3)));
        assert_eq!(list.get(""), None);
        assert!(!list.contains_key("c"));
        assert_eq!(
            list.len(),
            4,
            "keyless and duplicate records are still listed"
        );
        assert_eq!(
            list.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }
}
