use std::future::Future;
use std::sync::Arc;

use apalis::prelude::*;

use crate::backend::Inner;
use crate::{Job, Queue, QueueError, QueueResult};

/// What a job does; implemented above the queue (the API), which knows the actions.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Handles one job. `Err` means it could not be handled at all (the database is
    /// unreachable): the backend delivers it again later. Failures of the work itself
    /// (a project's workflow failed) are recorded by the handler and are `Ok`.
    async fn handle(&self, job: Job) -> Result<(), String>;

    /// Housekeeping, called by [`crate::run_clock`] at every tick: ending runs whose
    /// projects have all ended, after a crash left one open.
    async fn tick(&self, now_ms: i64);
}

type Handler = Arc<dyn JobHandler>;

/// How often an idle worker looks for new jobs. Without it, a worker that found the
/// queue empty sleeps until its next heartbeat (seconds), so a job pushed to an idle
/// queue (a task run now, a firing) would wait that long before anything starts.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What every job of a worker shares: the handler, and the slots that bound how many
/// jobs run at once.
#[derive(Clone)]
struct Context {
    handler: Handler,
    slots: Arc<tokio::sync::Semaphore>,
}

async fn handle(job: Job, ctx: Data<Context>) -> Result<(), BoxDynError> {
    // A job fetched ahead waits here for a slot: it starts the moment one frees, instead
    // of after the previous job's acknowledgement and the next fetch round trip.
    let _slot = ctx.slots.acquire().await.map_err(BoxDynError::from)?;
    let kind = match &job {
        Job::Fire { .. } => "fire",
        Job::Project { .. } => "project",
        Job::Noop { .. } => "noop",
    };
    let started = std::time::Instant::now();
    let handled = ctx.handler.handle(job).await;
    // For `/metrics`: jobs by kind, whether they were handled, and how long they took.
    let outcome = if handled.is_ok() { "handled" } else { "retry" };
    metrics::counter!("vitrine_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("vitrine_job_duration_seconds", "kind" => kind).record(started.elapsed());
    handled.map_err(BoxDynError::from)
}

/// Works on jobs, `concurrency` at a time, until `shutdown` resolves. As many more are
/// fetched ahead and wait for a slot, so a slot never idles through a fetch. Jobs this
/// process holds at shutdown (running or fetched ahead) are finished first; a process
/// killed instead has its jobs re-delivered once its heartbeats stop.
pub async fn run_workers(
    queue: &Queue,
    handler: Arc<dyn JobHandler>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> QueueResult<()> {
    // Unique per process: a restarted process must not inherit its predecessor's name,
    // or the predecessor's unfinished jobs would look alive.
    let name = format!(
        "{}-{}-{}",
        queue.config.name,
        std::process::id(),
        vitrine_storage::new_uid()
    );
    let concurrency = queue.config.concurrency.max(1);
    tracing::info!(worker = %name, backend = queue.backend_name(), concurrency, "queue worker started");
    let context = Context {
        handler,
        slots: Arc::new(tokio::sync::Semaphore::new(concurrency)),
    };
    let signal = async move {
        shutdown.await;
        Ok::<(), std::io::Error>(())
    };
    // The same worker over either backend (their types differ, so no shared binding).
    macro_rules! work {
        ($backend:expr) => {
            WorkerBuilder::new(name.as_str())
                .backend($backend.poll_with_interval(IDLE_POLL))
                .data(context)
                .concurrency(concurrency * 2)
                .parallelize(tokio::spawn)
                .build(handle)
                .run_until(signal)
                .await
        };
    }
    let result = match queue.inner.clone() {
        Inner::Sqlite(b) => work!(b),
        Inner::Redis(b) => work!(b),
    };
    tracing::info!(worker = %name, "queue worker stopped");
    result.map_err(|e| QueueError::Backend {
        backend: queue.backend_name(),
        message: e.to_string(),
    })
}
