//! Who is calling, and how they proved it.
//!
//! A [`Caller`] is made only inside this crate: by sign-in and token checks (`auth`), by a
//! working-copy link (`remote`), for a scheduled task's run (`tasks`), or, for work the
//! instance does on its own behalf, by [`crate::Services::system_caller`], which audits
//! the reason. Code above the services (GraphQL, HTTP routes, the CLI) gets callers from
//! those functions and can read them, never build or change one:
//!
//! ```compile_fail
//! # fn forge(user: vitrine_storage::UserRecord) -> vitrine_services::Caller {
//! vitrine_services::Caller {
//!     user,
//!     credential: vitrine_services::Credential::ApiToken { token_uid: "x".into(), read_only: false },
//!     address: None,
//! }
//! # }
//! ```

use vitrine_core::ErrorCode;
use vitrine_storage::UserRecord;

use crate::{ApiError, ApiResult};
use vitrine_authz::{Object, Principal};

/// The authorization object a token scope stands for.
pub(crate) fn scope_object(scope: &vitrine_core::TokenScope) -> Object {
    match scope {
        vitrine_core::TokenScope::Project(p) => Object::Project(p.to_string()),
        vitrine_core::TokenScope::Folder(f) => Object::Folder(f.to_string()),
    }
}

impl<'a> From<&'a Caller> for Principal<'a> {
    fn from(caller: &'a Caller) -> Self {
        Principal::scoped(caller.uid(), caller.scope.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session. `csrf_ok` says whether the request carried the session's CSRF
    /// token; without it the session may read but not write.
    Session {
        session_hash: String,
        csrf_ok: bool,
    },
    ApiToken {
        token_uid: String,
        read_only: bool,
    },
    /// An access token an identity provider issued for this instance's API audience.
    ProviderToken {
        provider: String,
    },
    /// Another instance holding a working-copy link, acting for the link's creator on
    /// the link's project only.
    CopyLink {
        link_uid: String,
    },
    /// A scheduled task acting as its identity (its owner or a service account) during
    /// run `run_uid`. `chain`: the tasks whose runs led to this one through events, this
    /// one last, so an event never fires a task that caused it.
    Task {
        task_uid: String,
        run_uid: String,
        chain: Vec<String>,
    },
    /// The instance acting on its own, as `user`, for `reason` (seeding the demo, say);
    /// made only by [`crate::Identity::system_caller`], which audits it.
    System {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Caller {
    user: UserRecord,
    credential: Credential,
    address: Option<String>,
    /// The one folder or project a scoped credential reaches; see [`vitrine_core::TokenScope`].
    scope: Option<Object>,
}

impl Caller {
    /// Made by the identity service only (the compiler holds to it): sign-in and token
    /// checks, working-copy links, a task's run and [`crate::Identity::system_caller`].
    pub(super) fn new(user: UserRecord, credential: Credential, address: Option<String>) -> Caller {
        Caller {
            user,
            credential,
            address,
            scope: None,
        }
    }

    /// The same caller, reaching `scope` only (nothing when `None` is given, which leaves
    /// it unscoped). Every authorization check the caller meets honours it: see
    /// [`vitrine_authz::Principal`].
    pub(super) fn scoped_to(mut self, scope: Option<Object>) -> Caller {
        self.scope = scope;
        self
    }

    /// The folder or project the caller's credential is scoped to, if any.
    pub fn scope(&self) -> Option<&Object> {
        self.scope.as_ref()
    }

    /// Refuses a scoped credential for what is not inside any folder or project: the
    /// account itself (password, tokens), scheduled tasks, instance settings.
    pub fn require_unscoped(&self, what: &str) -> ApiResult<()> {
        match &self.scope {
            Some(scope) => Err(ApiError::forbidden(format!(
                "{what}: this credential is scoped to {scope} and cannot act outside it"
            ))),
            None => Ok(()),
        }
    }

    pub fn uid(&self) -> &str {
        &self.user.uid
    }

    /// The user the caller acts as.
    pub fn user(&self) -> &UserRecord {
        &self.user
    }

    /// How the caller proved who they are.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// How the caller signs revisions: their id and their username at the time.
    pub(crate) fn as_author(&self) -> (Option<&str>, &str) {
        (Some(self.uid()), self.user.username.as_str())
    }

    /// The client address the request came from, when there was a request.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Whether the credential is a read-only API token: nothing it carries may write,
    /// on any route.
    pub fn read_only(&self) -> bool {
        matches!(
            self.credential,
            Credential::ApiToken {
                read_only: true,
                ..
            }
        )
    }

    /// May this request change anything? Refuses read-only tokens and cookie requests
    /// without the CSRF token.
    pub fn require_write(&self) -> ApiResult<()> {
        match &self.credential {
            Credential::Session { csrf_ok: false, .. } => Err(ApiError::new(
                ErrorCode::CsrfRejected,
                "cookie-authenticated mutations need the X-CSRF-Token header from sign-in",
            )),
            Credential::ApiToken {
                read_only: true, ..
            } => Err(ApiError::new(
                ErrorCode::TokenRejected,
                "this API token is read-only",
            )),
            _ => Ok(()),
        }
    }
}

/// What the HTTP layer knows about a request before authentication.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}
