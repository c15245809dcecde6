//! The identity service: who is calling. Sign-in, sessions and API tokens
//! ([`sign_in`]), the first administrator, shell-made users and the instance's own
//! audited system callers ([`setup`]), the credentials already checked ([`cache`]), and
//! sign-in through OpenID Connect providers ([`oidc`]).
//!
//! A [`Caller`](crate::Caller) made from a credential is made here and nowhere else: the
//! rest of the services receive callers, they never build them from a cookie or a token.
//! The identity service owns what that takes — the password hasher, the sign-in limits,
//! the setup token and the credential cache — and the rest of the services reach those
//! only through the few crate-private methods below.

mod cache;
pub(crate) mod caller;
mod invitations;
mod oidc;
mod setup;
mod shell;
mod sign_in;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use vitrine_authz::Authz;
use vitrine_core::ErrorCode;
use vitrine_storage::{Store, UserRecord, WorkingCopyLinkRecord, now_ms};

use crate::audit::Audit;
use crate::ratelimit::{AttemptLimiter, limits};
use crate::secrets::PasswordHasherPool;
use crate::secrets::token_hash;
use crate::{ApiError, ApiResult, Caller, Credential};

pub(crate) use oidc::Providers;
pub use oidc::{
    AuthConfig, AuthProvider, OidcProviderConfig, OidcSignedIn, OidcStart, Provisioning,
};
pub use setup::SETUP_TOKEN_TTL;
pub use shell::ShellUser;
pub use sign_in::{LoginOutcome, SESSION_TTL};
pub use tokens::{NewApiToken, TokenRequest};

pub struct Identity {
    store: Store,
    authz: Arc<Authz>,
    audit: Audit,
    hasher: PasswordHasherPool,
    /// Password checks per client address, and per account and address (see
    /// [`crate::ratelimit`]): reserved before hashing, given back on success.
    login_by_address: AttemptLimiter,
    login_by_account: AttemptLimiter,
    /// The one-time setup token, present until the first administrator exists.
    /// With when it was minted: it expires after [`SETUP_TOKEN_TTL`].
    setup_token: Mutex<Option<(String, Instant)>>,
    /// When each API token's `last_used` was last written: at most once a minute, off the
    /// request path, so reads never wait for a synced write.
    token_touched: Mutex<HashMap<String, Instant>>,
    cache: cache::AuthCache,
    /// The identity providers people sign in through, and whether local passwords work.
    oidc: Providers,
    /// Mails invitations of local users.
    mailer: crate::mail::Mailer,
}

impl Identity {
    pub(crate) fn new(
        store: Store,
        authz: Arc<Authz>,
        audit: Audit,
        oidc: Providers,
        mailer: crate::mail::Mailer,
        shared_limits: Option<&crate::ratelimit::RedisLimits>,
    ) -> Identity {
        Identity {
            mailer,
            cache: cache::AuthCache::new(store.is_exclusive()),
            store,
            authz,
            audit,
            hasher: PasswordHasherPool::new(),
            login_by_address: AttemptLimiter::shared(
                "login_by_address",
                limits::PER_ADDRESS,
                shared_limits,
            ),
            login_by_account: AttemptLimiter::shared(
                "login_by_account",
                limits::PER_ACCOUNT,
                shared_limits,
            ),
            setup_token: Mutex::new(None),
            token_touched: Mutex::new(HashMap::new()),
            oidc,
        }
    }

    /// The one pool every password hash and check runs on (share-link recipients' too),
    /// so hashing never takes more than its share of the cores.
    pub(crate) fn hasher(&self) -> &PasswordHasherPool {
        &self.hasher
    }

    /// The caller a working-copy link's token acts as: the link's service account, or else
    /// its creator, for that link only. Unknown, revoked and expired links, and disabled creators, get one answer.
    pub(crate) async fn copy_link_caller(
        &self,
        token: &str,
        address: Option<String>,
    ) -> ApiResult<(Caller, WorkingCopyLinkRecord)> {
        let link = self
            .store
            .working_copy_link_by_hash(&token_hash(token))
            .await?
            .filter(|l| !l.revoked && l.expires_ms > now_ms())
            .ok_or_else(copy_link_refused)?;
        // A service account the link names acts with its own roles; disabling it at the
        // origin stops every copy that syncs through it at once.
        let acts_as = link.acts_as.as_ref().unwrap_or(&link.created_by);
        let user = self
            .store
            .user(acts_as)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(copy_link_refused)?;
        let credential = Credential::CopyLink {
            link_uid: link.uid.clone().into(),
        };
        // The link reaches its project or folder and nothing else, whatever its identity
        // may do elsewhere.
        let scope = caller::scope_object(&link.scope());
        let caller = Caller::new(user, credential, address).scoped_to(Some(scope));
        Ok((caller, link))
    }

    /// The caller a task's run acts as: `user` (the task's identity, whom the runner
    /// has loaded and checked), during run `run_uid`, fired through `chain`.
    pub(crate) fn task_caller(
        user: UserRecord,
        task_uid: &vitrine_core::TaskId,
        run_uid: &str,
        chain: Vec<String>,
    ) -> Caller {
        let credential = Credential::Task {
            task_uid: task_uid.to_owned().into(),
            run_uid: run_uid.to_owned(),
            chain,
        };
        Caller::new(user, credential, None)
    }

    /// Drops every credential of `user_uid` already checked, so a change to the user
    /// (disabled, new attributes or roles) acts on their very next request.
    pub(crate) fn forget_user(&self, user_uid: &vitrine_core::UserId) {
        self.cache.forget_user(user_uid);
    }
}

/// What every refused working-copy link is told, whatever the reason.
pub(crate) fn copy_link_refused() -> ApiError {
    ApiError::new(
        ErrorCode::LinkNotValid,
        "this working-copy link is unknown, revoked or expired",
    )
}
