use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use vitrine_core::schedule::CronSchedule;
use vitrine_core::task::Trigger;
use vitrine_storage::{Store, TaskRecord, now_ms};

use crate::{Job, JobHandler, Queue, QueueResult};

#[derive(Debug, Clone)]
pub struct ClockConfig {
    /// How often due tasks are looked for. Cron expressions have second resolution, so
    /// a firing starts at most this late.
    pub tick: Duration,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            tick: Duration::from_millis(500),
        }
    }
}

/// Starts due cron firings until `shutdown` resolves. Every process may run a clock:
/// a firing is pushed under its idempotency key, then claimed by moving the task's
/// `next_fire_ms` with a conditional write, so it starts once whoever sees it first.
pub async fn run_clock(
    store: Store,
    queue: Queue,
    handler: Arc<dyn JobHandler>,
    config: ClockConfig,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut interval = tokio::time::interval(config.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = interval.tick() => {}
        }
        let now = now_ms();
        match store.due_tasks(now).await {
            Ok(due) => {
                for task in due {
                    if let Err(e) = fire(&store, &queue, &task, now).await {
                        tracing::warn!(task = %task.uid, error = %e, "cannot start a cron firing");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read due tasks"),
        }
        handler.tick(now).await;
    }
}

/// Pushes one firing of a due task and moves its schedule on.
async fn fire(store: &Store, queue: &Queue, task: &TaskRecord, now: i64) -> QueueResult<()> {
    let Some(seen) = task.next_fire_ms else {
        return Ok(());
    };
    // Firings missed while no process ran are not made up one by one: one run starts
    // now and the schedule continues from the present.
    let next = match &task.spec.trigger {
        Trigger::Cron { cron, time_zone } => CronSchedule::parse("trigger", cron, time_zone)
            .ok()
            .and_then(|s| s.next_after(now.max(seen))),
        _ => None,
    };
    queue
        .push(
            Job::Fire {
                task_uid: task.uid.clone().into(),
                fire_key: format!("cron:{}:{seen}", task.uid),
                cause: format!("cron firing of {}", fire_time(seen)),
                event_project: None,
                chain: Vec::new(),
            },
            None,
        )
        .await?;
    if store.claim_firing(&task.uid, seen, next).await? {
        tracing::info!(task = %task.uid, at = seen, "cron firing started");
    }
    Ok(())
}

fn fire_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}
