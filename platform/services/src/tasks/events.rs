//! Events that start tasks: a project refreshed, pushed into or imported, another task
//! finished. Each fires the matching tasks once per event (the event's id is part of
//! the fire key), and an event caused by a task's own run never fires that task again
//! (the `chain`), so event tasks cannot loop.

use std::sync::Arc;

use tokio::sync::broadcast;

use vitrine_core::task::{EventKind, Target, Trigger};
use vitrine_queue::Job;
use vitrine_storage::TaskRecord;

use super::MAX_EVENT_CHAIN;
use super::Tasks;
use crate::ApiResult;

impl Tasks {
    /// Something happened that event tasks may wait for. Fires each matching task once
    /// per event (`id` makes the fire key), never one already in `chain`.
    pub(crate) async fn emit(
        &self,
        kind: EventKind,
        project_uid: Option<&str>,
        task_uid: Option<&str>,
        id: &str,
        chain: Vec<String>,
    ) {
        if chain.len() >= MAX_EVENT_CHAIN {
            return;
        }
        let tasks = match self.store.tasks_for_event(kind.as_str()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, event = kind.as_str(), "cannot read event tasks");
                return;
            }
        };
        for task in tasks {
            if chain.iter().any(|t| *t == task.uid) {
                continue;
            }
            let plain = || match project_uid {
                Some(p) => format!("{} ({p})", kind.as_str()),
                None => kind.as_str().to_owned(),
            };
            let cause = match (&task.spec.trigger, project_uid, task_uid) {
                (
                    Trigger::Event {
                        task_uid: Some(t), ..
                    },
                    _,
                    Some(done),
                ) => (t == done).then(plain),
                (Trigger::Event { .. }, Some(p), None) => self
                    .target_holds(&task, &vitrine_core::ProjectId::from(p))
                    .await
                    .then(plain),
                (Trigger::Threshold(rule), Some(p), None)
                    if self
                        .target_holds(&task, &vitrine_core::ProjectId::from(p))
                        .await =>
                {
                    self.threshold_crossed(&task, rule, p).await
                }
                _ => None,
            };
            let Some(cause) = cause else {
                continue;
            };
            let key = format!("event:{}:{id}:{}", kind.as_str(), task.uid);
            if let Err(e) = self
                .push_fire(&task.uid, &key, &cause, project_uid, chain.clone())
                .await
            {
                tracing::warn!(task = %task.uid, error = %e.message, "cannot fire event task");
            }
        }
    }

    pub(super) async fn push_fire(
        &self,
        task_uid: &vitrine_core::TaskId,
        fire_key: &str,
        cause: &str,
        event_project: Option<&str>,
        chain: Vec<String>,
    ) -> ApiResult<()> {
        self.push_job(
            Job::Fire {
                task_uid: task_uid.to_owned().into(),
                fire_key: fire_key.to_owned(),
                cause: cause.to_owned(),
                event_project: event_project.map(str::to_owned),
                chain,
            },
            None,
        )
        .await
    }

    /// Is `project_uid` in the task's target (with today's app parameters)?
    async fn target_holds(&self, task: &TaskRecord, project_uid: &vitrine_core::ProjectId) -> bool {
        let Ok(params) = self.app_parameters().await else {
            return false;
        };
        let Ok(spec) = task.spec.resolve(&params) else {
            return false;
        };
        match &spec.target {
            Target::Project { project } => project == project_uid,
            Target::Folder { folder, recursive } => {
                let chain = self.data.folder_chain(project_uid);
                match chain.first() {
                    Some(own) if own == folder => true,
                    _ => *recursive && chain.contains(folder),
                }
            }
        }
    }

    /// Starts following what fires event tasks: the engine's successful runs (as
    /// `project_refreshed`) and the project events other services announce (pushes,
    /// imports). Called once per process, by [`crate::App::open`].
    pub(crate) fn watch_events(self: &Arc<Self>) {
        let mut runs = self.engine.finished_runs();
        let tasks = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(run) = next(&mut runs, "refresh").await {
                let Some(t) = tasks.upgrade() else { break };
                let chain = t.runtime.refreshing.lock().remove(run.project_uid.as_str());
                if run.status == vitrine_core::RunStatus::Succeeded {
                    t.emit(
                        EventKind::ProjectRefreshed,
                        Some(&run.project_uid),
                        None,
                        &run.run_uid,
                        chain.unwrap_or_default(),
                    )
                    .await;
                }
            }
        });
        let mut events = self.events.subscribe();
        let tasks = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(e) = next(&mut events, "project").await {
                let Some(t) = tasks.upgrade() else { break };
                t.emit(e.kind, Some(&e.project_uid), None, &e.id, e.chain)
                    .await;
            }
        });
    }
}

/// The next value of a broadcast, past any it had to drop (which are logged); `None`
/// once nobody can send any more.
async fn next<T: Clone>(rx: &mut broadcast::Receiver<T>, what: &str) -> Option<T> {
    loop {
        match rx.recv().await {
            Ok(v) => return Some(v),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, what, "events dropped");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}
