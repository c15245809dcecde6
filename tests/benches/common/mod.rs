//! What the HTTP benchmarks share: starting the real `vitrine` binary, signing in the
//! first administrator, and a closed-loop load generator with latency percentiles.
//! Traffic stays on 127.0.0.1; every loop is bounded in time.

#![allow(dead_code)] // each bench uses its own part of this module

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const CLIENTS: usize = 64;

/// Seconds each measured phase lasts (`VITRINE_BENCH_SECS`, default 10).
pub fn phase_secs() -> u64 {
    std::env::var("VITRINE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Stats {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return f64::NAN;
        }
        l[((l.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3
    }

    pub fn report(&self, name: &str, clients: usize) {
        println!(
            "{name:<44} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors, {clients} clients)",
            self.per_second(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.requests,
            self.errors
        );
    }
}

/// Makes client `i`'s next request.
pub type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Runs `clients` closed loops for `secs`; a request counts when its body contains `check`.
pub async fn load(make: MakeRequest, clients: usize, check: &'static str, secs: u64) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (client, make) = (client.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < until {
                let t = Instant::now();
                match make(&client, i).send().await {
                    Ok(r) => match r.text().await {
                        Ok(text) if text.contains(check) => lat.push(t.elapsed()),
                        _ => errors += 1,
                    },
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut stats = Stats {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (lat, errors) = t.await.unwrap();
        stats.requests += lat.len();
        stats.errors += errors;
        stats.latencies.extend(lat);
    }
    stats.elapsed = started.elapsed();
    stats
}

/// The real binary, serving a fresh data directory.
pub struct Server {
    pub url: String,
    pub setup_token: String,
    /// Everything it printed before it listened.
    pub printed: Vec<String>,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            // VITRINE_BENCH_LOG: more of the server's log (a filter), echoed to stderr. The
            // server's own info lines stay: the address is read from them.
            .env(
                "VITRINE_LOG",
                match std::env::var("VITRINE_BENCH_LOG") {
                    Ok(more) => format!("warn,vitrine_server=info,{more}"),
                    Err(_) => "warn,vitrine_server=info".into(),
                },
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut setup_token, mut printed) = (None, None, Vec::new());
        while url.is_none() {
            let l = lines.next_line().await.unwrap().expect("server exited");
            if let Some(i) = l.find("#token=") {
                setup_token = Some(l[i + 7..].split_whitespace().next().unwrap().to_owned());
            }
            if let Some(i) = l.find("listening on http://") {
                url = Some(l[i + 13..].trim().to_owned());
            }
            printed.push(l);
        }
        let echo = std::env::var_os("VITRINE_BENCH_LOG").is_some();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                if echo {
                    eprintln!("{l}");
                }
            }
        });
        Server {
            url: url.unwrap(),
            setup_token: setup_token.expect("a fresh instance prints its setup token"),
            printed,
            _child: child,
            _dir: dir,
        }
    }

    /// The server's data directory (database and artifacts).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Creates the first administrator and returns a signed-in GraphQL client.
    pub async fn admin(&self) -> Admin {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let setup = "mutation($t:String!){completeSetup(token:$t,username:\"admin\",password:\"correct horse battery\"){id}}";
        let r: Value = http
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": setup, "variables": {"t": self.setup_token}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r.get("errors").is_none(), "{r}");
        let uid = r["data"]["completeSetup"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let login: Value = http
            .post(format!("{}/auth/login", self.url))
            .json(&json!({"username":"admin","password":"correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Admin {
            uid,
            http,
            url: self.url.clone(),
            csrf: login["csrfToken"].as_str().unwrap().to_owned(),
        }
    }
}

pub struct Admin {
    pub uid: String,
    pub http: reqwest::Client,
    url: String,
    csrf: String,
}

impl Admin {
    /// The session's CSRF token, for requests built by hand.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Runs a GraphQL operation that must succeed; returns its `data`.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let r: Value = self
            .http
            .post(format!("{}/graphql", self.url))
            .header("x-csrf-token", &self.csrf)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r.get("errors").is_none(), "{r}");
        r["data"].clone()
    }
}

/// A trivial poem handler in this process: the ceiling of what the loop can measure.
pub async fn ceiling() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    #[poem::handler]
    fn hello() -> &'static str {
        "hello"
    }
    tokio::spawn(async move {
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        poem::Server::new_with_acceptor(acceptor)
            .run(poem::Route::new().at("/", poem::get(hello)))
            .await
    });
    url
}
