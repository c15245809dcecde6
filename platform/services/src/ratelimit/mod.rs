//! Attempt limiter for every password check (account sign-in, password change, recipient
//! sign-in) and other guessable actions.
//!
//! An attempt is *reserved* before any hashing, in one step under one lock for every key
//! it counts against: the reservation counts as a failure from the moment it is taken,
//! so a burst of concurrent guesses sees the earlier ones at once and only the first few
//! reach Argon2. A successful check gives its reservation back. Past a key's free
//! attempts, each further attempt waits twice as long as the one before (up to a cap):
//! the attacker slows down, and an owner who mistyped waits seconds, not a lockout.
//! Memory is bounded: when the table is full the least recently used key is dropped,
//! never the whole table.
//!
//! In a cluster the counts live in Redis ([`RedisLimits`]) so that guesses spread over
//! the nodes add up; should Redis not answer, the node counts in its own table meanwhile
//! rather than let every guess through (or refuse every owner).

mod shared;

pub use shared::RedisLimits;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How one limiter counts.
#[derive(Debug, Clone, Copy)]
pub struct LimitPolicy {
    /// Failures allowed before any delay.
    pub free: u32,
    /// Delay after the first failure beyond `free`; doubles with each further one.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A key with no failure for this long starts afresh.
    pub forget_after: Duration,
    /// Keys held at most; the least recently used goes first.
    pub capacity: usize,
}

impl LimitPolicy {
    /// A hard limit: `n` failures within `window`, then refused until the window has
    /// passed since the last failure.
    pub fn fixed(n: u32, window: Duration) -> Self {
        LimitPolicy {
            free: n,
            base_delay: window,
            max_delay: window,
            forget_after: window,
            capacity: 100_000,
        }
    }

    fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(30);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

struct Entry {
    failures: u32,
    last: Instant,
    /// Position in the recency index.
    seq: u64,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// seq → key, oldest first: what eviction drops.
    recency: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Table {
    fn touch(&mut self, key: &str, now: Instant, capacity: usize) -> &mut Entry {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(key) {
            self.recency.remove(&e.seq);
            self.recency.insert(seq, key.to_owned());
            let e = self.entries.get_mut(key).expect("entry present");
            e.seq = seq;
            return e;
        }
        while self.entries.len() >= capacity.max(1) {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.recency.insert(seq, key.to_owned());
        self.entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            last: now,
            seq,
        })
    }
}

pub struct AttemptLimiter {
    policy: LimitPolicy,
    table: Mutex<Table>,
    /// In a cluster: the counts every node shares, under this limiter's name.
    shared: Option<(&'static str, RedisLimits)>,
}

/// Why an attempt was refused: how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds, at least one, for messages.
    pub fn seconds(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl AttemptLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        AttemptLimiter {
            policy,
            table: Mutex::new(Table::default()),
            shared: None,
        }
    }

    /// A limiter whose counts every node of the cluster shares when `shared` is given
    /// (`name` keeps its keys apart from other limiters'), else this process's own.
    pub fn shared(name: &'static str, policy: LimitPolicy, shared: Option<&RedisLimits>) -> Self {
        AttemptLimiter {
            shared: shared.map(|r| (name, r.clone())),
            ..AttemptLimiter::new(policy)
        }
    }

    /// Takes one attempt against every key, or none when any key must wait.
    pub async fn reserve(&self, keys: &[&str]) -> Result<(), Refused> {
        if let Some((name, redis)) = &self.shared {
            match redis.reserve(name, &self.policy, keys).await {
                Ok(None) => return Ok(()),
                Ok(Some(retry_after)) => return Err(Refused { retry_after }),
                Err(e) => shared_unavailable(name, &e),
            }
        }
        self.reserve_here(keys)
    }

    /// Gives back an attempt taken by [`reserve`](Self::reserve) after the check passed.
    pub async fn give_back(&self, keys: &[&str]) {
        if let Some((name, redis)) = &self.shared {
            match redis.give_back(name, keys).await {
                Ok(()) => return,
                Err(e) => shared_unavailable(name, &e),
            }
        }
        self.give_back_here(keys)
    }

    /// Forgets `key` (a manager unlocked what it protects, or its owner proved who they
    /// are).
    pub async fn clear(&self, key: &str) {
        if let Some((name, redis)) = &self.shared
            && let Err(e) = redis.clear(name, key).await
        {
            shared_unavailable(name, &e);
        }
        // The local table too: it may hold counts from a time Redis did not answer.
        self.clear_here(key)
    }

    fn wait_for(&self, e: &Entry, now: Instant) -> Option<Duration> {
        let since = now.duration_since(e.last);
        if since >= self.policy.forget_after {
            return None;
        }
        let delay = self.policy.delay(e.failures);
        (delay > since).then(|| delay - since)
    }

    /// The wait before `key` may try again, if any; takes nothing.
    #[cfg(test)]
    fn blocked_for(&self, key: &str) -> Option<Refused> {
        let t = self.table.lock();
        let e = t.entries.get(key)?;
        self.wait_for(e, Instant::now())
            .map(|retry_after| Refused { retry_after })
    }

    /// [`reserve`](Self::reserve) in this process's table.
    fn reserve_here(&self, keys: &[&str]) -> Result<(), Refused> {
        let now = Instant::now();
        let mut t = self.table.lock();
        let mut longest = None::<Duration>;
        for key in keys {
            if let Some(e) = t.entries.get(*key)
                && let Some(w) = self.wait_for(e, now)
            {
                longest = Some(longest.map_or(w, |l| l.max(w)));
            }
        }
        if let Some(retry_after) = longest {
            return Err(Refused { retry_after });
        }
        for key in keys {
            let forget = self.policy.forget_after;
            let e = t.touch(key, now, self.policy.capacity);
            if now.duration_since(e.last) >= forget {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
        }
        Ok(())
    }

    fn give_back_here(&self, keys: &[&str]) {
        let mut t = self.table.lock();
        for key in keys {
            if let Some(e) = t.entries.get_mut(*key) {
                e.failures = e.failures.saturating_sub(1);
            }
        }
    }

    fn clear_here(&self, key: &str) {
        let mut t = self.table.lock();
        if let Some(e) = t.entries.remove(key) {
            t.recency.remove(&e.seq);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().entries.len()
    }
}

/// Takes one attempt from each limiter for its key, or none: a refusal by a later one
/// gives back what the earlier ones took.
pub async fn reserve_all(pairs: &[(&AttemptLimiter, &str)]) -> Result<(), Refused> {
    for (i, (limiter, key)) in pairs.iter().enumerate() {
        if let Err(r) = limiter.reserve(&[key]).await {
            for (l, k) in &pairs[..i] {
                l.give_back(&[k]).await;
            }
            return Err(r);
        }
    }
    Ok(())
}

/// Gives back what [`reserve_all`] took.
pub async fn give_back_all(pairs: &[(&AttemptLimiter, &str)]) {
    for (l, k) in pairs {
        l.give_back(&[k]).await;
    }
}

/// Logs, at most once a minute, that Redis did not answer and this node counts alone.
fn shared_unavailable(limiter: &str, e: &redis::RedisError) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock();
    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        *last = Some(Instant::now());
        tracing::warn!(limiter, error = %e, "shared attempt limits unavailable; counting on this node");
    }
}

/// How password checks are limited: sign-in (the identity service) and share-link
/// recipients (sharing).
pub(crate) mod limits {
    use std::time::Duration;

    use super::LimitPolicy;

    /// One account from one address: five tries, then 1 s, 2 s, 4 s … up to 15 minutes
    /// between tries. Its owner, elsewhere, is not slowed at all.
    pub const PER_ACCOUNT: LimitPolicy = LimitPolicy {
        free: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(900),
        forget_after: Duration::from_secs(3600),
        capacity: 100_000,
    };
    /// One address over all accounts (credential stuffing).
    pub const PER_ADDRESS: LimitPolicy = LimitPolicy {
        free: 20,
        ..PER_ACCOUNT
    };
    /// Looser per address on share links: many recipients may share one office address.
    pub const SHARE_PER_ADDRESS: LimitPolicy = LimitPolicy {
        free: 30,
        ..PER_ACCOUNT
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(free: u32) -> LimitPolicy {
        LimitPolicy {
            free,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            forget_after: Duration::from_secs(600),
            capacity: 1000,
        }
    }

    #[test]
    fn a_reservation_counts_at_once_and_success_gives_it_back() {
        let l = AttemptLimiter::new(policy(3));
        for _ in 0..3 {
            l.reserve_here(&["k"]).unwrap();
        }
        // Three checks in flight: the fourth is refused before any of them ends.
        assert!(l.reserve_here(&["k"]).is_err());
        l.give_back_here(&["k"]);
        assert!(l.reserve_here(&["k"]).is_ok());
    }

    #[test]
    fn all_keys_or_none() {
        let l = AttemptLimiter::new(policy(1));
        l.reserve_here(&["a"]).unwrap();
        assert!(l.reserve_here(&["b", "a"]).is_err());
        // `b` was not charged by the refused attempt.
        assert!(l.reserve_here(&["b"]).is_ok());
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy(2);
        assert_eq!(p.delay(1), Duration::ZERO);
        assert_eq!(p.delay(2), Duration::from_secs(1));
        assert_eq!(p.delay(3), Duration::from_secs(2));
        assert_eq!(p.delay(4), Duration::from_secs(4));
        assert_eq!(p.delay(40), Duration::from_secs(8));
        let fixed = LimitPolicy::fixed(10, Duration::from_secs(300));
        assert_eq!(fixed.delay(9), Duration::ZERO);
        assert_eq!(fixed.delay(10), Duration::from_secs(300));
        assert_eq!(fixed.delay(1000), Duration::from_secs(300));
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used_key_only() {
        let l = AttemptLimiter::new(LimitPolicy {
            capacity: 3,
            ..policy(1)
        });
        for k in ["a", "b", "c"] {
            l.reserve_here(&[k]).unwrap();
        }
        assert_eq!(l.len(), 3);
        l.reserve_here(&["d"]).unwrap();
        assert_eq!(l.len(), 3);
        // `a` was the oldest and is forgotten; `b` and `c` are still limited.
        assert!(l.blocked_for("a").is_none());
        assert!(l.blocked_for("b").is_some());
        assert!(l.blocked_for("c").is_some());
        assert!(l.blocked_for("d").is_some());
    }

    #[test]
    fn clear_forgets_one_key() {
        let l = AttemptLimiter::new(policy(1));
        l.reserve_here(&["a"]).unwrap();
        l.reserve_here(&["b"]).unwrap();
        l.clear_here("a");
        assert!(l.blocked_for("a").is_none());
        assert!(l.blocked_for("b").is_some());
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_free_attempts() {
        let l = std::sync::Arc::new(AttemptLimiter::new(policy(5)));
        let granted = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (l, granted) = (l.clone(), granted.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        if l.reserve_here(&["k"]).is_ok() {
                            granted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(granted.load(std::sync::atomic::Ordering::SeqCst), 5);
    }
}
