//! The service layer: every read and write of the API goes through here, and every one of
//! them checks the caller's rights first. Framework-free: resolvers and HTTP routes are thin
//! adapters over these functions.

mod audit;
mod auth;
mod auth_cache;
pub mod bundles;
mod directory;
mod identity;
mod install;
mod plugins;
mod policy;
mod projects;
mod remote;
mod report_file;
mod reports;
mod revisions;
mod security;
mod sharing;
mod tasks;
mod workflows;
mod working_copies;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vitrine_authz::Authz;
use vitrine_storage::{PageRequest, Store};

use crate::ApiResult;

pub use audit::Audit;
pub use auth::{LoginOutcome, NewApiToken, SESSION_TTL};
pub use directory::{FolderView, ProjectView};
pub use plugins::MAX_PLUGIN_BYTES;
pub use policy::PolicyKnown;
pub use remote::{MAX_LINK_HOURS, NewCopyLink, RemoteHead};
pub use reports::TileDownload;
pub use security::{AccessRule, BoostTarget, DataSecurity};
pub use sharing::{
    CreatedShareLink, Invitation, LOCK_AFTER_FAILURES, LinkOp, NewRecipient, NewShareLink,
    ShareAccess, ShareLinkChange, ShareOpened, SharePage, SharePolicy, ShareView, link_path,
    link_state,
};
pub use tasks::{MAIL_DEFAULT_FROM, MailConfig, TaskInput, TaskJobs, TaskRunView};
pub use workflows::{MAX_UPLOAD_BYTES, WorkflowView};
pub use working_copies::{SyncOutcome, WorkingCopyStatus};

use crate::ratelimit::FailureLimiter;
use crate::secrets::PasswordHasherPool;

/// Everything the API needs, built once at start-up and shared.
pub struct Services {
    pub store: Store,
    pub authz: Arc<Authz>,
    pub engine: Arc<vitrine_engine::Engine>,
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
    auth_cache: auth_cache::AuthCache,
    /// Shared views, counted and audited off the request path.
    access_log: sharing::AccessLog,
    /// Wrong recipient passwords per link and per address, checked before any hashing.
    share_failures: FailureLimiter,
    /// Recipient password checks in flight: at most half the cores, so a flood of
    /// guesses can never take the CPU that views need.
    share_checks: Arc<tokio::sync::Semaphore>,
    /// Scheduled tasks: the queue, mail, and what runs in this process.
    tasks: tasks::TaskRuntime,
}

/// Reads uid-ordered rows `SCAN_BATCH` at a time from `after`, keeping those `keep` turns
/// into views, until `first` are kept. Returns them and whether more visible rows follow.
/// Filtering by permission happens here, so a page is full even when most rows are hidden.
pub(crate) async fn scan_visible<T, V, Fut>(
    page: &PageRequest,
    mut fetch: impl FnMut(PageRequest) -> Fut,
    uid: impl Fn(&T) -> &str,
    mut keep: impl FnMut(T) -> Option<V>,
) -> ApiResult<(Vec<V>, bool)>
where
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let mut out = Vec::new();
    let mut after = page.after.clone();
    loop {
        let batch = fetch(PageRequest {
            after: after.clone(),
            first: SCAN_BATCH,
        })
        .await?;
        let exhausted = batch.len() < SCAN_BATCH;
        for row in batch {
            after = Some(uid(&row).to_owned());
            if let Some(view) = keep(row) {
                if out.len() == page.first {
                    return Ok((out, true));
                }
                out.push(view);
            }
        }
        if exhausted {
            return Ok((out, false));
        }
    }
}

/// Every uid of a table, read page by page.
pub(crate) async fn all_uids<T, Fut>(
    mut fetch: impl FnMut(PageRequest) -> Fut,
    uid: impl Fn(&T) -> &str,
) -> ApiResult<std::collections::HashSet<String>>
where
    Fut: std::future::Future<Output = ApiResult<Vec<T>>>,
{
    let mut out = std::collections::HashSet::new();
    let mut after = None;
    loop {
        let page = fetch(PageRequest {
            after: after.clone(),
            first: SCAN_BATCH,
        })
        .await?;
        after = page.last().map(|r| uid(r).to_owned());
        out.extend(page.iter().map(|r| uid(r).to_owned()));
        if page.len() < SCAN_BATCH {
            return Ok(out);
        }
    }
}

/// How far a filtered listing reads ahead per round trip.
pub(crate) const SCAN_BATCH: usize = 200;

impl Services {
    pub async fn new(
        store: Store,
        authz: Arc<Authz>,
        engine_limits: vitrine_engine::EngineLimits,
    ) -> Arc<Services> {
        let exclusive = store.is_exclusive();
        let services = Services {
            access_log: sharing::AccessLog::new(store.clone()),
            audit: Audit::new(store.clone()),
            engine: vitrine_engine::Engine::new(store.clone(), engine_limits),
            store,
            authz,
            hasher: PasswordHasherPool::new(),
            login_by_address: FailureLimiter::new(20, Duration::from_secs(300)),
            login_by_user: FailureLimiter::new(5, Duration::from_secs(300)),
            setup_token: Mutex::new(None),
            token_touched: Mutex::new(HashMap::new()),
            auth_cache: auth_cache::AuthCache::new(exclusive),
            // Per link the lock (at LOCK_AFTER_FAILURES) stops guessing; per address the
            // limit is looser, since many recipients may share one office address.
            share_failures: FailureLimiter::new(30, Duration::from_secs(300)),
            share_checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
            tasks: tasks::TaskRuntime::default(),
        };
        Arc::new(services)
    }
}
