//! API tokens: issued to a person for themselves or by an admin to a service account,
//! optionally scoped to one project or folder (a [`TokenScope`]), expiring, revocable.
//! Checking a presented token is sign-in's work ([`super::sign_in`]).

use vitrine_authz::Object;
use vitrine_core::{AuditAction, Name, Role, ServerPermission, TokenScope};
use vitrine_storage::{ApiTokenRecord, UserKind, new_uid, now_ms};

use super::Identity;
use crate::caller::{Caller, Credential, scope_object};
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub record: ApiTokenRecord,
    /// The secret, shown once.
    pub token: String,
}

/// What an API token asks to be issued as.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest<'a> {
    /// A service account's id (admins only); the caller when `None`.
    pub owner_uid: Option<&'a str>,
    pub name: &'a str,
    pub read_only: bool,
    pub expires_ms: Option<i64>,
    /// `project:ID` or `folder:ID`: the only part of the instance the token reaches.
    pub scope: Option<&'a str>,
}

impl Identity {
    /// Issues an API token for the caller, or for a service account (admins only).
    /// A scoped token holds the owner's roles on its scope and below only, and no server
    /// permission.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        request: TokenRequest<'_>,
    ) -> ApiResult<NewApiToken> {
        let TokenRequest {
            owner_uid,
            name,
            read_only,
            expires_ms,
            scope,
        } = request;
        caller.require_write()?;
        if matches!(
            caller.credential(),
            Credential::ApiToken { .. }
                | Credential::CopyLink { .. }
                | Credential::Task { .. }
                | Credential::System { .. }
        ) {
            return Err(ApiError::forbidden(
                "API tokens cannot mint further tokens; sign in to create one",
            ));
        }
        let name = Name::parse("name", name)?;
        let owner = match owner_uid {
            None => caller.user().clone(),
            Some(uid) if uid == caller.uid() => caller.user().clone(),
            Some(uid) => {
                self.authz
                    .require_permission(caller, ServerPermission::Admin)?;
                let u = self
                    .store
                    .user(&vitrine_core::UserId::from(uid))
                    .await?
                    .ok_or_else(|| ApiError::not_found("user"))?;
                if u.kind != UserKind::Service {
                    return Err(ApiError::forbidden(
                        "tokens for other people cannot be issued; only for service accounts",
                    ));
                }
                u
            }
        };
        if let Some(e) = expires_ms
            && e <= now_ms()
        {
            return Err(ApiError::invalid("expiresAt: must be in the future"));
        }
        let scope = match scope {
            Some(text) => Some(self.token_scope(caller, text).await?),
            None => None,
        };
        let token = new_token("vit");
        let record = ApiTokenRecord {
            uid: new_uid().into(),
            token_hash: token_hash(&token),
            user_uid: owner.uid.clone(),
            name: name.into_inner(),
            read_only,
            created_ms: now_ms(),
            expires_ms,
            revoked_ms: None,
            last_used_ms: None,
            scope,
        };
        self.store.insert_api_token(&record).await?;
        self.audit
            .record(
                caller,
                AuditAction::TokenCreate,
                &format!("token:{}", record.uid),
                "ok",
                &match &record.scope {
                    Some(scope) => format!("owner user:{}, scoped to {scope}", owner.uid),
                    None => format!("owner user:{}", owner.uid),
                },
            )
            .await?;
        Ok(NewApiToken { record, token })
    }

    pub async fn api_tokens(
        &self,
        caller: &Caller,
        owner_uid: Option<&str>,
    ) -> ApiResult<Vec<ApiTokenRecord>> {
        caller.require_unscoped("API tokens")?;
        let owner = owner_uid.unwrap_or(caller.uid());
        if owner != caller.uid() {
            self.authz
                .require_permission(caller, ServerPermission::Admin)?;
        }
        Ok(self
            .store
            .api_tokens_of(&vitrine_core::UserId::from(owner))
            .await?)
    }

    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        token_uid: &str,
    ) -> ApiResult<ApiTokenRecord> {
        let token_uid = &vitrine_core::TokenId::from(token_uid);
        caller.require_write()?;
        caller.require_unscoped("API tokens")?;
        let record = self
            .store
            .api_token(token_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("API token"))?;
        if record.user_uid != caller.uid() && !self.authz.is_admin(caller) {
            return Err(ApiError::not_found("API token"));
        }
        self.store.revoke_api_token(token_uid).await?;
        self.cache.forget_token(token_uid);
        self.audit
            .record(
                caller,
                AuditAction::TokenRevoke,
                &format!("token:{token_uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(self.store.api_token(token_uid).await?.unwrap_or(record))
    }

    /// Reads `project:ID` or `folder:ID` into a scope the caller may see (anything else,
    /// and what the caller cannot see, is refused the same way as what does not exist).
    async fn token_scope(&self, caller: &Caller, text: &str) -> ApiResult<TokenScope> {
        let scope = match Object::parse(text) {
            Some(Object::Project(p)) => TokenScope::Project(p.into()),
            Some(Object::Folder(f)) => TokenScope::Folder(f.into()),
            _ => {
                return Err(ApiError::invalid(
                    "scope: must be `project:ID` or `folder:ID`",
                ));
            }
        };
        let exists = match &scope {
            TokenScope::Project(p) => self.store.project(p).await?.is_some(),
            TokenScope::Folder(f) => self.store.folder(f).await?.is_some(),
        };
        if !exists || self.authz.effective_role(caller, &scope_object(&scope)) < Role::Viewer {
            return Err(ApiError::not_found(&format!("scope {text}")));
        }
        Ok(scope)
    }
}
