//! Sign-in, sessions and API tokens. How accounts come to exist outside the admin API
//! (setup, the shell, the instance's own users) is in [`super::setup`].

use vitrine_core::AuditAction;
use vitrine_core::{ErrorCode, Password};
use vitrine_storage::{SessionRecord, UserRecord, new_uid, now_ms};

use super::Identity;
use crate::caller::{Caller, Credential, RequestMeta};
use crate::ratelimit::{give_back_all, reserve_all};
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

fn ended() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthenticated,
        "the session has ended; sign in again",
    )
}

/// How long a browser session lives without signing in again.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user: UserRecord,
    /// Goes into the HttpOnly cookie; never shown again.
    pub session_token: String,
    /// Must accompany cookie-authenticated mutations as `X-CSRF-Token`.
    pub csrf_token: String,
}

impl Identity {
    /// Signs in with a local password. Failures say the same thing whether the user exists
    /// or not. An attempt is reserved per address and per account-and-address before any
    /// hashing and given back only on success, so concurrent guesses cannot outrun the
    /// limit and a guesser elsewhere never slows the account's owner.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<LoginOutcome> {
        let name_key = username.trim().to_lowercase();
        if !self.oidc.allows_local(&name_key) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "local accounts are switched off here; sign in through your organisation's identity provider",
            ));
        }
        let addr = meta.address.as_deref().unwrap_or("unknown");
        let account_key = format!("{name_key}@{addr}");
        let keys = [
            (&self.login_by_address, addr),
            (&self.login_by_account, account_key.as_str()),
        ];
        if let Err(r) = reserve_all(&keys).await {
            self.audit
                .login(None, &name_key, "rate_limited", meta)
                .await?;
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many failed sign-ins; retry in {} s", r.seconds()),
            ));
        }
        let user = self.store.user_by_username(&name_key).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = self.hasher.verify(password, stored).await?;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            (_, u) => {
                self.audit
                    .login(u.as_ref(), &name_key, "failed", meta)
                    .await?;
                return Err(ApiError::new(
                    ErrorCode::InvalidCredentials,
                    "wrong username or password",
                ));
            }
        };
        give_back_all(&keys).await;
        self.login_by_account.clear(&account_key).await;
        if user.disabled {
            self.audit
                .login(Some(&user), &name_key, "disabled", meta)
                .await?;
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        let out = self.open_session(user, None).await?;
        self.audit
            .login(Some(&out.user), &name_key, "ok", meta)
            .await?;
        Ok(out)
    }

    /// A new browser session for `user`, who has just proved who they are.
    pub(super) async fn open_session(
        &self,
        user: UserRecord,
        logout_url: Option<String>,
    ) -> ApiResult<LoginOutcome> {
        let session_token = new_token("vss");
        let csrf_token = new_token("csrf");
        let now = now_ms();
        self.store
            .insert_session(&SessionRecord {
                uid: new_uid().into(),
                token_hash: token_hash(&session_token),
                user_uid: user.uid.clone(),
                csrf_token: csrf_token.clone(),
                created_ms: now,
                expires_ms: now + SESSION_TTL.as_millis() as i64,
                logout_url,
            })
            .await?;
        Ok(LoginOutcome {
            user,
            session_token,
            csrf_token,
        })
    }

    /// Ends a session. Answers the identity provider's logout URL when the session came
    /// from a provider that offers one (the browser goes there next, to end the
    /// provider's session too).
    pub async fn logout(
        &self,
        session_token: &str,
        meta: &RequestMeta,
    ) -> ApiResult<Option<String>> {
        let hash = token_hash(session_token);
        let mut logout_url = None;
        if let Some(s) = self.store.session_by_hash(&hash).await? {
            logout_url = s.logout_url.clone();
            self.store.delete_session(&hash).await?;
            self.cache.forget_session(&hash);
            if let Some(u) = self.store.user(&s.user_uid).await? {
                self.audit
                    .record_as(
                        &u,
                        AuditAction::AuthLogout,
                        &format!("user:{}", u.uid),
                        "ok",
                        meta,
                        "",
                    )
                    .await?;
            }
        }
        Ok(logout_url)
    }

    /// The CSRF token of a live session, for the instance's own pages (GraphiQL) to send
    /// with mutations. Other sites cannot read the answer (no CORS), and the cookie is
    /// SameSite, so only this origin's pages learn it.
    pub async fn session_csrf(&self, session_token: &str, meta: &RequestMeta) -> ApiResult<String> {
        self.authenticate_session(session_token, None, meta).await?;
        let session = self
            .store
            .session_by_hash(&token_hash(session_token))
            .await?
            .ok_or_else(ended)?;
        Ok(session.csrf_token)
    }

    /// Resolves a session cookie. `csrf_header` is the request's X-CSRF-Token, if any.
    pub async fn authenticate_session(
        &self,
        session_token: &str,
        csrf_header: Option<&str>,
        meta: &RequestMeta,
    ) -> ApiResult<Caller> {
        let hash = token_hash(session_token);
        let (session, user) = match self.cache.session(&hash) {
            Some(hit) => hit,
            None => {
                let seen = self.cache.generation();
                let session = self.store.session_by_hash(&hash).await?.ok_or_else(ended)?;
                let user = self.active_user(&session.user_uid).await?;
                self.cache
                    .put_session(seen, hash.clone(), (session.clone(), user.clone()));
                (session, user)
            }
        };
        if session.expires_ms <= now_ms() {
            self.cache.forget_session(&hash);
            return Err(ended());
        }
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        let csrf_ok = csrf_header.is_some_and(|h| {
            subtle::ConstantTimeEq::ct_eq(h.as_bytes(), session.csrf_token.as_bytes()).into()
        });
        Ok(Caller::new(
            user,
            Credential::Session {
                session_hash: hash,
                csrf_ok,
            },
            meta.address.clone(),
        ))
    }

    /// Resolves `Authorization: Bearer …`.
    pub async fn authenticate_token(&self, token: &str, meta: &RequestMeta) -> ApiResult<Caller> {
        if self.is_provider_token(token) {
            return self.authenticate_provider_token(token, meta).await;
        }
        let hash = token_hash(token);
        let (record, user) = match self.cache.token(&hash) {
            Some(hit) => hit,
            None => {
                let seen = self.cache.generation();
                let record =
                    self.store.api_token_by_hash(&hash).await?.ok_or_else(|| {
                        ApiError::new(ErrorCode::TokenRejected, "unknown API token")
                    })?;
                let user = self.active_user(&record.user_uid).await?;
                self.cache
                    .put_token(seen, hash, (record.clone(), user.clone()));
                (record, user)
            }
        };
        if record.revoked_ms.is_some() {
            return Err(ApiError::new(
                ErrorCode::TokenRejected,
                "this API token was revoked",
            ));
        }
        if record.expires_ms.is_some_and(|e| e <= now_ms()) {
            return Err(ApiError::new(
                ErrorCode::TokenRejected,
                "this API token has expired",
            ));
        }
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        self.touch_token(&record.uid);
        let scope = record.scope.as_ref().map(crate::caller::scope_object);
        let credential = Credential::ApiToken {
            token_uid: record.uid.into(),
            read_only: record.read_only,
        };
        Ok(Caller::new(user, credential, meta.address.clone()).scoped_to(scope))
    }

    fn touch_token(&self, token_uid: &str) {
        const EVERY: std::time::Duration = std::time::Duration::from_secs(60);
        {
            let mut touched = self.token_touched.lock();
            if touched.get(token_uid).is_some_and(|t| t.elapsed() < EVERY) {
                return;
            }
            if touched.len() > 100_000 {
                touched.clear();
            }
            touched.insert(token_uid.to_owned(), std::time::Instant::now());
        }
        let (store, uid) = (self.store.clone(), token_uid.to_owned());
        tokio::spawn(async move {
            if let Err(e) = store
                .touch_api_token(&vitrine_core::TokenId::from(&uid))
                .await
            {
                tracing::warn!(token = %uid, error = %e, "cannot record token use");
            }
        });
    }

    async fn active_user(&self, uid: &vitrine_core::UserId) -> ApiResult<UserRecord> {
        let user = self.store.user(uid).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthenticated, "the account no longer exists")
        })?;
        if user.disabled {
            return Err(ApiError::new(
                ErrorCode::AccountDisabled,
                "this account is disabled",
            ));
        }
        Ok(user)
    }

    /// Changes the caller's own password; other sessions of the caller end.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> ApiResult<()> {
        caller.require_write()?;
        caller.require_unscoped("password")?;
        // A provider's user has no password here; giving them one would open a second
        // way in that the provider (and "OIDC only") knows nothing of.
        if caller.user().issuer != "local" {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this account signs in through its identity provider and has no password here",
            ));
        }
        let key = format!("pw:{}", caller.uid());
        let new = Password::parse("newPassword", new)?;
        if let Err(r) = self.login_by_account.reserve(&[&key]).await {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many wrong passwords; retry in {} s", r.seconds()),
            ));
        }
        if !self
            .hasher
            .verify(current, caller.user().password_hash.as_deref())
            .await?
        {
            self.audit
                .record(
                    caller,
                    AuditAction::UserChangePassword,
                    &format!("user:{}", caller.uid()),
                    "denied",
                    "wrong current password",
                )
                .await?;
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "the current password is wrong",
            ));
        }
        self.login_by_account.clear(&key).await;
        let hash = self.hasher.hash(new.expose()).await?;
        self.store
            .set_password_hash(&vitrine_core::UserId::from(caller.uid()), &hash)
            .await?;
        let keep = match &caller.credential() {
            Credential::Session { session_hash, .. } => Some(session_hash.as_str()),
            Credential::ApiToken { .. }
            | Credential::ProviderToken { .. }
            | Credential::CopyLink { .. }
            | Credential::Task { .. }
            | Credential::System { .. } => None,
        };
        self.store
            .delete_sessions_of(&vitrine_core::UserId::from(caller.uid()), keep)
            .await?;
        self.cache.forget_user(caller.uid());
        self.audit
            .record(
                caller,
                AuditAction::UserChangePassword,
                &format!("user:{}", caller.uid()),
                "ok",
                "",
            )
            .await?;
        Ok(())
    }
}
