//! One bootstrap: [`App::open`] wires storage, authorization, the engine, the job queue
//! and the services from one [`AppConfig`], the same way for `vitrine serve`, `vitrine
//! worker` and every CLI command, so no process assembles the parts its own way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vitrine_authz::Authz;
use vitrine_core::ErrorCode;
use vitrine_queue::{ClockConfig, JobHandler, Queue, QueueConfig};
use vitrine_storage::{ArtifactBackend, ArtifactConfig, DatabaseConfig, NodeCache, Store};

use crate::outbound::OutboundPolicy;
use crate::{ApiError, ApiResult, MailConfig, Services, TaskJobs};

/// What a process needs to open the instance. The server's configuration file (and its
/// `VITRINE_…` variables) is read into this by `vitrine-server`.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Holds the embedded database (when `database` points inside it), the artifacts
    /// (unless `artifacts` puts them elsewhere) and this node's compiled-plugin cache.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// Where the shared artifacts live; `None`: `artifacts/` in the data directory.
    pub artifacts: Option<ArtifactBackend>,
    /// Redis for what the nodes of a cluster share beyond the queue: attempt limits and
    /// the cache-invalidation channel. `None`: this process keeps both to itself.
    pub cluster_redis_url: Option<String>,
    /// Engine limits; the compiled-plugin cache is placed in the data directory.
    pub engine: vitrine_engine::EngineLimits,
    pub outbound: OutboundPolicy,
    pub queue: QueueConfig,
    pub mail: MailConfig,
    /// The shortest interval a task's trigger may have.
    pub min_task_interval: Duration,
    /// Local accounts and identity providers.
    pub auth: crate::AuthConfig,
    /// The key that seals stored secrets (base64 of 32 bytes); from `secret.key` in the
    /// data directory when unset.
    pub secret_key: Option<String>,
    /// Keys stored secrets may still be sealed under while a rotation is under way.
    pub previous_secret_keys: Vec<String>,
    /// Audit events older than this many days are deleted (hourly); none: kept for ever.
    pub audit_retention_days: Option<u32>,
}

/// An open instance: its services and the queue their jobs go to.
pub struct App {
    pub services: Arc<Services>,
    pub queue: Queue,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("{what}: {e}"))
}

impl App {
    /// Opens the data directory, the database, the policies and the queue, and marks runs
    /// a previous process left unfinished.
    pub async fn open(config: AppConfig) -> ApiResult<App> {
        // A provider named twice or with a broken issuer URL stops the start, with why.
        let oidc = crate::identity::Providers::new(config.auth)?;
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir.join("artifacts")).map_err(|e| {
            unavailable(
                &format!("cannot create the data directory {}", dir.display()),
                e,
            )
        })?;
        let secrets = crate::secret_box::SecretBox::open_rotated(
            dir,
            config.secret_key.as_deref(),
            &config.previous_secret_keys,
        )?;
        let mut artifacts = ArtifactConfig::in_data_dir(dir);
        if let Some(backend) = config.artifacts {
            artifacts.backend = backend;
        }
        let store = Store::connect(&config.database, &artifacts).await?;
        let authz = Authz::load(store.clone()).await?;
        let queue = Queue::open(config.queue)
            .await
            .map_err(|e| unavailable("cannot open the job queue", e))?;
        let engine = vitrine_engine::EngineLimits {
            // Compiled plugins survive restarts, on this node's own disk.
            plugin_cache: Some(store.artifacts().node_cache(NodeCache::CompiledPlugins)),
            ..config.engine
        };
        // With Redis for the cluster, attempt limits and announcements go through it.
        let cluster = match &config.cluster_redis_url {
            Some(url) => Some(crate::cluster::Cluster::connect(url).await?),
            None => None,
        };
        let settings = crate::Settings {
            cluster,
            engine_limits: engine,
            outbound: config.outbound,
            mail: config.mail,
            oidc,
            secrets,
        };
        let services = Services::new(store, authz, queue.clone(), settings).await;
        services
            .tasks
            .set_min_task_interval(config.min_task_interval);
        // Workflow runs of this process, pushes and imports fire event tasks.
        services.tasks.watch_events();
        if let Some(days) = config.audit_retention_days {
            services.audit.keep_for(days);
        }
        if let Err(e) = services.engine.recover().await {
            tracing::warn!(error = %e, "cannot mark interrupted runs");
        }
        tracing::info!(
            backend = queue.backend_name(),
            concurrency = queue.config().concurrency,
            "job queue open"
        );
        Ok(App { services, queue })
    }

    /// Works on jobs and starts due cron firings until `shutdown` resolves; jobs in flight
    /// finish first.
    ///
    /// Boxed, with a boxed `shutdown`, so that the workers' loops are compiled in this
    /// crate rather than in the binary that polls them (see `vitrine_server::run`).
    pub fn run_jobs(
        &self,
        shutdown: futures::future::BoxFuture<'static, ()>,
    ) -> futures::future::LocalBoxFuture<'_, ApiResult<()>> {
        // Not `Send`: apalis's worker futures are not.
        Box::pin(self.work_on_jobs(shutdown))
    }

    async fn work_on_jobs(
        &self,
        shutdown: futures::future::BoxFuture<'static, ()>,
    ) -> ApiResult<()> {
        let handler: Arc<dyn JobHandler> = Arc::new(TaskJobs(self.services.tasks.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let clock = {
            let mut rx = stop_rx.clone();
            tokio::spawn(vitrine_queue::run_clock(
                self.services.store.clone(),
                self.queue.clone(),
                handler.clone(),
                ClockConfig::default(),
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            ))
        };
        let mut rx = stop_rx;
        let workers = vitrine_queue::run_workers(&self.queue, handler, async move {
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
        result.map_err(|e| unavailable("the job workers stopped", e))
    }
}
