//! Writing audit events. An action is not done until its audit event is written: a write
//! that fails fails the action (changes of a project's content write their event in the
//! same transaction, see [`crate::commits`]). Views are the exception: they are recorded
//! off the request path, in batches ([`Audit::record_view`]).

use std::sync::Arc;

use vitrine_authz::Authz;
use vitrine_core::{AuditAction, ServerPermission};
use vitrine_storage::{AuditFilter, AuditRecord, NewAuditEvent, PageRequest, Store, UserRecord};

use crate::caller::{Caller, RequestMeta};
use crate::sharing::AccessLog;
use crate::{ApiError, ApiResult};

/// The audit service: writes every event (an action's own, a refusal's, a view's in
/// the batch) and lets administrators read the log.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    authz: Arc<Authz>,
    /// Where views are batched: the same log as shared views, so one flush writes both.
    views: AccessLog,
}

impl Audit {
    pub(crate) fn new(store: Store, authz: Arc<Authz>, views: AccessLog) -> Self {
        Audit {
            store,
            authz,
            views,
        }
    }

    async fn write(&self, event: NewAuditEvent) -> ApiResult<()> {
        let action = event.action;
        self.store.append_audit(event).await.map(drop).map_err(|e| {
            tracing::error!(%action, error = %e, "audit event not written");
            ApiError::from(e)
        })
    }

    /// Deletes events older than `days` now and every hour after (the configured
    /// retention), off the request path. Each deletion that removed something is itself
    /// audited, so the trail says what it no longer holds.
    pub(crate) fn keep_for(&self, days: u32) {
        let this = self.clone();
        let span = i64::from(days.max(1)) * 86_400_000;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let before = vitrine_storage::now_ms() - span;
                match this.store.prune_audit(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        let detail = format!("{n} events older than {days} days deleted");
                        let event = NewAuditEvent {
                            actor_uid: None,
                            actor_name: "system".into(),
                            action: AuditAction::AuditPrune,
                            object: "instance".into(),
                            outcome: "ok".into(),
                            address: None,
                            detail,
                        };
                        if let Err(e) = this.write(event).await {
                            tracing::warn!(error = %e.message, "audit prune not recorded");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "audit events not pruned"),
                }
            }
        });
    }

    /// Writes a prepared event.
    pub(crate) async fn append(&self, event: NewAuditEvent) -> ApiResult<()> {
        self.write(event).await
    }

    pub async fn record(
        &self,
        caller: &Caller,
        action: AuditAction,
        object: &str,
        outcome: &str,
        detail: &str,
    ) -> ApiResult<()> {
        let meta = RequestMeta {
            address: caller.address().map(str::to_owned),
            user_agent: None,
        };
        self.record_as(caller.user(), action, object, outcome, &meta, detail)
            .await
    }

    /// The event describing a caller's successful action, for writing in the same
    /// transaction as the action itself.
    pub(crate) fn event(
        caller: &Caller,
        action: AuditAction,
        object: &str,
        detail: &str,
    ) -> NewAuditEvent {
        NewAuditEvent {
            actor_uid: Some(caller.user().uid.clone()),
            actor_name: caller.user().username.clone(),
            action,
            object: object.into(),
            outcome: "ok".into(),
            address: caller.address().map(str::to_owned),
            detail: detail.into(),
        }
    }

    /// Records a read (a tile view) off the request path: views are frequent, and a
    /// synced write per view would cost more than the cached answer it describes. The
    /// event joins the access log's batch (written within a second, and before the audit
    /// log is read).
    pub fn record_view(&self, caller: &Caller, action: AuditAction, object: &str, detail: &str) {
        self.views
            .queue_event(Audit::event(caller, action, object, detail));
    }

    pub async fn record_as(
        &self,
        user: &UserRecord,
        action: AuditAction,
        object: &str,
        outcome: &str,
        meta: &RequestMeta,
        detail: &str,
    ) -> ApiResult<()> {
        self.write(NewAuditEvent {
            actor_uid: Some(user.uid.clone()),
            actor_name: user.username.clone(),
            action,
            object: object.into(),
            outcome: outcome.into(),
            address: meta.address.clone(),
            detail: detail.into(),
        })
        .await
    }

    /// A sign-in refused before any user was known (an identity provider's answer that
    /// did not hold up): `attempted` names the provider, `why` the reason.
    pub async fn login_refused(
        &self,
        attempted: &str,
        outcome: &str,
        why: &str,
        meta: &RequestMeta,
    ) -> ApiResult<()> {
        count_sign_in(outcome);
        self.write(NewAuditEvent {
            actor_uid: None,
            actor_name: attempted.into(),
            action: AuditAction::AuthLogin,
            object: "user:unknown".into(),
            outcome: outcome.into(),
            address: meta.address.clone(),
            detail: why.chars().take(500).collect(),
        })
        .await
    }

    pub async fn login(
        &self,
        user: Option<&UserRecord>,
        attempted: &str,
        outcome: &str,
        meta: &RequestMeta,
    ) -> ApiResult<()> {
        count_sign_in(outcome);
        self.write(NewAuditEvent {
            actor_uid: user.map(|u| u.uid.clone()),
            actor_name: attempted.into(),
            action: AuditAction::AuthLogin,
            object: user
                .map(|u| format!("user:{}", u.uid))
                .unwrap_or_else(|| "user:unknown".into()),
            outcome: outcome.into(),
            address: meta.address.clone(),
            detail: meta.user_agent.clone().unwrap_or_default(),
        })
        .await
    }

    /// An action taken from the machine's shell (`vitrine admin …`), whose access to the
    /// data directory is the authority: named `shell` in the trail.
    pub(crate) async fn shell(
        &self,
        action: AuditAction,
        object: &str,
        detail: &str,
    ) -> ApiResult<()> {
        self.write(NewAuditEvent {
            actor_uid: None,
            actor_name: "shell".into(),
            action,
            object: object.into(),
            outcome: "ok".into(),
            address: None,
            detail: detail.into(),
        })
        .await
    }

    pub async fn system(
        &self,
        action: AuditAction,
        object: &str,
        outcome: &str,
        meta: &RequestMeta,
        detail: &str,
    ) -> ApiResult<()> {
        self.write(NewAuditEvent {
            actor_uid: None,
            actor_name: "anonymous".into(),
            action,
            object: object.into(),
            outcome: outcome.into(),
            address: meta.address.clone(),
            detail: detail.into(),
        })
        .await
    }

    /// Records a refused mutation (`field` names it, `code` is the error code), by the
    /// caller when there is one, else as anonymous. The answer is already the refusal,
    /// so an event that cannot be written is only logged.
    pub async fn record_refusal(
        &self,
        caller: Option<&Caller>,
        meta: &RequestMeta,
        field: &str,
        code: &str,
        message: &str,
    ) {
        let object = format!("mutation:{field}");
        let action = AuditAction::MutationRefused;
        let _ = match caller {
            Some(c) => self.record(c, action, &object, code, message).await,
            None => self.system(action, &object, code, meta, message).await,
        };
    }

    pub async fn events(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<AuditRecord>> {
        self.authz
            .require_permission(caller, ServerPermission::Admin)?;
        // Views still in the batch are part of the answer.
        self.views.flush().await;
        Ok(self.store.audit_page(filter, page).await?)
    }
}

/// `vitrine_sign_ins_total{outcome}` for `/metrics`: failures and lockouts
/// (`rate_limited`) among them. Outcomes outside the known set count as `other`.
fn count_sign_in(outcome: &str) {
    let outcome = match outcome {
        "ok" => "ok",
        "failed" => "failed",
        "rate_limited" => "rate_limited",
        "disabled" => "disabled",
        _ => "other",
    };
    metrics::counter!("vitrine_sign_ins_total", "outcome" => outcome).increment(1);
}
