//! Credentials already checked, kept in memory so a request does not pay two database
//! round trips to authenticate.
//!
//! Only used when this process holds the database exclusively (embedded SurrealKV is
//! locked to one process): every change that could make an entry wrong — revoking a
//! token, disabling a user, changing attributes or a password, signing out — passes
//! through this process and drops the affected entries before it returns, so revocation
//! still acts on the very next request. Expiry and the disabled flag are checked on every
//! hit. With a remote database, where other servers may write, the cache stays off.

use std::collections::HashMap;

use parking_lot::Mutex;
use vitrine_storage::{ApiTokenRecord, SessionRecord, UserRecord};

/// Entries per map before it is emptied (a crude bound that keeps memory flat under a
/// flood of distinct credentials).
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub(crate) struct AuthCache {
    enabled: bool,
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

    pub fn token(&self, hash: &str) -> Option<(ApiTokenRecord, UserRecord)> {
        if !self.enabled {
            return None;
        }
        self.tokens.lock().get(hash).cloned()
    }

    pub fn put_token(&self, hash: String, entry: (ApiTokenRecord, UserRecord)) {
        if self.enabled {
            let mut map = self.tokens.lock();
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

    pub fn put_session(&self, hash: String, entry: (SessionRecord, UserRecord)) {
        if self.enabled {
            let mut map = self.sessions.lock();
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(hash, entry);
        }
    }

    pub fn forget_session(&self, hash: &str) {
        self.sessions.lock().remove(hash);
    }

    /// Drops everything cached for a user (disabled, attributes or password changed).
    pub fn forget_user(&self, user_uid: &str) {
        self.tokens.lock().retain(|_, (_, u)| u.uid != user_uid);
        self.sessions.lock().retain(|_, (_, u)| u.uid != user_uid);
    }

    pub fn forget_token(&self, token_uid: &str) {
        self.tokens.lock().retain(|_, (t, _)| t.uid != token_uid);
    }
}
