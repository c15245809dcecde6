//! Configuration: defaults < the TOML file < `VITRINE_…` variables < command-line flags.
//! The commented reference file is deploy/vitrine.toml.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vitrine_api::Limits;

mod auth;
mod metrics;
mod storage;
#[cfg(test)]
mod tests;
pub use auth::{AuthSection, OidcSection};
pub use metrics::MetricsSection;
pub use storage::{ArtifactsSection, ClusterSection, StorageConfig};

/// The config file format this build reads.
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub artifacts: ArtifactsSection,
    pub cluster: ClusterSection,
    pub limits: LimitsConfig,
    pub plugins: PluginsConfig,
    pub queue: QueueSection,
    pub mail: MailSection,
    pub outbound: OutboundSection,
    pub auth: AuthSection,
    pub audit: AuditSection,
    pub metrics: MetricsSection,
}

/// The audit trail.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// Events older than this many days are deleted, hourly; unset: kept for ever.
    pub retention_days: Option<u32>,
}

/// Requests the server makes to other hosts (working-copy origins, task webhooks).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSection {
    /// Hosts that may be reached although they are loopback, private or link-local
    /// addresses (or resolve to one), e.g. `prod.internal` or `10.0.0.5`. Everything
    /// else must be a public address.
    pub allowed_hosts: Vec<String>,
}

/// The job queue behind scheduled tasks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSection {
    /// `sqlite` (a file in the data directory; one machine) or `redis` (shared by any
    /// number of `vitrine serve` and `vitrine worker` processes).
    pub backend: String,
    /// `redis://HOST:PORT/DB` when the backend is redis.
    pub redis_url: Option<String>,
    /// Jobs one process works on at once; 0: one per core, plus one.
    pub concurrency: usize,
    /// Whether `vitrine serve` works on jobs itself. Turn off on nodes that should only
    /// serve requests and leave jobs to `vitrine worker` processes.
    pub workers: bool,
    /// Seconds between a worker's heartbeats; after three missed ones its jobs are
    /// handed to other workers.
    pub heartbeat_secs: u64,
    /// Seconds jobs in flight get to finish at shutdown; those still running then are
    /// delivered again to another worker.
    pub shutdown_grace_secs: u64,
    /// The shortest time between two firings of a cron task; schedules that fire more
    /// often are refused when saved.
    pub min_task_interval_secs: u64,
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            backend: "sqlite".into(),
            redis_url: None,
            concurrency: 0,
            workers: true,
            heartbeat_secs: 2,
            shutdown_grace_secs: 60,
            min_task_interval_secs: vitrine_api::services::DEFAULT_MIN_TASK_INTERVAL.as_secs(),
        }
    }
}

/// Outgoing mail: report deliveries and failure notices.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSection {
    /// `smtp://HOST:PORT`, `smtp://HOST:PORT?tls=required` or `smtps://USER:PASS@HOST:PORT`.
    pub smtp_url: Option<String>,
    pub from: String,
}

impl Default for MailSection {
    fn default() -> Self {
        MailSection {
            smtp_url: None,
            from: vitrine_api::services::MAIL_DEFAULT_FROM.into(),
        }
    }
}

/// Limits of plugin blocks (see `vitrine_api::services::config::HostLimits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Longest run of one plugin block; a block may ask for less, never more.
    pub time_limit_secs: u64,
    /// Most memory one plugin block call may use.
    pub memory_mib: usize,
    /// Plugin block calls running at the same time; more wait for a free slot.
    pub concurrent_calls: u32,
    /// Longest compilation of a published component.
    pub compile_timeout_secs: u64,
    /// The program plugin compiles run in (the `vitrine` binary sets itself); not read
    /// from the file.
    #[serde(skip)]
    pub compiler: Option<std::path::PathBuf>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        let h = vitrine_api::services::config::HostLimits::default();
        PluginsConfig {
            time_limit_secs: h.time_limit.as_secs(),
            memory_mib: h.memory_bytes >> 20,
            concurrent_calls: h.concurrent_calls,
            compile_timeout_secs: h.compile_timeout.as_secs(),
            compiler: None,
        }
    }
}

impl PluginsConfig {
    pub fn host_limits(&self) -> vitrine_api::services::config::HostLimits {
        vitrine_api::services::config::HostLimits {
            time_limit: std::time::Duration::from_secs(self.time_limit_secs.max(1)),
            memory_bytes: self.memory_mib.max(16) << 20,
            concurrent_calls: self.concurrent_calls.max(1),
            compile_timeout: std::time::Duration::from_secs(self.compile_timeout_secs.max(1)),
            compiler: self.compiler.clone(),
            ..vitrine_api::services::config::HostLimits::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The URL people reach this instance at (for printed links); defaults to the bound
    /// address.
    pub public_url: Option<String>,
    /// Mark cookies `Secure`. Unset: on, unless the server listens on a loopback
    /// address only (a local instance reached over plain http).
    pub secure_cookies: Option<bool>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or networks such as
    /// `10.0.0.0/8`). Empty: the socket peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Answer schema introspection for callers that are not signed in.
    pub anonymous_introspection: bool,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    pub graphql_max_aliases: usize,
    pub graphql_max_batch: usize,
    pub request_max_bytes: usize,
    /// Most rows one built-in workflow block may produce.
    pub block_max_rows: usize,
    /// Longest run of one built-in workflow block.
    pub block_time_limit_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CONFIG_VERSION,
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            artifacts: ArtifactsSection::default(),
            cluster: ClusterSection::default(),
            limits: LimitsConfig::default(),
            plugins: PluginsConfig::default(),
            queue: QueueSection::default(),
            mail: MailSection::default(),
            audit: AuditSection::default(),
            outbound: OutboundSection::default(),
            auth: AuthSection::default(),
            metrics: MetricsSection::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            secure_cookies: None,
            trusted_proxies: Vec::new(),
            anonymous_introspection: false,
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        let e = vitrine_api::services::config::EngineLimits::default();
        LimitsConfig {
            block_max_rows: e.block_max_rows,
            block_time_limit_secs: e.block_time_limit.as_secs(),
            graphql_max_depth: l.max_depth,
            graphql_max_complexity: l.max_complexity,
            graphql_max_aliases: l.max_aliases,
            graphql_max_batch: l.max_batch,
            request_max_bytes: l.max_body_bytes,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path} has version {found}; this build reads version {CONFIG_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("{var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Reads `path` if given (a missing explicit file is an error), then applies the
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                let c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?;
                if c.version != CONFIG_VERSION {
                    return Err(ConfigError::Version {
                        path: p.to_owned(),
                        found: c.version,
                    });
                }
                c
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        (config.metrics.check()).map_err(|message| ConfigError::Invalid {
            key: "metrics.token",
            message,
        })?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("VITRINE_LISTEN") {
            self.server.listen = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_LISTEN",
                message: format!("`{v}` is not HOST:PORT ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_PUBLIC_URL") {
            self.server.public_url = Some(v);
        }
        if let Some(v) = var("VITRINE_SECURE_COOKIES") {
            self.server.secure_cookies = Some(matches!(v.as_str(), "1" | "true" | "yes"));
        }
        if let Some(v) = var("VITRINE_TRUSTED_PROXIES") {
            self.server.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        for p in &self.server.trusted_proxies {
            p.parse::<crate::guard::IpNet>()
                .map_err(|message| ConfigError::Invalid {
                    key: "server.trusted_proxies",
                    message,
                })?;
        }
        if let Some(v) = var("VITRINE_QUEUE_BACKEND") {
            self.queue.backend = v;
        }
        if let Some(v) = var("VITRINE_QUEUE_REDIS_URL") {
            self.queue.redis_url = Some(v);
        }
        if let Some(v) = var("VITRINE_QUEUE_CONCURRENCY") {
            self.queue.concurrency = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_QUEUE_CONCURRENCY",
                message: format!("`{v}` is not a number ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_QUEUE_SHUTDOWN_GRACE_SECS") {
            self.queue.shutdown_grace_secs = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_QUEUE_SHUTDOWN_GRACE_SECS",
                message: format!("`{v}` is not a number of seconds ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_MIN_TASK_INTERVAL_SECS") {
            self.queue.min_task_interval_secs = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_MIN_TASK_INTERVAL_SECS",
                message: format!("`{v}` is not a number of seconds ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_BLOCK_MAX_ROWS") {
            self.limits.block_max_rows = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_BLOCK_MAX_ROWS",
                message: format!("`{v}` is not a number of rows ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_BLOCK_TIME_LIMIT_SECS") {
            self.limits.block_time_limit_secs = v.parse().map_err(|e| ConfigError::Env {
                var: "VITRINE_BLOCK_TIME_LIMIT_SECS",
                message: format!("`{v}` is not a number of seconds ({e})"),
            })?;
        }
        if let Some(v) = var("VITRINE_QUEUE_WORKERS") {
            self.queue.workers = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = var("VITRINE_SMTP_URL") {
            self.mail.smtp_url = Some(v);
        }
        if let Some(v) = var("VITRINE_OUTBOUND_ALLOWED_HOSTS") {
            self.outbound.allowed_hosts = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = var("VITRINE_MAIL_FROM") {
            self.mail.from = v;
        }
        if let Some(v) = var("VITRINE_AUDIT_RETENTION_DAYS") {
            let days = v
                .parse()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| ConfigError::Env {
                    var: "VITRINE_AUDIT_RETENTION_DAYS",
                    message: format!("`{v}` is not a positive number of days"),
                })?;
            self.audit.retention_days = Some(days);
        }
        storage::apply_env(self, &var)?;
        self.metrics.apply_env(&var)
    }

    /// What the services need to open the instance.
    pub fn app(&self) -> Result<vitrine_api::services::AppConfig, ConfigError> {
        let engine = vitrine_api::services::config::EngineLimits {
            plugins: self.plugins.host_limits(),
            block_max_rows: self.limits.block_max_rows.max(1),
            block_time_limit: std::time::Duration::from_secs(
                self.limits.block_time_limit_secs.max(1),
            ),
            ..Default::default()
        };
        Ok(vitrine_api::services::AppConfig {
            data_dir: self.storage.data_dir.clone(),
            database: self.database(|k| std::env::var(k).ok())?,
            artifacts: self.artifacts(|k| std::env::var(k).ok())?,
            cluster_redis_url: self.cluster_redis_url(),
            engine,
            outbound: self.outbound(),
            queue: self.queue()?,
            mail: vitrine_api::services::MailConfig {
                smtp_url: self.mail.smtp_url.clone(),
                from: self.mail.from.clone(),
            },
            min_task_interval: std::time::Duration::from_secs(self.queue.min_task_interval_secs),
            auth: self.auth.resolve(|k| std::env::var(k).ok())?,
            // Never in the file: every node of a cluster is given the same one.
            secret_key: std::env::var("VITRINE_SECRET_KEY").ok(),
            previous_secret_keys: std::env::var("VITRINE_SECRET_KEY_PREVIOUS")
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            audit_retention_days: self.audit.retention_days,
        })
    }

    /// What outbound requests may reach beyond public addresses.
    pub fn outbound(&self) -> vitrine_api::outbound::OutboundPolicy {
        vitrine_api::outbound::OutboundPolicy {
            allowed_hosts: self.outbound.allowed_hosts.clone(),
        }
    }

    /// Whether cookies carry `Secure` (see [`ServerConfig::secure_cookies`]).
    pub fn secure_cookies(&self) -> bool {
        self.server
            .secure_cookies
            .unwrap_or(!self.server.listen.ip().is_loopback())
    }

    /// The trusted proxies, checked when the configuration was loaded.
    pub fn trusted_proxies(&self) -> Vec<crate::guard::IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// The job queue this configuration asks for, or why it is not one.
    pub fn queue(&self) -> Result<vitrine_api::services::config::QueueConfig, ConfigError> {
        let backend = match self.queue.backend.as_str() {
            "sqlite" => vitrine_api::services::config::Backend::Sqlite {
                path: self.storage.data_dir.join("queue.db"),
            },
            "redis" => vitrine_api::services::config::Backend::Redis {
                url: self.queue.redis_url.clone().ok_or(ConfigError::Invalid {
                    key: "queue.redis_url",
                    message: "the redis backend needs redis_url (redis://HOST:PORT)".into(),
                })?,
            },
            other => {
                return Err(ConfigError::Invalid {
                    key: "queue.backend",
                    message: format!("`{other}` is not sqlite or redis"),
                });
            }
        };
        let mut q = vitrine_api::services::config::QueueConfig::new(backend);
        if self.queue.concurrency > 0 {
            q.concurrency = self.queue.concurrency;
        }
        q.heartbeat = std::time::Duration::from_secs(self.queue.heartbeat_secs.max(1));
        q.shutdown_grace = std::time::Duration::from_secs(self.queue.shutdown_grace_secs);
        Ok(q)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_depth: self.limits.graphql_max_depth,
            max_complexity: self.limits.graphql_max_complexity,
            max_aliases: self.limits.graphql_max_aliases,
            max_batch: self.limits.graphql_max_batch,
            max_body_bytes: self.limits.request_max_bytes,
        }
    }
}
