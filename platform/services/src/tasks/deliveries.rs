//! Deliveries that share-link recipients schedule for themselves, through their link and
//! only when it carries the `schedule` right: the report the link shows, mailed on a cron
//! schedule to the recipient's own address, made as they see it (the link's or their own
//! attribute values). They are tasks carrying the recipient (owned by the link's creator),
//! so firing, retries and run history are the scheduler's own.
//!
//! Revoking the recipient cancels them or hands them to the link's owner in the same
//! transaction (storage's `SETTLE_DELIVERIES`); one saved while a revocation ran is
//! settled at its first firing instead. Revoking the whole link cancels them.

use vitrine_core::AuditAction;
use vitrine_core::task::{Action, Notify, Target, TaskSpec, Trigger};
use vitrine_core::{ErrorCode, Password};
use vitrine_storage::{ShareRecipientRecord, TaskRecord, TaskRunRecord, new_uid, now_ms};

use super::{Tasks, schedule};
use crate::ShareAccess;
use crate::mail::{Attachment, Mail};
use crate::{ApiError, ApiResult, ProjectView};

/// Most deliveries one recipient keeps scheduled.
pub const MAX_DELIVERIES_PER_RECIPIENT: usize = 10;

/// The shortest time between two deliveries a recipient schedules (or the instance's
/// task interval, if longer): an outsider's schedule is never a mail cannon.
pub const MIN_RECIPIENT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A delivery as a recipient asks for it.
#[derive(Debug, Clone)]
pub struct NewLinkDelivery {
    /// Which report of the link (links to one report: that one, when absent).
    pub report_uid: Option<String>,
    pub cron: String,
    pub time_zone: String,
    /// Attach each tile's data as CSV.
    pub csv: bool,
    pub subject: Option<String>,
}

/// A recipient's delivery as they see it.
#[derive(Debug, Clone)]
pub struct LinkDeliveryView {
    pub uid: String,
    pub report_uid: String,
    pub cron: String,
    pub time_zone: String,
    pub csv: bool,
    pub subject: Option<String>,
    /// The next firing; none while the link's owner has it paused.
    pub next_fire_ms: Option<i64>,
    pub created_ms: i64,
}

impl From<TaskRecord> for LinkDeliveryView {
    fn from(t: TaskRecord) -> Self {
        let (cron, time_zone) = match t.spec.trigger {
            Trigger::Cron { cron, time_zone } => (cron, time_zone),
            _ => Default::default(),
        };
        let (report_uid, csv, subject) = match t.spec.actions.into_iter().next() {
            Some(Action::Deliver {
                report,
                csv,
                subject,
                ..
            }) => (report, csv, subject),
            _ => Default::default(),
        };
        LinkDeliveryView {
            uid: t.uid.into(),
            report_uid,
            cron,
            time_zone,
            csv,
            subject,
            next_fire_ms: (!t.paused).then_some(t.next_fire_ms).flatten(),
            created_ms: t.created_ms,
        }
    }
}

/// The recipient of a visit that may schedule deliveries.
fn scheduling_recipient(a: &ShareAccess) -> ApiResult<&ShareRecipientRecord> {
    match &a.recipient {
        Some(r) if a.rights.schedule => Ok(r),
        _ => Err(ApiError::forbidden(
            "this link does not let you schedule deliveries",
        )),
    }
}

impl Tasks {
    /// Schedules a delivery of what the link shows to the recipient's own address.
    pub async fn schedule_link_delivery(
        &self,
        a: &ShareAccess,
        new: NewLinkDelivery,
    ) -> ApiResult<LinkDeliveryView> {
        let r = scheduling_recipient(a)?;
        let report = self
            .sharing
            .shared_report_of(a, new.report_uid.as_deref())
            .await?;
        let (report_uid, report_name) = (report.uid, report.name);
        let spec = TaskSpec {
            trigger: Trigger::Cron {
                cron: new.cron,
                time_zone: new.time_zone,
            },
            // The report's own project: a link to several projects covers it.
            target: Target::Project {
                project: report.project_uid.to_string(),
            },
            actions: vec![Action::Deliver {
                report: report_uid.to_string(),
                recipients: vec![r.email.clone()],
                csv: new.csv,
                subject: new.subject,
            }],
            concurrency: None,
            max_attempts: 3,
            notify: Notify::default(),
        };
        spec.check_shape()
            .map_err(|e| ApiError::invalid(e.to_string().replace("actions[0].", "")))?;
        // App parameters are the instance's: a recipient's text never reads them.
        if !spec.references().is_empty() {
            return Err(ApiError::invalid(
                "subject: `${…}` names an app parameter; recipients write plain text",
            ));
        }
        if let Trigger::Cron { cron, time_zone } = &spec.trigger {
            let min = self
                .min_task_interval_ms()
                .max(MIN_RECIPIENT_INTERVAL.as_millis() as i64);
            self.check_cron_interval("cron", cron, time_zone, min)?;
        }
        if self.store.recipient_tasks(&r.uid).await?.len() >= MAX_DELIVERIES_PER_RECIPIENT {
            return Err(ApiError::invalid(format!(
                "cron: you have {MAX_DELIVERIES_PER_RECIPIENT} deliveries scheduled already; cancel one first"
            )));
        }
        let now = now_ms();
        let uid = new_uid();
        let mut task = TaskRecord {
            name: format!(
                "{report_name} for {} ({})",
                r.email,
                &uid[..8.min(uid.len())]
            ),
            uid: uid.into(),
            owner_uid: a.link.created_by.clone(),
            run_as_token_uid: None,
            spec,
            paused: false,
            next_fire_ms: None,
            event_kind: None,
            created_ms: now,
            updated_ms: now,
            recipient_uid: Some(r.uid.clone()),
            transferred_from: None,
        };
        schedule(&mut task, now);
        match self.store.insert_recipient_task(&task).await {
            Err(vitrine_storage::StorageError::NotFound(_)) => {
                return Err(ApiError::new(
                    ErrorCode::LinkNotValid,
                    "this link is no longer valid",
                ));
            }
            other => other?,
        }
        self.audit_link_delivery(a, AuditAction::ShareDeliveryCreate, &task)
            .await?;
        Ok(task.into())
    }

    /// The deliveries the visiting recipient scheduled (none for other visitors).
    pub async fn link_deliveries(&self, a: &ShareAccess) -> ApiResult<Vec<LinkDeliveryView>> {
        let list = self.recipient_deliveries(a).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    async fn recipient_deliveries(&self, a: &ShareAccess) -> ApiResult<Vec<TaskRecord>> {
        match &a.recipient {
            Some(r) => Ok(self.store.recipient_tasks(&r.uid).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Cancels one of the visiting recipient's deliveries; another's is not found.
    pub async fn cancel_link_delivery(&self, a: &ShareAccess, uid: &str) -> ApiResult<()> {
        let mine = self.recipient_deliveries(a).await?;
        let task = mine
            .into_iter()
            .find(|t| t.uid == uid)
            .ok_or_else(|| ApiError::not_found("delivery"))?;
        self.store.delete_task(&task.uid).await?;
        self.audit_link_delivery(a, AuditAction::ShareDeliveryCancel, &task)
            .await
    }

    async fn audit_link_delivery(
        &self,
        a: &ShareAccess,
        action: AuditAction,
        task: &TaskRecord,
    ) -> ApiResult<()> {
        let mut event = crate::sharing::visit::share_event(
            &a.link,
            a.recipient.as_ref(),
            action,
            &a.meta,
            a.who(),
        );
        event.detail = format!("task:{} {}", task.uid, event.detail);
        self.audit.append(event).await
    }

    /// A recipient's delivery whose recipient was revoked (or deleted) meanwhile: applies
    /// the revocation's choice now. True when the task must not run as theirs.
    pub(super) async fn settle_if_revoked(&self, task: &TaskRecord) -> ApiResult<bool> {
        let Some(uid) = &task.recipient_uid else {
            return Ok(false);
        };
        match self.store.share_recipient(uid).await? {
            Some(r) if r.revoked_ms.is_none() => Ok(false),
            Some(r) => {
                self.store.settle_recipient_tasks(&r, now_ms()).await?;
                Ok(true)
            }
            None => {
                self.store.delete_task(&task.uid).await?;
                Ok(true)
            }
        }
    }

    /// Delivers the report of a recipient's delivery as their link shows it, to them.
    pub(super) async fn deliver_for_recipient(
        &self,
        task: &TaskRecord,
        p: &ProjectView,
        run: &TaskRunRecord,
        record_uid: &str,
        i: usize,
        action: &Action,
    ) -> ApiResult<String> {
        let (
            Some(recipient_uid),
            Action::Deliver {
                report,
                csv,
                subject,
                ..
            },
        ) = (&task.recipient_uid, action)
        else {
            return Err(ApiError::invalid("a recipient's task only delivers"));
        };
        // The link must still cover the report's project (checked when the file is made).
        let a = self.sharing.recipient_access(recipient_uid).await?;
        let file = self
            .sharing
            .share_report_file(&a, Some(report), *csv, None::<Password>)
            .await?;
        let to = a
            .recipient
            .as_ref()
            .map(|r| r.email.clone())
            .unwrap_or_default();
        let mut attachments = vec![Attachment {
            filename: file.filename.clone(),
            content_type: "text/html; charset=utf-8".into(),
            bytes: file.html,
        }];
        for (name, bytes) in file.csv {
            attachments.push(Attachment {
                filename: name,
                content_type: "text/csv; charset=utf-8".into(),
                bytes,
            });
        }
        let n = attachments.len();
        self.runtime
            .mail
            .send(Mail {
                to: vec![to],
                subject: subject
                    .clone()
                    .unwrap_or_else(|| format!("{} — {}", file.report_name, p.record.name)),
                body: format!(
                    "{} from {}, as your link shows it, delivered on the schedule you set.\n\nOpen the attached file in a browser; it needs no connection. To stop these deliveries, cancel them from your link.\n",
                    file.report_name, p.record.name
                ),
                attachments,
                message_id: format!("<{}.{i}.{}@vitrine>", record_uid.replace('/', "."), run.uid),
            })
            .await?;
        Ok(format!(
            "report `{}` sent to the link's recipient with {n} attachment(s)",
            file.report_name
        ))
    }
}
