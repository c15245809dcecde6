//! Failure-counting rate limiter for password checks, consulted before any hashing so a
//! flood of guesses costs no Argon2 work.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub struct FailureLimiter {
    window: Duration,
    max_failures: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        FailureLimiter {
            window,
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait when `key` has failed too often within the window.
    pub fn blocked_for(&self, key: &str) -> Option<u64> {
        let mut map = self.failures.lock();
        let q = map.get_mut(key)?;
        let now = Instant::now();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max_failures {
            let oldest = *q.front()?;
            Some(
                self.window
                    .saturating_sub(now.duration_since(oldest))
                    .as_secs()
                    .max(1),
            )
        } else {
            None
        }
    }

    pub fn record_failure(&self, key: &str) {
        let mut map = self.failures.lock();
        // Bound memory under a flood of distinct keys: forget the oldest state wholesale.
        if map.len() > 100_000 {
            map.clear();
        }
        map.entry(key.to_owned())
            .or_default()
            .push_back(Instant::now());
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_then_clears() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            l.record_failure("k");
        }
        assert!(l.blocked_for("k").is_none());
        l.record_failure("k");
        assert!(l.blocked_for("k").is_some());
        assert!(l.blocked_for("other").is_none());
        l.clear("k");
        assert!(l.blocked_for("k").is_none());
    }
}
