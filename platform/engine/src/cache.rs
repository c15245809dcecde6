//! A small map bounded by total size, evicting the least recently used entries
//! approximately (the "second chance" clock), shared by the decoded-table cache and the
//! query-result cache.
//!
//! A hit only sets a flag on its entry: every warmed view looks up each of its tiles, and
//! moving the key to the back of an ordered queue meant a scan of the queue (string
//! compares under the cache's lock) per tile. Eviction pops from the front and gives a
//! flagged entry one more round instead.
//!
//! Lookups are counted here; `/metrics` reads the counts when it is scraped
//! (`vitrine_cache_lookups_total{cache, result}`, see [`Lru::stats`]), so a lookup pays
//! no registry lookup of the metrics recorder.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// One cache's lookups so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// The `cache` label: `tables` or `tile_results`.
    pub name: &'static str,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

struct Entry<V> {
    value: Arc<V>,
    size: usize,
    /// Looked up since the clock hand last passed it.
    referenced: bool,
}

pub struct Lru<K, V> {
    name: &'static str,
    capacity: usize,
    used: usize,
    entries: HashMap<K, Entry<V>>,
    /// Keys in the order the clock hand visits them (insertion order, with second
    /// chances moved to the back).
    order: VecDeque<K>,
    hits: u64,
    misses: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new(name: &'static str, capacity: usize) -> Lru<K, V> {
        Lru {
            name,
            capacity,
            used: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub fn get<Q>(&mut self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(e) = self.entries.get_mut(key) else {
            self.misses += 1;
            return None;
        };
        e.referenced = true;
        self.hits += 1;
        Some(e.value.clone())
    }

    pub fn insert(&mut self, key: K, value: Arc<V>, size: usize) {
        if size > self.capacity || self.entries.contains_key(&key) {
            return;
        }
        while self.used + size > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            match self.entries.get_mut(&old) {
                // Each flag is cleared as the hand passes, so the loop ends.
                Some(e) if e.referenced => {
                    e.referenced = false;
                    self.order.push_back(old);
                }
                Some(_) => {
                    let e = self.entries.remove(&old).expect("present");
                    self.used -= e.size;
                }
                None => {}
            }
        }
        self.used += size;
        self.order.push_back(key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                size,
                referenced: false,
            },
        );
    }

    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(e) = self.entries.remove(key) {
            self.used -= e.size;
            self.order.retain(|k| k.borrow() != key);
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            name: self.name,
            entries: self.entries.len(),
            hits: self.hits,
            misses: self.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let mut c = Lru::new("test", 10);
        c.insert("a".to_owned(), Arc::new(1), 4);
        c.insert("b".to_owned(), Arc::new(2), 4);
        c.insert("c".to_owned(), Arc::new(3), 4);
        assert!(c.get("a").is_none());
        assert_eq!(*c.get("c").unwrap(), 3);
        c.insert("huge".to_owned(), Arc::new(9), 11);
        assert!(c.get("huge").is_none());
        assert_eq!(c.stats().entries, 2);
    }

    #[test]
    fn a_recently_read_entry_outlives_an_unread_older_one() {
        let mut c = Lru::new("test", 12);
        c.insert("a".to_owned(), Arc::new(1), 4);
        c.insert("b".to_owned(), Arc::new(2), 4);
        c.insert("c".to_owned(), Arc::new(3), 4);
        assert!(c.get("a").is_some());
        c.insert("d".to_owned(), Arc::new(4), 4);
        assert!(c.get("b").is_none(), "b was the oldest entry not read");
        assert!(c.get("a").is_some() && c.get("c").is_some() && c.get("d").is_some());
        // Every entry read: the hand clears each flag once round, then takes the first
        // it comes back to (c, which the hand reaches before a, moved behind it above).
        c.insert("e".to_owned(), Arc::new(5), 4);
        assert!(c.get("c").is_none());
        let s = c.stats();
        assert_eq!((s.entries, s.hits, s.misses), (3, 4, 2));
    }

    #[test]
    fn removing_frees_the_space() {
        let mut c = Lru::new("test", 8);
        c.insert("a".to_owned(), Arc::new(1), 4);
        c.insert("b".to_owned(), Arc::new(2), 4);
        c.remove("a");
        c.insert("c".to_owned(), Arc::new(3), 4);
        assert!(c.get("b").is_some() && c.get("c").is_some());
    }
}
