//! Mail (report deliveries, failure notices) over SMTP, and failure webhooks.

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use vitrine_core::ErrorCode;
use vitrine_core::TaskRunStatus;
use vitrine_storage::{RunCounts, TaskRunRecord};

use super::Tasks;
use crate::{ApiError, ApiResult};

/// The sender when none is configured.
pub const MAIL_DEFAULT_FROM: &str = "Vitrine <vitrine@localhost>";

/// How this instance sends mail.
#[derive(Debug, Clone, Default)]
pub struct MailConfig {
    /// `smtp://HOST:PORT` (plain; STARTTLS when the server offers it is not forced),
    /// `smtp://HOST:PORT?tls=required` (STARTTLS) or `smtps://USER:PASS@HOST:PORT`
    /// (TLS). None: deliveries fail with a clear error.
    pub smtp_url: Option<String>,
    /// The sender address, e.g. `Vitrine <vitrine@example.com>`.
    pub from: String,
}

pub(super) struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub(super) struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub message_id: String,
}

fn mail_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("mail: {e}"))
}

impl MailConfig {
    pub(super) async fn send(&self, mail: Mail) -> ApiResult<()> {
        let url = self.smtp_url.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "mail: no SMTP server is configured (mail.smtp_url)",
            )
        })?;
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| mail_error(format!("sender `{}`: {e}", self.from)))?;
        let mut builder = Message::builder()
            .from(from)
            .subject(mail.subject)
            .message_id(Some(mail.message_id));
        for to in &mail.to {
            builder = builder.to(to
                .parse()
                .map_err(|e| ApiError::invalid(format!("recipient `{to}`: {e}")))?);
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body));
        for a in mail.attachments {
            let ct = ContentType::parse(&a.content_type).map_err(mail_error)?;
            parts = parts.singlepart(MailAttachment::new(a.filename).body(a.bytes, ct));
        }
        let message = builder.multipart(parts).map_err(mail_error)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(mail_error)?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        transport.send(message).await.map_err(mail_error)?;
        Ok(())
    }
}

impl Tasks {
    /// Tells the task's notice list that a run ended with failures. Best effort: a
    /// notice that cannot be sent is logged, never retried into a loop.
    pub(super) async fn notify_failure(&self, run: &TaskRunRecord, counts: &RunCounts) {
        let notify = &run.spec.notify;
        let failed: Vec<String> = match self.store.run_projects(&run.uid).await {
            Ok(rows) => rows
                .into_iter()
                .filter(|r| r.status == TaskRunStatus::Failed)
                .map(|r| format!("{}: {}", r.project_name, r.error.unwrap_or_default()))
                .collect(),
            Err(_) => Vec::new(),
        };
        if let Some(url) = &notify.webhook {
            let body = json!({
                "event": "task_run_failed",
                "task": { "id": run.task_uid, "name": run.task_name },
                "run": { "id": run.uid, "status": run.status, "cause": run.cause, "message": run.message },
                "counts": counts,
                "failed": failed,
            });
            // Through the one outbound client: never to loopback, private or metadata
            // addresses unless an admin allowed the host.
            let sent = match self.outbound.request(
                reqwest::Method::POST,
                url,
                std::time::Duration::from_secs(10),
            ) {
                Ok(req) => {
                    self.outbound
                        .send(req.json(&body), "the failure webhook")
                        .await
                }
                Err(e) => Err(e),
            };
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(run = %run.uid, status = %r.status(), "failure webhook refused")
                }
                Err(e) => {
                    tracing::warn!(run = %run.uid, error = %e.message, "failure webhook not sent")
                }
            }
        }
        if !notify.emails.is_empty() {
            let sent = self
                .runtime
                .mail
                .send(Mail {
                    to: notify.emails.clone(),
                    subject: format!("Task \"{}\" {}: {}", run.task_name, run.status, run.message),
                    body: format!(
                        "The run of task \"{}\" ({}) ended {}.\n{}\n\n{}\n",
                        run.task_name,
                        run.cause,
                        run.status,
                        run.message,
                        failed.join("\n")
                    ),
                    attachments: Vec::new(),
                    message_id: format!("<failure.{}@vitrine>", run.uid),
                })
                .await;
            if let Err(e) = sent {
                tracing::warn!(run = %run.uid, error = %e.message, "failure notice not sent");
            }
        }
    }
}
