//! Scheduled work in a server or worker process: the job queue, its workers and the
//! cron clock, started beside (or instead of) the HTTP server.

use std::future::Future;
use std::sync::Arc;

use vitrine_api::Services;
use vitrine_api::services::{MailConfig, TaskJobs};
use vitrine_queue::{ClockConfig, JobHandler, Queue};

use crate::{Config, ServerError};

/// Connects the configured queue and lets the services push jobs to it.
pub async fn open_queue(services: &Arc<Services>, config: &Config) -> Result<Queue, ServerError> {
    let queue = Queue::open(config.queue()?).await?;
    services.attach_queue(
        queue.clone(),
        MailConfig {
            smtp_url: config.mail.smtp_url.clone(),
            from: config.mail.from.clone(),
        },
    );
    // Workflow runs of this process announce themselves to event tasks.
    services.watch_refreshes();
    tracing::info!(
        backend = queue.backend_name(),
        concurrency = queue.config().concurrency,
        "job queue open"
    );
    Ok(queue)
}

/// Works on jobs and starts due cron firings until `shutdown` resolves; jobs in flight
/// finish first.
pub async fn run_jobs(
    services: Arc<Services>,
    queue: Queue,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let handler: Arc<dyn JobHandler> = Arc::new(TaskJobs(services.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clock = {
        let mut rx = stop_rx.clone();
        tokio::spawn(vitrine_queue::run_clock(
            services.store.clone(),
            queue.clone(),
            handler.clone(),
            ClockConfig::default(),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        ))
    };
    let mut rx = stop_rx;
    let workers = vitrine_queue::run_workers(&queue, handler, async move {
        let _ = rx.wait_for(|s| *s).await;
    });
    tokio::pin!(workers);
    tokio::pin!(shutdown);
    let result = tokio::select! {
        r = &mut workers => r,
        _ = &mut shutdown => {
            let _ = stop_tx.send(true);
            workers.await
        }
    };
    let _ = stop_tx.send(true);
    let _ = clock.await;
    result.map_err(ServerError::from)
}
