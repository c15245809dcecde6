//! How accounts and callers come to exist outside sign-in and the admin API: the first
//! administrator through the one-time setup token, users made from the machine's shell,
//! the users the instance itself acts as (the demo's owner), and the audited system
//! callers it acts through.

use vitrine_core::AuditAction;
use vitrine_core::{ErrorCode, Name, Password, ServerPermission, Username};
use vitrine_storage::{UserKind, UserRecord};

use super::Identity;
use crate::caller::{Caller, Credential, RequestMeta};
use crate::secrets::new_token;
use crate::users::local_user;
use crate::{ApiError, ApiResult};

/// How long the one-time setup token works; a restart prints a fresh one.
pub const SETUP_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Identity {
    /// On a fresh instance (no administrator), returns the one-time setup token, minting it
    /// on first call. `None` once an administrator exists.
    pub fn setup_token(&self) -> Option<String> {
        if self.authz.any_admin() {
            *self.setup_token.lock() = None;
            return None;
        }
        let mut slot = self.setup_token.lock();
        if slot
            .as_ref()
            .is_none_or(|(_, minted)| minted.elapsed() >= SETUP_TOKEN_TTL)
        {
            *slot = Some((new_token("vsu"), std::time::Instant::now()));
        }
        slot.as_ref().map(|(t, _)| t.clone())
    }

    pub fn setup_required(&self) -> bool {
        !self.authz.any_admin()
    }

    /// Creates the first administrator with the setup token. Afterwards the token is gone
    /// and the call is refused.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<UserRecord> {
        let expected = self
            .setup_token
            .lock()
            .clone()
            .filter(|(_, minted)| minted.elapsed() < SETUP_TOKEN_TTL);
        let valid = expected.as_ref().is_some_and(|(e, _)| {
            subtle::ConstantTimeEq::ct_eq(e.as_bytes(), token.as_bytes()).into()
        });
        if self.authz.any_admin() {
            return Err(ApiError::new(
                ErrorCode::SetupState,
                "this instance has an administrator already; setup is closed",
            ));
        }
        if !valid {
            self.audit
                .system(
                    AuditAction::SetupComplete,
                    "instance",
                    "denied",
                    meta,
                    "wrong setup token",
                )
                .await?;
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the setup token is not valid; use the URL the server printed",
            ));
        }
        let user = self
            .create_local_user(username, username, password, None)
            .await?;
        self.authz
            .grant_permission(
                &vitrine_authz::Subject::User(user.uid.clone().into()),
                ServerPermission::Admin,
            )
            .await?;
        *self.setup_token.lock() = None;
        self.audit
            .system(
                AuditAction::SetupComplete,
                &format!("user:{}", user.uid),
                "ok",
                meta,
                "first administrator created",
            )
            .await?;
        Ok(user)
    }

    /// A caller for work the instance does on its own behalf, acting as the user
    /// `user_uid` (who must exist and be enabled), for `reason`. Every one is audited
    /// (`system.act`, with the reason), so nothing acts unseen.
    pub async fn system_caller(&self, user_uid: &str, reason: &str) -> ApiResult<Caller> {
        let user_uid = &vitrine_core::UserId::from(user_uid);
        let user = self
            .store
            .user(user_uid)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| ApiError::not_found("user"))?;
        let caller = Caller::new(
            user,
            Credential::System {
                reason: reason.to_owned(),
            },
            None,
        );
        self.audit
            .record(
                &caller,
                AuditAction::SystemAct,
                &format!("user:{user_uid}"),
                "ok",
                reason,
            )
            .await?;
        Ok(caller)
    }

    /// Creates a local user from the machine's shell (`vitrine admin create-user`), whose
    /// access to the data directory is the authority; optionally an administrator. Audited
    /// as a system action.
    pub async fn create_user_from_shell(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        admin: bool,
    ) -> ApiResult<UserRecord> {
        let user = self
            .create_local_user(username, display_name, password, None)
            .await?;
        if admin {
            self.authz
                .grant_permission(
                    &vitrine_authz::Subject::User(user.uid.clone().into()),
                    ServerPermission::Admin,
                )
                .await?;
        }
        let detail = if admin {
            "created from the shell as administrator"
        } else {
            "created from the shell"
        };
        self.audit_user_created(&user, detail).await?;
        Ok(user)
    }

    /// Sets a local account's password from the shell (the break-glass administrator's,
    /// when local accounts are off) and ends its sessions. Accounts that sign in through
    /// an identity provider, and service accounts, have no password to set.
    pub async fn reset_password_from_shell(
        &self,
        username: &str,
        password: &str,
    ) -> ApiResult<UserRecord> {
        let name = username.trim().to_lowercase();
        let user = self
            .store
            .user_by_username(&name)
            .await?
            .filter(|u| u.issuer == "local" && u.kind == UserKind::Person)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no local person account is named `{name}`"),
                )
            })?;
        let password = Password::parse("password", password)?;
        let hash = self.hasher.hash(password.expose()).await?;
        self.store.set_password_hash(&user.uid, &hash).await?;
        self.store.delete_sessions_of(&user.uid, None).await?;
        self.forget_user(&user.uid);
        self.audit
            .system(
                AuditAction::UserChangePassword,
                &format!("user:{}", user.uid),
                "ok",
                &RequestMeta::default(),
                "reset from the shell",
            )
            .await?;
        Ok(user)
    }

    /// The local user `username` that the instance acts as for `reason` (the demo's
    /// owner), created with a random password nobody knows when missing.
    pub async fn instance_user(
        &self,
        username: &str,
        display_name: &str,
        reason: &str,
    ) -> ApiResult<UserRecord> {
        if let Some(u) = self.store.user_by_username(username).await? {
            return Ok(u);
        }
        let password = crate::secrets::new_token("instance");
        let user = self
            .create_local_user(username, display_name, password.as_str(), None)
            .await?;
        self.audit_user_created(&user, reason).await?;
        Ok(user)
    }

    /// Records that the instance itself created `user` (from the shell, or to act as), a
    /// system action with no request behind it.
    async fn audit_user_created(&self, user: &UserRecord, detail: &str) -> ApiResult<()> {
        self.audit
            .system(
                AuditAction::UserCreate,
                &format!("user:{}", user.uid),
                "ok",
                &RequestMeta::default(),
                detail,
            )
            .await
    }

    /// Creates a local user with a validated username and password; no permission check
    /// (callers check). Used by setup, the admin API and the shell.
    pub(crate) async fn create_local_user(
        &self,
        username: &str,
        display_name: &str,
        password: impl Into<Option<&str>>,
        email: Option<String>,
    ) -> ApiResult<UserRecord> {
        let username = Username::parse(username)?;
        let display = Name::parse("displayName", display_name)?;
        // Without one, the account signs in once its owner chose it (an invitation).
        let hash = match password.into() {
            Some(p) => {
                let password = Password::parse("password", p)?;
                Some(self.hasher.hash(password.expose()).await?)
            }
            None => None,
        };
        let user = local_user(username, display, UserKind::Person, hash, email);
        self.store.insert_user(&user).await?;
        Ok(user)
    }
}
