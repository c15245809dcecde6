//! The cluster a test (or the cluster benchmark, which includes this file) runs: the
//! shared servers, and `serve` and `worker` nodes on them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::servers::{Moto, Redis, Surreal, start_moto, start_redis, start_surreal};
use crate::support::{Stderr, TestServer};

/// The shared servers and the settings every node of the cluster is started with.
pub struct Cluster {
    pub surreal: Surreal,
    pub redis: Redis,
    pub s3: Moto,
    /// Holds each node's own data directory (its compiled-plugin cache).
    pub dirs: tempfile::TempDir,
    secret_key: String,
}

pub const BUCKET: &str = "vitrine-artifacts";

/// What a process logged, as it logs it.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    pub fn contains(&self, text: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

impl Cluster {
    pub async fn start() -> Cluster {
        let (surreal, redis, s3) = tokio::join!(start_surreal(None), start_redis(), start_moto());
        s3.bucket(BUCKET).await;
        Cluster {
            surreal,
            redis,
            s3,
            dirs: tempfile::tempdir().unwrap(),
            secret_key: base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        }
    }

    /// The environment of a node: the shared database, artifacts, queue and Redis.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VITRINE_DATABASE_URL", self.surreal.url.clone()),
            ("VITRINE_DATABASE_USER", "root".into()),
            (
                "VITRINE_DATABASE_PASSWORD",
                crate::servers::SURREAL_ROOT_PASSWORD.into(),
            ),
            ("VITRINE_ARTIFACTS_KIND", "s3".into()),
            ("VITRINE_ARTIFACTS_BUCKET", BUCKET.into()),
            ("VITRINE_ARTIFACTS_PREFIX", "cluster".into()),
            ("VITRINE_ARTIFACTS_ENDPOINT", self.s3.url.clone()),
            ("VITRINE_S3_ACCESS_KEY_ID", "test-key".into()),
            ("VITRINE_S3_SECRET_ACCESS_KEY", "test-secret".into()),
            ("VITRINE_QUEUE_BACKEND", "redis".into()),
            ("VITRINE_QUEUE_REDIS_URL", self.redis.url.clone()),
            ("VITRINE_SECRET_KEY", self.secret_key.clone()),
            // Serve nodes only serve; workers work.
            ("VITRINE_QUEUE_WORKERS", "0".into()),
        ]
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.dirs.path().join(name)
    }

    /// A `vitrine serve` node with a data directory of its own.
    pub async fn serve(&self, name: &str) -> TestServer {
        let env = self.env();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        TestServer::start_full(&self.dir(name), &[], &pairs).await
    }

    /// A `vitrine worker` node, once it says it works.
    pub async fn worker(&self, name: &str) -> Child {
        self.worker_with(name, &[]).await.0
    }

    /// A worker with extra environment variables, and the lines it logs from then on.
    pub async fn worker_with(&self, name: &str, extra: &[(&str, &str)]) -> (Child, Log) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .args(["worker", "--data-dir"])
            .arg(self.dir(name))
            .envs(self.env())
            .envs(extra.iter().copied())
            .env("VITRINE_TASK_RETRY_BASE_MS", "200")
            .env("VITRINE_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start worker");
        let stderr = Stderr::drain(child.stderr.take().unwrap());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log = Log::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .expect("worker start timed out")
                .expect("read");
            let Some(line) = line else {
                panic!(
                    "worker exited before working: {}",
                    stderr.after_exit(&mut child).await
                );
            };
            if line.starts_with("worker: working on") {
                assert!(line.starts_with("worker: working on redis jobs"), "{line}");
                break;
            }
            log.0.lock().unwrap().push(line);
        }
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.0.lock().unwrap().push(line);
            }
        });
        (child, log)
    }

    /// The artifact keys of one kind (`datasets/`, `uploads/`) in the shared bucket.
    pub async fn artifacts(&self, kind: &str) -> Vec<String> {
        self.s3.keys(BUCKET, &format!("cluster/{kind}")).await
    }
}
