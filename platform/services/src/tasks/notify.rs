//! Failure notices of task runs: by e-mail ([`crate::mail`]) and webhook.

use serde_json::json;
use vitrine_core::TaskRunStatus;
use vitrine_storage::{RunCounts, TaskRunRecord};

use super::Tasks;
use crate::mail::Mail;

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
