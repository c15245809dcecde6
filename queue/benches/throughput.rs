//! Queue throughput: no-op jobs pushed and worked through on SQLite (a file, the
//! default) and on Redis (a `redis-server` started here on 127.0.0.1), in one run. The
//! peer (issue 26): raw apalis-sqlite in this process, the same number of no-op jobs on
//! a file of its own with apalis's default configuration; the ratio printed is its time
//! over Vitrine's (target ≥ 0.9×).
//!
//! `cargo bench -p vitrine-queue --bench throughput [-- JOBS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use vitrine_queue::{Backend, Job, JobHandler, Queue, QueueConfig, run_workers};

struct Count {
    done: AtomicU64,
    target: u64,
    all: Notify,
}

#[async_trait::async_trait]
impl JobHandler for Count {
    async fn handle(&self, _job: Job) -> Result<(), String> {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.all.notify_one();
        }
        Ok(())
    }
    async fn tick(&self, _: i64) {}
}

/// The time to push `jobs` and work them all, as `(push, work)`.
async fn measure(name: &str, backend: Backend, jobs: u64) -> (Duration, Duration) {
    let mut config = QueueConfig::new(backend);
    config.name = format!("bench-{}", std::process::id());
    let queue = Queue::open(config).await.expect("open queue");
    let t = Instant::now();
    for n in 0..jobs {
        queue.push(Job::Noop { n }, None).await.expect("push");
    }
    let pushed = t.elapsed();
    let count = Arc::new(Count {
        done: AtomicU64::new(0),
        target: jobs,
        all: Notify::new(),
    });
    let t = Instant::now();
    let handler: Arc<dyn JobHandler> = count.clone();
    let waiter = count.clone();
    run_workers(&queue, handler, async move { waiter.all.notified().await })
        .await
        .expect("workers");
    let worked = t.elapsed();
    let concurrency = format!("concurrency {}", queue.config().concurrency);
    print_times(name, jobs, pushed, worked, &concurrency);
    (pushed, worked)
}

/// The peer: apalis-sqlite as its README shows it, with a counting no-op handler that
/// stops the worker after the last job.
async fn raw_apalis(path: &std::path::Path, jobs: u64) -> (Duration, Duration) {
    use apalis::prelude::*;
    use apalis_sqlite::{SqlitePool, SqliteStorage};

    let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    SqliteStorage::setup(&pool).await.unwrap();
    let mut backend = SqliteStorage::new(&pool);
    let t = Instant::now();
    for n in 0..jobs {
        backend.push(n).await.unwrap();
    }
    let pushed = t.elapsed();
    async fn task(
        _n: u64,
        done: Data<Arc<AtomicU64>>,
        target: Data<u64>,
        worker: WorkerContext,
    ) -> Result<(), BoxDynError> {
        if done.fetch_add(1, Ordering::SeqCst) + 1 == *target {
            worker.stop()?;
        }
        Ok(())
    }
    let t = Instant::now();
    WorkerBuilder::new("raw")
        .backend(backend)
        .data(Arc::new(AtomicU64::new(0)))
        .data(jobs)
        .build(task)
        .run()
        .await
        .unwrap();
    let worked = t.elapsed();
    print_times("apalis", jobs, pushed, worked, "(the peer)");
    (pushed, worked)
}

fn print_times(name: &str, jobs: u64, pushed: Duration, worked: Duration, note: &str) {
    println!(
        "{name:7} {jobs} jobs  push {:>7.1} ms ({:>6.0}/s)  work {:>7.1} ms ({:>6.0}/s, {:.2} ms/job)  {note}",
        pushed.as_secs_f64() * 1e3,
        jobs as f64 / pushed.as_secs_f64(),
        worked.as_secs_f64() * 1e3,
        jobs as f64 / worked.as_secs_f64(),
        worked.as_secs_f64() * 1e3 / jobs as f64,
    );
}

#[tokio::main]
async fn main() {
    let jobs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let (peer_push, peer_work) = raw_apalis(&dir.path().join("raw.db"), jobs).await;
    let (push, work) = measure(
        "sqlite",
        Backend::Sqlite {
            path: dir.path().join("queue.db"),
        },
        jobs,
    )
    .await;
    let ratio = |peer: Duration, ours: Duration| peer.as_secs_f64() / ours.as_secs_f64();
    println!(
        "ratio against raw apalis-sqlite (peer time / ours, target >= 0.9): push {:.2}x  work {:.2}x  both {:.2}x",
        ratio(peer_push, push),
        ratio(peer_work, work),
        ratio(peer_push + peer_work, push + work)
    );
    let redis = std::path::Path::new("/usr/bin/redis-server");
    if !redis.exists() {
        println!("redis   skipped: install redis-server (Debian) to measure it");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(redis)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    measure(
        "redis",
        Backend::Redis {
            url: format!("redis://127.0.0.1:{port}/0"),
        },
        jobs,
    )
    .await;
    let _ = child.kill().await;
}
