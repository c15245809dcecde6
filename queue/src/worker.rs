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
    if matches!(job, Job::Project { .. }) {
        fault_pause().await;
    }
    let handled = ctx.handler.handle(job).await;
    // For `/metrics`: jobs by kind, whether they were handled, and how long they took.
    let outcome = if handled.is_ok() { "handled" } else { "retry" };
    metrics::counter!("vitrine_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("vitrine_job_duration_seconds", "kind" => kind).record(started.elapsed());
    handled.map_err(BoxDynError::from)
}

/// Shutdown tests set `VITRINE_FAULT_JOB_PAUSE_MS` to make every project job last that
/// long, so that one is surely running when the worker is told to stop.
async fn fault_pause() {
    static PAUSE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ms = *PAUSE.get_or_init(|| {
        std::env::var("VITRINE_FAULT_JOB_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Works on jobs, `concurrency` at a time, until `shutdown` resolves. As many more are
/// fetched ahead and wait for a slot, so a slot never idles through a fetch. Jobs this
/// process holds at shutdown (running or fetched ahead) get `shutdown_grace` to finish;
/// those still running then, like those of a process killed outright, are delivered
/// again once its heartbeats stop.
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
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
        Ok::<(), std::io::Error>(())
    };
    // The same worker over either backend (their types differ, so no shared binding;
    // apalis worker futures are not `Send`, hence a local box).
    macro_rules! work {
        ($backend:expr) => {
            Box::pin(
                WorkerBuilder::new(name.as_str())
                    .backend($backend.poll_with_interval(IDLE_POLL))
                    .data(context)
                    .concurrency(concurrency * 2)
                    .parallelize(tokio::spawn)
                    .build(handle)
                    .run_until(signal),
            ) as std::pin::Pin<Box<dyn Future<Output = Result<(), WorkerError>>>>
        };
    }
    let mut working = match queue.inner.clone() {
        Inner::Sqlite(b) => work!(b),
        Inner::Redis(b) => work!(b),
    };
    let grace = queue.config.shutdown_grace;
    let result = tokio::select! {
        r = &mut working => r,
        _ = async {
            if stopping.await.is_err() {
                // The worker ended on its own: nothing to time.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(
                worker = %name,
                grace_secs = grace.as_secs(),
                "jobs still running at the end of the shutdown grace; the queue delivers them again"
            );
            Ok(())
        }
    };
    tracing::info!(worker = %name, "queue worker stopped");
    result.map_err(|e| QueueError::Backend {
        backend: queue.backend_name(),
        message: e.to_string(),
    })
}
