//! Invitations of local users: an admin creates an account (with or without a first
//! password) and Vitrine mails its owner a link to choose their own password
//! (`/invite#token=…`: in the fragment, so it never reaches access logs or referrers).
//! The token is single-use, expires after a week, and a new invitation replaces the old.

use vitrine_core::{AuditAction, ErrorCode, Password};
use vitrine_storage::{UserInvitationRecord, UserKind, UserRecord, now_ms};

use super::Identity;
use crate::caller::{Caller, RequestMeta};
use crate::mail::Mail;
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// How long an invitation works.
pub const USER_INVITATION_TTL_MS: i64 = 7 * 24 * 3_600_000;

impl Identity {
    /// Invites `user` (a local person with an address) by mail. With `wait`, the mail is
    /// sent before this returns and a failure is the answer (nothing changes: the old
    /// invitation keeps working); otherwise it is sent in the background and its outcome
    /// recorded. Admins only; audited.
    pub(crate) async fn invite_user(
        &self,
        caller: &Caller,
        user: &UserRecord,
        wait: bool,
    ) -> ApiResult<UserInvitationRecord> {
        let email = match (&user.kind, &user.issuer, &user.email) {
            (UserKind::Person, issuer, Some(e)) if issuer == "local" => e.clone(),
            (UserKind::Person, issuer, None) if issuer == "local" => {
                return Err(ApiError::invalid(
                    "email: an invitation is mailed; give the user an address",
                ));
            }
            _ => {
                return Err(ApiError::invalid(
                    "userId: only local people are invited; service accounts and single sign-on users have no password to choose",
                ));
            }
        };
        let token = new_token("vui");
        let now = now_ms();
        let record = UserInvitationRecord {
            user_uid: user.uid.clone(),
            token_hash: token_hash(&token),
            created_ms: now,
            expires_ms: now + USER_INVITATION_TTL_MS,
            sent_ms: None,
            error: None,
            accepted_ms: None,
        };
        let url = self.mailer.url(&format!("/invite#token={token}"))?;
        let sender = caller.user().display_name.clone();
        let mail = Mail {
            to: vec![email],
            subject: format!("{sender} invited you to Vitrine"),
            body: format!(
                "Hello {},\n\n{sender} created a Vitrine account for you. Your username is {}.\nChoose your password here (the link works once, for 7 days):\n\n    {url}\n",
                user.display_name, user.username
            ),
            attachments: Vec::new(),
            message_id: format!("<user-invitation.{}.{now}@vitrine>", user.uid),
        };
        let object = format!("user:{}", user.uid);
        if wait {
            self.mailer.send(mail).await?;
            self.store.put_user_invitation(&record).await?;
            self.store
                .user_invitation_mailed(&record.token_hash, now_ms(), None)
                .await?;
        } else {
            self.store.put_user_invitation(&record).await?;
            let (store, mailer, hash) = (
                self.store.clone(),
                self.mailer.clone(),
                record.token_hash.clone(),
            );
            tokio::spawn(async move {
                let sent = mailer.send(mail).await;
                let error = sent.as_ref().err().map(|e| e.message.as_str());
                if let Some(e) = error {
                    tracing::warn!(user = %object, error = %e, "user invitation not sent");
                }
                if let Err(e) = store.user_invitation_mailed(&hash, now_ms(), error).await {
                    tracing::warn!(error = %e, "user invitation outcome not recorded");
                }
            });
        }
        self.audit
            .record(
                caller,
                AuditAction::UserInvite,
                &format!("user:{}", user.uid),
                "ok",
                &user.username,
            )
            .await?;
        Ok(self
            .store
            .user_invitation(&user.uid)
            .await?
            .unwrap_or(record))
    }

    /// `POST /auth/invitation {token, password}`: the invitee chooses their password.
    /// Unknown, used, replaced and expired tokens get one answer; attempts count against
    /// the address like sign-ins. Answers the username to sign in with.
    pub async fn accept_user_invitation(
        &self,
        token: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<String> {
        let address = meta.address.as_deref().unwrap_or("unknown");
        if let Err(r) = self.login_by_address.reserve(&[address]).await {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many attempts; try again in {} s", r.seconds()),
            ));
        }
        let password = Password::parse("password", password)?;
        let gone = || {
            ApiError::new(
                ErrorCode::LinkNotValid,
                "this invitation is no longer valid (used, replaced or expired); ask an administrator for a new one",
            )
        };
        // A token that opens nothing costs a read, never a password hash; the write
        // below checks again, atomically.
        let hashed = token_hash(token);
        let open = self.store.user_invitation_by_token(&hashed).await?;
        if !open.is_some_and(|r| r.accepted_ms.is_none() && r.expires_ms > now_ms()) {
            return Err(gone());
        }
        let hash = self.hasher.hash(password.expose()).await?;
        let uid = match self
            .store
            .accept_user_invitation(&hashed, &hash, now_ms())
            .await
        {
            Ok(uid) => uid,
            Err(vitrine_storage::StorageError::NotFound(_)) => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        self.login_by_address.give_back(&[address]).await;
        self.forget_user(&uid);
        let user = self
            .store
            .user(&uid)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        self.audit
            .record_as(
                &user,
                AuditAction::UserInvitationAccept,
                &format!("user:{uid}"),
                "ok",
                meta,
                "password chosen",
            )
            .await?;
        Ok(user.username)
    }
}
