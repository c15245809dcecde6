//! Recipients signing in to a recipients link: their first password, sign-in and
//! sign-out. Every check of a password is counted before it is hashed (see
//! [`crate::ratelimit`]), and few run at once.

use vitrine_core::AuditAction;
use vitrine_core::{ErrorCode, LinkKind, LinkState, RecipientPassword, check_email};
use vitrine_storage::{NewAuditEvent, ShareLinkRecord, ShareSessionRecord, now_ms};

use super::Sharing;
use super::visit::SHARE_SESSION_TTL_MS;
use super::{LOCK_AFTER_FAILURES, link_state};
use crate::caller::RequestMeta;
use crate::ratelimit::{give_back_all, reserve_all};
use crate::secrets::{new_token, token_hash};
use crate::{ApiError, ApiResult};

/// How long a recipient's password check waits for a permit before being refused.
const SHARE_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn wrong_password() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "the e-mail address or password is wrong",
    )
}

impl Sharing {
    /// Sets a recipient's first password (from their invitation session) and signs them in.
    pub async fn share_set_password(
        &self,
        link_uid: &str,
        session_token: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<()> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        let hash = token_hash(session_token);
        let session = self
            .store
            .share_session(&hash)
            .await?
            .filter(|s| s.link_uid == link_uid && s.expires_ms > now_ms())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "open your invitation link to set a password",
                )
            })?;
        let link = self.usable_link(link_uid).await?;
        let rec = match &session.recipient_uid {
            Some(r) => self.store.share_recipient(r).await?,
            None => None,
        }
        .filter(|r| r.revoked_ms.is_none())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "open your invitation link to set a password",
            )
        })?;
        let password = RecipientPassword::parse(password)?;
        if rec.password_hash.is_some() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a password is set already; sign in with it",
            ));
        }
        let hashed = {
            let _permit = self.share_check_permit().await?;
            self.identity.hasher().hash(password.expose()).await?
        };
        if !self.store.set_recipient_password(&rec.uid, &hashed).await? {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a password is set already; sign in with it",
            ));
        }
        self.store.sign_in_share_session(&hash, &rec.uid).await?;
        self.audit_share(
            &link,
            Some(&rec),
            AuditAction::SharePasswordSet,
            meta,
            format!("recipient:{}", rec.email),
        )
        .await?;
        Ok(())
    }

    /// One of the few permits a recipient password check holds while it hashes; waits a
    /// little, then asks the visitor to retry rather than queueing without bound.
    async fn share_check_permit(&self) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(SHARE_CHECK_WAIT, self.share_checks.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(ApiError::internal("share check permits", e)),
            Err(_) => Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many sign-ins at once; try again in a moment",
            )),
        }
    }

    pub(super) async fn usable_link(
        &self,
        link_uid: &vitrine_core::LinkId,
    ) -> ApiResult<ShareLinkRecord> {
        let link = self.store.share_link(link_uid).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::LinkNotValid, "this link is no longer valid")
        })?;
        match link_state(&link, now_ms()) {
            LinkState::Active => Ok(link),
            LinkState::Locked => Err(locked()),
            _ => Err(ApiError::new(
                ErrorCode::LinkNotValid,
                "this link is no longer valid",
            )),
        }
    }

    /// Signs a recipient in with e-mail and password. An attempt is reserved per address,
    /// per (link, recipient) and per link before any hashing, and given back only on
    /// success: one recipient's success never clears what protects the others. Checks
    /// then wait for one of the few share-check permits and look at the lock again, so a
    /// flood of guesses runs at most a handful of Argon2 checks at a time. Every failure
    /// counts towards the link's stored lock ([`LOCK_AFTER_FAILURES`]), which only its
    /// manager lifts.
    pub async fn share_sign_in(
        &self,
        link_uid: &str,
        session_token: Option<&str>,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> ApiResult<String> {
        let link_uid = &vitrine_core::LinkId::from(link_uid);
        let email = check_email(email).unwrap_or_default();
        let address = meta.address.as_deref().unwrap_or("unknown");
        let by_recipient = format!("{link_uid}:{email}");
        let keys = [
            (&self.share_by_address, address),
            (&self.share_by_recipient, by_recipient.as_str()),
            (&self.share_by_link, link_uid),
        ];
        let link = self.usable_link(link_uid).await?;
        if link.kind != LinkKind::Recipients {
            return Err(ApiError::invalid("this link has no recipients to sign in"));
        }
        reserve_all(&keys).await.map_err(|r| {
            ApiError::new(
                ErrorCode::RateLimited,
                format!("too many wrong passwords; try again in {} s", r.seconds()),
            )
        })?;
        let checked = async {
            let _permit = self.share_check_permit().await?;
            // Others may have locked the link while this check waited.
            let link = self.usable_link(link_uid).await?;
            let rec = self
                .store
                .share_recipient_by_email(link_uid, &email)
                .await?
                .filter(|r| r.revoked_ms.is_none());
            let stored = rec.as_ref().and_then(|r| r.password_hash.clone());
            let ok = self
                .identity
                .hasher()
                .verify(password, stored.as_deref())
                .await?;
            Ok::<_, ApiError>((link, rec.filter(|_| ok)))
        }
        .await;
        let (link, rec) = match checked {
            Ok(v) => v,
            Err(e) => {
                // Nothing was checked (busy, locked meanwhile): the attempt is not a guess.
                give_back_all(&keys).await;
                return Err(e);
            }
        };
        let Some(rec) = rec else {
            let after = self
                .store
                .share_link_failure(link_uid, LOCK_AFTER_FAILURES, now_ms())
                .await?;
            let event = NewAuditEvent {
                actor_uid: None,
                actor_name: format!("recipient:{email}"),
                action: AuditAction::ShareSignIn,
                object: format!("share_link:{link_uid}"),
                outcome: "denied".into(),
                address: meta.address.clone(),
                detail: meta.user_agent.clone().unwrap_or_default(),
            };
            self.access_log.queue_event(event);
            let locked_now = after.is_some_and(|l| l.locked_ms.is_some());
            let outcome = if locked_now { "locked" } else { "denied" };
            metrics::counter!("vitrine_share_sign_ins_total", "outcome" => outcome).increment(1);
            if locked_now {
                tracing::warn!(
                    link = %link_uid,
                    "share link locked after repeated wrong passwords"
                );
                return Err(locked());
            }
            return Err(wrong_password());
        };
        give_back_all(&keys).await;
        self.share_by_recipient.clear(&by_recipient).await;
        // A fresh session on every sign-in: a session fixed before sign-in is never promoted.
        if let Some(t) = session_token {
            self.store.delete_share_session(&token_hash(t)).await?;
        }
        let token = new_token("vss");
        let now = now_ms();
        self.store
            .insert_share_session(&ShareSessionRecord {
                hash: token_hash(&token),
                link_uid: link_uid.into(),
                recipient_uid: Some(rec.uid.clone()),
                signed_in: true,
                created_ms: now,
                expires_ms: now + SHARE_SESSION_TTL_MS,
            })
            .await?;
        self.audit_share(
            &link,
            Some(&rec),
            AuditAction::ShareSignIn,
            meta,
            format!("recipient:{}", rec.email),
        )
        .await?;
        Ok(token)
    }

    pub async fn share_sign_out(&self, session_token: &str) -> ApiResult<()> {
        Ok(self
            .store
            .delete_share_session(&token_hash(session_token))
            .await?)
    }
}

fn locked() -> ApiError {
    ApiError::new(
        ErrorCode::LinkLocked,
        "this link is locked after too many wrong passwords; ask the person who shared it to unlock it",
    )
}
