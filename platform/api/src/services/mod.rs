//! The service layer: every read and write of the API goes through here, and every one of
//! them checks the caller's rights first. Framework-free: resolvers and HTTP routes are thin
//! adapters over these functions.

mod audit;
mod auth;
mod directory;
mod identity;
mod policy;
mod projects;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vitrine_authz::Authz;
use vitrine_storage::Store;

pub use audit::Audit;
pub use auth::{LoginOutcome, NewApiToken, SESSION_TTL};
pub use directory::{FolderView, ProjectView};
pub use policy::PolicyKnown;

use crate::ratelimit::FailureLimiter;
use crate::secrets::PasswordHasherPool;

/// Everything the API needs, built once at start-up and shared.
pub struct Services {
    pub store: Store,
    pub authz: Arc<Authz>,
    pub audit: Audit,
    hasher: PasswordHasherPool,
    /// Failed sign-ins per client address and per username.
    login_by_address: FailureLimiter,
    login_by_user: FailureLimiter,
    /// The one-time setup token, present until the first administrator exists.
    setup_token: Mutex<Option<String>>,
    /// When each API token's `last_used` was last written: at most once a minute, off the
    /// request path, so reads never wait for a synced write.
    token_touched: Mutex<HashMap<String, Instant>>,
}

impl Services {
    pub async fn new(store: Store, authz: Arc<Authz>) -> Arc<Services> {
        let services = Services {
            audit: Audit::new(store.clone()),
            store,
            authz,
            hasher: PasswordHasherPool::new(),
            login_by_address: FailureLimiter::new(20, Duration::from_secs(300)),
            login_by_user: FailureLimiter::new(5, Duration::from_secs(300)),
            setup_token: Mutex::new(None),
            token_touched: Mutex::new(HashMap::new()),
        };
        Arc::new(services)
    }
}
