//! A small least-recently-used map bounded by total size, shared by the decoded-table
//! cache and the query-result cache. Each lookup is also counted for `/metrics`
//! (`vitrine_cache_lookups_total{cache, result}`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub struct Lru<V> {
    /// The `cache` label of its lookups.
    name: &'static str,
    capacity: usize,
    used: usize,
    entries: HashMap<String, (Arc<V>, usize)>,
    order: VecDeque<String>,
    pub hits: u64,
    pub misses: u64,
}

impl<V> Lru<V> {
    pub fn new(name: &'static str, capacity: usize) -> Lru<V> {
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

    pub fn get(&mut self, key: &str) -> Option<Arc<V>> {
        let Some((v, _)) = self.entries.get(key) else {
            self.misses += 1;
            metrics::counter!("vitrine_cache_lookups_total", "cache" => self.name, "result" => "miss")
                .increment(1);
            return None;
        };
        let v = v.clone();
        self.hits += 1;
        metrics::counter!("vitrine_cache_lookups_total", "cache" => self.name, "result" => "hit")
            .increment(1);
        // Recency is refreshed lazily: moving a key in a long queue costs O(n), so only
        // the back half of the queue is spared the move.
        if let Some(i) = self.order.iter().rposition(|k| k == key)
            && i < self.order.len() / 2
        {
            let k = self.order.remove(i).expect("present");
            self.order.push_back(k);
        }
        Some(v)
    }

    pub fn insert(&mut self, key: String, value: Arc<V>, size: usize) {
        if size > self.capacity || self.entries.contains_key(&key) {
            return;
        }
        while self.used + size > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.entries.remove(&old) {
                self.used -= s;
            }
        }
        self.used += size;
        self.order.push_back(key.clone());
        self.entries.insert(key, (value, size));
    }

    pub fn remove(&mut self, key: &str) {
        if let Some((_, s)) = self.entries.remove(key) {
            self.used -= s;
            self.order.retain(|k| k != key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let mut c = Lru::new("test", 10);
        c.insert("a".into(), Arc::new(1), 4);
        c.insert("b".into(), Arc::new(2), 4);
        c.insert("c".into(), Arc::new(3), 4);
        assert!(c.get("a").is_none());
        assert_eq!(*c.get("c").unwrap(), 3);
        c.insert("huge".into(), Arc::new(9), 11);
        assert!(c.get("huge").is_none());
    }
}
