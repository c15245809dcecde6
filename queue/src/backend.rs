use std::path::PathBuf;
use std::time::Duration;

use apalis::prelude::{Metrics, TaskBuilder, TaskSink};
use apalis_redis::RedisStorage;
use apalis_sqlite::{SqlitePool, SqliteStorage};

use crate::{Job, QueueError, QueueResult};

/// Where jobs wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: one machine (several processes may share the file).
    Sqlite { path: PathBuf },
    /// A Redis server: any number of machines.
    Redis { url: String },
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub backend: Backend,
    /// Jobs one process works on at once (it holds more, fetched ahead: as many again on
    /// Redis, up to `sqlite_fetch_batch` more on SQLite).
    pub concurrency: usize,
    /// How often a worker tells the backend it is alive. A worker silent for three
    /// intervals is dead and its jobs go to the others.
    pub heartbeat: Duration,
    /// Queue name, so several instances can share one Redis.
    pub name: String,
    /// At shutdown, how long jobs in flight get to finish. Jobs still running then are
    /// left to the queue: it delivers them again, to another worker, once this one's
    /// heartbeats stop (three intervals later); their handler resumes from the progress
    /// it recorded.
    pub shutdown_grace: Duration,
}

impl QueueConfig {
    pub fn new(backend: Backend) -> Self {
        QueueConfig {
            backend,
            concurrency: default_concurrency(),
            heartbeat: Duration::from_secs(2),
            name: "vitrine-jobs".into(),
            shutdown_grace: Duration::from_secs(60),
        }
    }
}

/// One job per core, and one more. A job is not all CPU: it also waits for its commits
/// to reach the disk and for reads, and with one job per core those waits leave a core
/// idle. Measured on 2 cores (`cargo bench -p vitrine --bench tasks`), the extra job
/// lifts a folder refresh from 1.5–1.7× to 1.9–2.0× the one-at-a-time speed; a second
/// extra job adds nothing and makes each job slower.
fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}

/// Jobs fetched per SQLite round trip. apalis sizes both the fetch and the buffer of
/// lock and acknowledgement writes by it, and each fetch is a write transaction: with one
/// round of slots (3 on 2 cores) no-op jobs went through at 0.63-0.72x raw apalis-sqlite,
/// with apalis's own default of 10 at 0.95-1.02x (`cargo bench --workspace --bench
/// throughput`, issue 26). The price: a process holds up to this many jobs beyond its
/// running ones, which only matters when several processes share one SQLite file (one
/// machine) and then only at the end of a run; Redis, the backend for several machines,
/// keeps fetching one round of slots.
fn sqlite_fetch_batch(concurrency: usize) -> usize {
    concurrency.max(10)
}

/// How long Redis remembers a pushed key (SQLite keeps them in the jobs table).
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// Missed heartbeats after which a worker's jobs are handed to others.
pub(crate) const MISSED_HEARTBEATS: usize = 3;

/// How many jobs wait and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    pub pending: u64,
    pub running: u64,
}

/// A handle to push jobs; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    pub(crate) inner: Inner,
    pub(crate) config: QueueConfig,
}

#[derive(Clone)]
pub(crate) enum Inner {
    Sqlite(SqliteStorage<Job>),
    Redis(RedisStorage<Job>),
}

impl Queue {
    /// Connects to the backend, creating the SQLite file and its tables if needed.
    pub async fn open(config: QueueConfig) -> QueueResult<Queue> {
        let inner = match &config.backend {
            Backend::Sqlite { path } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(QueueError::sqlite)?;
                }
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let pool = SqlitePool::connect(&url)
                    .await
                    .map_err(QueueError::sqlite)?;
                SqliteStorage::setup(&pool)
                    .await
                    .map_err(QueueError::sqlite)?;
                let c = apalis_sqlite::Config::default()
                    .queue(&config.name)
                    .heartbeat_interval(config.heartbeat)
                    .missed_heartbeats(MISSED_HEARTBEATS)
                    // See `sqlite_fetch_batch` for the trade between throughput and
                    // how many jobs one process holds.
                    .batch_size(sqlite_fetch_batch(config.concurrency));
                Inner::Sqlite(SqliteStorage::new(&pool).with_config(c))
            }
            Backend::Redis { url } => {
                let conn = apalis_redis::connect(url.as_str())
                    .await
                    .map_err(QueueError::redis)?;
                let c = apalis_redis::Config::default()
                    .queue(&config.name)
                    .heartbeat_interval(config.heartbeat)
                    .missed_heartbeats(MISSED_HEARTBEATS)
                    .batch_size(config.concurrency.max(1))
                    // Keys only need to outlive the runs that may push them again.
                    .idempotency_ttl(Some(IDEMPOTENCY_TTL));
                Inner::Redis(RedisStorage::new(conn).with_config(c))
            }
        };
        Ok(Queue { inner, config })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    pub fn backend_name(&self) -> &'static str {
        match self.inner {
            Inner::Sqlite(_) => "sqlite",
            Inner::Redis(_) => "redis",
        }
    }

    /// Jobs waiting and jobs running in this queue, as the backend counts them (for
    /// `/metrics`; every process sharing the backend sees the same numbers).
    pub async fn depth(&self) -> QueueResult<QueueDepth> {
        let stats = match &self.inner {
            Inner::Sqlite(s) => s.fetch_by_queue().await.map_err(QueueError::sqlite)?,
            Inner::Redis(s) => return redis_depth(s).await,
        };
        let find = |title: &str| {
            stats
                .iter()
                .find(|s| s.title.eq_ignore_ascii_case(title))
                .and_then(|s| s.value.parse::<f64>().ok())
                .map_or(0, |v| v as u64)
        };
        Ok(QueueDepth {
            pending: find("PENDING_JOBS"),
            running: find("RUNNING_JOBS"),
        })
    }

    /// Pushes `job` to run after `delay`. A job whose key was pushed before is dropped
    /// (the backend keeps keys), so pushing again after a crash is always safe.
    pub async fn push(&self, job: Job, delay: Option<Duration>) -> QueueResult<()> {
        self.push_all(vec![(job, delay)]).await
    }

    /// Pushes jobs in one go: one transaction in SQLite, one pipeline in Redis, rather
    /// than one per job (a run's fan-out over a folder pushes one per project). Keys
    /// pushed before are dropped, as in [`Queue::push`].
    pub async fn push_all(&self, jobs: Vec<(Job, Option<Duration>)>) -> QueueResult<()> {
        let tasks = jobs.into_iter().map(|(job, delay)| {
            let key = job.key();
            let mut task = TaskBuilder::new(job).idempotency_key(key);
            if let Some(d) = delay {
                task = task.run_after(d);
            }
            // Retries are the handler's business (it backs off per project); the
            // backend's own re-delivery covers dead workers and infrastructure errors.
            task.max_attempts(5).build()
        });
        let mut tasks = futures::stream::iter(tasks);
        match &self.inner {
            Inner::Sqlite(s) => s
                .clone()
                .push_all(&mut tasks)
                .await
                .map_err(QueueError::sqlite),
            Inner::Redis(s) => s
                .clone()
                .push_all(&mut tasks)
                .await
                .map_err(QueueError::redis),
        }
    }
}

/// Counts one queue's jobs in Redis in one script (atomic, one round trip): waiting
/// (ready or scheduled) and in flight on any live worker. apalis-redis 1.0's own
/// `fetch_by_queue` fails (its script reads a timestamp it is never given).
const REDIS_DEPTH: &str = r"
local pending = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local running = 0
for _, w in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  running = running + redis.call('SCARD', ARGV[1] .. ':' .. w)
end
return {pending, running}
";

async fn redis_depth(storage: &RedisStorage<Job>) -> QueueResult<QueueDepth> {
    let c = storage.get_config();
    let mut conn = storage.clone().get_connection().clone();
    let (pending, running): (u64, u64) = redis::Script::new(REDIS_DEPTH)
        .key(c.active_jobs_list())
        .key(c.scheduled_jobs_set())
        .key(c.workers_set())
        .arg(c.inflight_jobs_set())
        .invoke_async(&mut conn)
        .await
        .map_err(QueueError::redis)?;
    Ok(QueueDepth { pending, running })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    /// A batch is stored whole, with keys pushed before (inside or outside the batch)
    /// dropped as a single push drops them.
    #[tokio::test]
    async fn jobs_pushed_together_are_stored_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(QueueConfig::new(Backend::Sqlite {
            path: dir.path().join("queue.db"),
        }))
        .await
        .unwrap();
        queue.push(Job::Noop { n: 1 }, None).await.unwrap();
        let batch = [1, 2, 3, 3].map(|n| (Job::Noop { n }, None)).to_vec();
        queue.push_all(batch).await.unwrap();
        assert_eq!(queue.depth().await.unwrap().pending, 3);
        queue.push_all(Vec::new()).await.unwrap();
        assert_eq!(queue.depth().await.unwrap().pending, 3);
    }
}
