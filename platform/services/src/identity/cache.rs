//! Credentials already checked, kept in memory so a request does not pay two database
//! round trips to authenticate.
//!
//! Only used when this process holds the database exclusively (embedded SurrealKV is
//! locked to one process): every change that could make an entry wrong — revoking a
//! token, disabling a user, changing attributes or a password, signing out — passes
//! through this process and drops the affected entries before it returns, so revocation
//! still acts on the very next request. Expiry and the disabled flag are checked on every
//! hit. With a remote database, where other servers may write, the cache stays off.
//!
//! A generation counter closes the race between an authentication and a revocation: a
//! request notes the generation before it reads the credential, and caches what it read
//! only if nothing was forgotten since. Otherwise a row read just before a revoke or a
//! sign-out could be cached after the revoke dropped its entry, and outlive it.

use std::collections::HashMap;

use parking_lot::Mutex;
use vitrine_storage::{ApiTokenRecord, SessionRecord, UserRecord};

/// Entries per map before it is emptied (a crude bound that keeps memory flat under a
/// flood of distinct credentials).
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub(crate) struct AuthCache {
    enabled: bool,
    /// Bumped by every forget, before it drops entries.
    generation: std::sync::atomic::AtomicU64,
    tokens: Mutex<HashMap<String, (ApiTokenRecord, UserRecord)>>,
    sessions: Mutex<HashMap<String, (SessionRecord, UserRecord)>>,
}

impl AuthCache {
    pub fn new(enabled: bool) -> Self {
        AuthCache {
            enabled,
            ..Default::default()
        }
    }

    /// Note this before reading a credential from the database; pass it to `put_…`.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn token(&self, hash: &str) -> Option<(ApiTokenRecord, UserRecord)> {
        if !self.enabled {
            return None;
        }
        self.tokens.lock().get(hash).cloned()
    }

    pub fn put_token(&self, seen: u64, hash: String, entry: (ApiTokenRecord, UserRecord)) {
        if self.enabled {
            let mut map = self.tokens.lock();
            // Checked under the map's lock, which every forget takes after bumping.
            if self.generation() != seen {
                return;
            }
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(hash, entry);
        }
    }

    pub fn session(&self, hash: &str) -> Option<(SessionRecord, UserRecord)> {
        if !self.enabled {
            return None;
        }
        self.sessions.lock().get(hash).cloned()
    }

    pub fn put_session(&self, seen: u64, hash: String, entry: (SessionRecord, UserRecord)) {
        if self.enabled {
            let mut map = self.sessions.lock();
            if self.generation() != seen {
                return;
            }
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(hash, entry);
        }
    }

    pub fn forget_session(&self, hash: &str) {
        self.bump();
        self.sessions.lock().remove(hash);
    }

    /// Drops everything cached for a user (disabled, attributes or password changed).
    pub fn forget_user(&self, user_uid: &str) {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        self.bump();
        self.tokens.lock().retain(|_, (_, u)| u.uid != user_uid);
        self.sessions.lock().retain(|_, (_, u)| u.uid != user_uid);
    }

    pub fn forget_token(&self, token_uid: &str) {
        self.bump();
        self.tokens.lock().retain(|_, (t, _)| t.uid != token_uid);
    }
}
