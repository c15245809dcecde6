//! Queue throughput: no-op jobs pushed and worked through on SQLite (a file, the
//! default) and on Redis (a `redis-server` started here on 127.0.0.1), in one run.
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

async fn measure(name: &str, backend: Backend, jobs: u64) {
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
    println!(
        "{name:7} {jobs} jobs  push {:>7.1} ms ({:>6.0}/s)  work {:>7.1} ms ({:>6.0}/s, {:.2} ms/job)  concurrency {}",
        pushed.as_secs_f64() * 1e3,
        jobs as f64 / pushed.as_secs_f64(),
        worked.as_secs_f64() * 1e3,
        jobs as f64 / worked.as_secs_f64(),
        worked.as_secs_f64() * 1e3 / jobs as f64,
        queue.config().concurrency,
    );
}

#[tokio::main]
async fn main() {
    let jobs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    measure(
        "sqlite",
        Backend::Sqlite {
            path: dir.path().join("queue.db"),
        },
        jobs,
    )
    .await;
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
