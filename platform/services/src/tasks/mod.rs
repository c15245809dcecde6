//! Scheduled tasks: saving them (the checks are in [`checks`]), and who may see and
//! change them. Runs — firing, fan-out over projects, the actions, retries,
//! notices — are in [`runs`], [`actions`] and [`notify`]; the queue that carries their
//! jobs is `vitrine-queue`.

mod actions;
mod alerts;
mod checks;
mod close;
mod deliveries;
mod events;
mod notify;
mod runs;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use vitrine_core::AuditAction;

use parking_lot::Mutex;
use vitrine_core::schedule::CronSchedule;
use vitrine_core::task::{EventKind, TaskSpec, Trigger};
use vitrine_core::{Name, ServerPermission};
use vitrine_engine::INSTANCE_PARAMETERS;
use vitrine_queue::Queue;
use vitrine_storage::{PageRequest, TaskRecord, UserKind, UserRecord, new_uid, now_ms};

use crate::scan_visible;
use vitrine_authz::Authz;
use vitrine_engine::Engine;
use vitrine_storage::Store;

use crate::caller::Caller;
use crate::events::Events;
use crate::outbound::Outbound;
use crate::secrets::token_hash;
use crate::{ApiError, ApiResult};
use crate::{Audit, Data, Directory, Versions};

pub use crate::mail::{MAIL_DEFAULT_FROM, MailConfig};
pub use deliveries::{LinkDeliveryView, MAX_DELIVERIES_PER_RECIPIENT, NewLinkDelivery};
pub use runs::{TaskJobs, TaskRunView};

/// Everything a task owner sends when saving a task.
#[derive(Debug, Clone)]
pub struct TaskInput {
    pub name: String,
    pub spec: TaskSpec,
    /// The API token of a service account to run as; none: the owner.
    pub run_as_token: Option<String>,
}

/// The shortest time between two firings of a cron task unless the config says otherwise.
pub const DEFAULT_MIN_TASK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What runs need beyond the store: the queue, the mailer, and in-process bookkeeping.
pub(crate) struct TaskRuntime {
    /// The shortest time between two firings of a cron task, in ms.
    min_interval_ms: std::sync::atomic::AtomicI64,
    queue: Queue,
    mail: crate::mail::Mailer,
    /// Per-run limits of projects worked on at once (a task's `concurrency`).
    limits: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Run records as their project jobs read them: what a job reads of its run (spec,
    /// chain, task) is fixed before the first project is queued, so each process reads a
    /// run once instead of once per project. Dropped when the run closes.
    runs: Mutex<HashMap<String, Arc<vitrine_storage::TaskRunRecord>>>,
    /// Projects a task is refreshing, with the event chain of that task's run: a
    /// project runs one workflow at a time, so the refresh event it ends with is
    /// attributed to the task without a race.
    refreshing: Mutex<HashMap<String, Vec<String>>>,
    /// Workflow runs started by a task's project job (record uid → run uid), so
    /// cancelling a task run also stops them.
    engine_runs: Mutex<HashMap<String, String>>,
    /// When queued projects of open runs were last pushed again (after a crash).
    last_repush_ms: Mutex<i64>,
}

impl TaskRuntime {
    pub(crate) fn new(queue: Queue, mail: crate::mail::Mailer) -> Self {
        TaskRuntime {
            min_interval_ms: std::sync::atomic::AtomicI64::new(
                DEFAULT_MIN_TASK_INTERVAL.as_millis() as i64,
            ),
            queue,
            mail,
            limits: Mutex::default(),
            runs: Mutex::default(),
            refreshing: Mutex::default(),
            engine_runs: Mutex::default(),
            last_repush_ms: Mutex::default(),
        }
    }
}

/// The longest chain of tasks triggering tasks through events.
pub const MAX_EVENT_CHAIN: usize = 8;

/// The task service: scheduled and event tasks, their runs over one project or a whole
/// folder, and the actions they apply through the data and versions services.
pub struct Tasks {
    store: Store,
    authz: Arc<Authz>,
    engine: Arc<Engine>,
    audit: Audit,
    directory: Directory,
    data: Data,
    versions: Versions,
    /// Project events (pushes, imports) that event tasks follow.
    events: Events,
    /// Webhooks of task notices.
    outbound: Outbound,
    /// Recipients' own deliveries are made through their link, as they see it.
    sharing: Arc<crate::Sharing>,
    runtime: TaskRuntime,
}

/// What [`Tasks`] is built from.
pub(crate) struct TasksParts {
    pub store: Store,
    pub authz: Arc<Authz>,
    pub engine: Arc<Engine>,
    pub audit: Audit,
    pub directory: Directory,
    pub data: Data,
    pub versions: Versions,
    pub events: Events,
    pub outbound: Outbound,
    pub queue: Queue,
    pub mail: crate::mail::Mailer,
    pub sharing: Arc<crate::Sharing>,
}

impl Tasks {
    pub(crate) fn new(p: TasksParts) -> Self {
        Tasks {
            store: p.store,
            authz: p.authz,
            engine: p.engine,
            audit: p.audit,
            directory: p.directory,
            data: p.data,
            versions: p.versions,
            events: p.events,
            outbound: p.outbound,
            sharing: p.sharing,
            runtime: TaskRuntime::new(p.queue, p.mail),
        }
    }

    pub(crate) fn queue(&self) -> &Queue {
        &self.runtime.queue
    }

    /// Pushes a job (see `vitrine_queue::Queue::push`: a key pushed before is dropped).
    pub(crate) async fn push_job(
        &self,
        job: vitrine_queue::Job,
        delay: Option<std::time::Duration>,
    ) -> ApiResult<()> {
        self.push_jobs(vec![(job, delay)]).await
    }

    /// Pushes jobs in one go (one transaction, not one per job).
    pub(crate) async fn push_jobs(
        &self,
        jobs: Vec<(vitrine_queue::Job, Option<std::time::Duration>)>,
    ) -> ApiResult<()> {
        self.queue()
            .push_all(jobs)
            .await
            .map_err(|e| ApiError::new(e.code(), e.to_string()))
    }

    pub(crate) async fn app_parameters(&self) -> ApiResult<BTreeMap<String, String>> {
        Ok(self
            .store
            .setting(INSTANCE_PARAMETERS)
            .await?
            .unwrap_or_default())
    }

    pub async fn create_task(&self, caller: &Caller, input: TaskInput) -> ApiResult<TaskRecord> {
        caller.require_write()?;
        // A task runs as its owner, unscoped: a scoped token must not start one.
        caller.require_unscoped("tasks")?;
        // Uniqueness is the index's: the write reports a taken name (see `name_taken`).
        let name = Name::parse("name", &input.name)?.into_inner();
        let run_as = self.check_task(caller, &input, None).await?;
        let now = now_ms();
        let mut task = TaskRecord {
            uid: new_uid().into(),
            name,
            owner_uid: caller.uid().into(),
            run_as_token_uid: run_as.map(Into::into),
            spec: input.spec,
            paused: false,
            next_fire_ms: None,
            event_kind: None,
            created_ms: now,
            updated_ms: now,
            recipient_uid: None,
            transferred_from: None,
        };
        schedule(&mut task, now);
        self.store
            .insert_task(&task)
            .await
            .map_err(|e| name_taken(e, &task.name))?;
        self.audit
            .record(
                caller,
                AuditAction::TaskCreate,
                &format!("task:{}", task.uid),
                "ok",
                &task.name,
            )
            .await?;
        Ok(task)
    }

    pub async fn update_task(
        &self,
        caller: &Caller,
        uid: &str,
        input: TaskInput,
    ) -> ApiResult<TaskRecord> {
        let uid = &vitrine_core::TaskId::from(uid);
        caller.require_write()?;
        let mut task = self.task_for(caller, uid).await?;
        if task.recipient_uid.is_some() {
            return Err(ApiError::invalid(
                "id: this delivery belongs to a share-link recipient, who changes it through their link; pause or delete it here, or revoke the recipient",
            ));
        }
        let name = Name::parse("name", &input.name)?.into_inner();
        let run_as = self.check_task(caller, &input, Some(uid)).await?;
        task.name = name;
        task.spec = input.spec;
        task.run_as_token_uid = run_as.map(Into::into);
        task.updated_ms = now_ms();
        let now = task.updated_ms;
        schedule(&mut task, now);
        self.store
            .update_task(&task)
            .await
            .map_err(|e| name_taken(e, &task.name))?;
        // Read back: a concurrent pause is kept, and the answer shows it.
        let task = self.store.task(uid).await?.unwrap_or(task);
        self.audit
            .record(
                caller,
                AuditAction::TaskUpdate,
                &format!("task:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(task)
    }

    pub async fn delete_task(&self, caller: &Caller, uid: &str) -> ApiResult<()> {
        let uid = &vitrine_core::TaskId::from(uid);
        caller.require_write()?;
        self.task_for(caller, uid).await?;
        self.store.delete_task(uid).await?;
        self.audit
            .record(
                caller,
                AuditAction::TaskDelete,
                &format!("task:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(())
    }

    /// Pauses (no cron or event firing; run-now still works) or resumes a task. A
    /// resumed cron task fires next at its next time from now, not for the ones missed.
    pub async fn set_task_paused(
        &self,
        caller: &Caller,
        uid: &str,
        paused: bool,
    ) -> ApiResult<TaskRecord> {
        let uid = &vitrine_core::TaskId::from(uid);
        caller.require_write()?;
        let mut task = self.task_for(caller, uid).await?;
        let now = now_ms();
        schedule(&mut task, now);
        let task = self
            .store
            .set_task_paused(uid, paused, task.next_fire_ms, now)
            .await?
            .ok_or_else(|| ApiError::not_found("task"))?;
        self.audit
            .record(
                caller,
                if paused {
                    AuditAction::TaskPause
                } else {
                    AuditAction::TaskResume
                },
                &format!("task:{uid}"),
                "ok",
                "",
            )
            .await?;
        Ok(task)
    }

    pub async fn task(&self, caller: &Caller, uid: &str) -> ApiResult<TaskRecord> {
        self.task_for(caller, &vitrine_core::TaskId::from(uid))
            .await
    }

    /// Tasks the caller owns; every task for administrators.
    pub async fn tasks(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> ApiResult<(Vec<TaskRecord>, bool)> {
        caller.require_unscoped("tasks")?;
        let admin = self.is_admin(caller);
        scan_visible(
            page,
            |pr| async move { Ok(self.store.tasks(&pr).await?) },
            |t| &t.uid,
            |t| (admin || t.owner_uid == caller.uid()).then_some(t),
        )
        .await
    }

    fn is_admin(&self, caller: &Caller) -> bool {
        self.authz
            .require_permission(caller, ServerPermission::Admin)
            .is_ok()
    }

    /// A task its owner or an administrator asks for; anyone else learns nothing.
    pub(crate) async fn task_for(
        &self,
        caller: &Caller,
        uid: &vitrine_core::TaskId,
    ) -> ApiResult<TaskRecord> {
        caller.require_unscoped("tasks")?;
        let task = self
            .store
            .task(uid)
            .await?
            .ok_or_else(|| ApiError::not_found("task"))?;
        if task.owner_uid != caller.uid() && !self.is_admin(caller) {
            return Err(ApiError::not_found("task"));
        }
        Ok(task)
    }

    pub(crate) async fn report_named(
        &self,
        project_uid: &vitrine_core::ProjectId,
        name_or_uid: &str,
    ) -> ApiResult<Option<vitrine_storage::ReportRecord>> {
        Ok(self
            .store
            .reports(project_uid)
            .await?
            .into_iter()
            .find(|r| r.uid == name_or_uid || r.name == name_or_uid))
    }

    /// The service account behind an API token a task is to run as.
    async fn service_identity(&self, token: &str) -> ApiResult<(String, UserRecord)> {
        let refused = |why: &str| ApiError::invalid(format!("runAsToken: {why}"));
        let record = self
            .store
            .api_token_by_hash(&token_hash(token))
            .await?
            .ok_or_else(|| refused("not a valid API token"))?;
        let user = self
            .store
            .user(&record.user_uid)
            .await?
            .ok_or_else(|| refused("not a valid API token"))?;
        if user.kind != UserKind::Service {
            return Err(refused(
                "the token belongs to a person; tasks run as their owner or as a service account",
            ));
        }
        identity_usable(&user, Some(&record)).map_err(|e| refused(&e))?;
        Ok((record.uid.into(), user))
    }

    /// The user a task acts as right now, or why it cannot act at all.
    pub(crate) async fn task_identity(
        &self,
        task: &TaskRecord,
    ) -> ApiResult<Result<UserRecord, String>> {
        let (user_uid, token) = match &task.run_as_token_uid {
            None => (task.owner_uid.clone(), None),
            Some(t) => match self.store.api_token(t).await? {
                Some(r) => (r.user_uid.clone(), Some(r)),
                None => return Ok(Err("its API token no longer exists".into())),
            },
        };
        let Some(user) = self.store.user(&user_uid).await? else {
            return Ok(Err("its identity no longer exists".into()));
        };
        Ok(identity_usable(&user, token.as_ref()).map(|()| user))
    }
}

fn identity_usable(
    user: &UserRecord,
    token: Option<&vitrine_storage::ApiTokenRecord>,
) -> Result<(), String> {
    if user.disabled {
        return Err(format!("the account `{}` is disabled", user.username));
    }
    if let Some(t) = token {
        if t.revoked_ms.is_some() {
            return Err(format!("the API token `{}` was revoked", t.name));
        }
        if t.expires_ms.is_some_and(|e| e <= now_ms()) {
            return Err(format!("the API token `{}` has expired", t.name));
        }
        if t.read_only {
            return Err(format!("the API token `{}` is read-only", t.name));
        }
    }
    Ok(())
}

/// A write refused by the unique index on task names: another request took the name
/// between our check and our write.
fn name_taken(e: vitrine_storage::StorageError, name: &str) -> ApiError {
    match e {
        vitrine_storage::StorageError::Conflict(_) => ApiError::new(
            vitrine_core::ErrorCode::Conflict,
            format!("name: a task named `{name}` exists already"),
        ),
        other => other.into(),
    }
}

/// The task's event kind and next cron firing, from its trigger. A paused task keeps its
/// schedule (it is never due while paused); resuming computes it afresh from now, so the
/// firings missed meanwhile do not all start at once.
fn schedule(task: &mut TaskRecord, now: i64) {
    task.event_kind = match &task.spec.trigger {
        Trigger::Event { event, .. } => Some(event.as_str().to_owned()),
        // Checked after each refresh.
        Trigger::Threshold(_) => Some(EventKind::ProjectRefreshed.as_str().to_owned()),
        _ => None,
    };
    task.next_fire_ms = match &task.spec.trigger {
        Trigger::Cron { cron, time_zone } => CronSchedule::parse("trigger", cron, time_zone)
            .ok()
            .and_then(|s| s.next_after(now)),
        _ => None,
    };
}
