//! Benchmark (issue 2b): an authenticated GraphQL query fetching a project by slug over
//! loopback, 64 concurrent clients, against the real `vitrine` binary — and, in the same
//! run, a trivial poem handler as the ceiling. Targets: ≥ 5,000 requests/s, p99 ≤ 20 ms.
//!
//! `cargo bench -p vitrine --bench graphql_load` (VITRINE_BENCH_SECS sets each phase's
//! length, default 10 s). Traffic stays on 127.0.0.1; every loop is bounded in time.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENTS: usize = 64;

struct Stats {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn report(&mut self, name: &str) {
        self.latencies.sort();
        let p = |q: f64| {
            self.latencies[((self.latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3
        };
        println!(
            "{name:<34} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors, {CLIENTS} clients)",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            p(0.5),
            p(0.99),
            self.requests,
            self.errors
        );
    }
}

/// Runs `CLIENTS` loops of one request each against `url` for `secs`.
async fn load(
    url: String,
    body: Option<Value>,
    token: Option<String>,
    check: &'static str,
    secs: u64,
) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let body = Arc::new(body.map(|b| b.to_string()));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, body, token) = (client.clone(), url.clone(), body.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < until {
                let t = Instant::now();
                let req = match body.as_ref() {
                    Some(b) => client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b.clone()),
                    None => client.get(&url),
                };
                let req = match &token {
                    Some(t) => req.bearer_auth(t),
                    None => req,
                };
                match req.send().await {
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

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    vars: Value,
) -> Value {
    let mut req = client
        .post(format!("{url}/graphql"))
        .json(&json!({"query": query, "variables": vars}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    assert!(v.get("errors").is_none(), "{v}");
    v["data"].clone()
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("VITRINE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("VITRINE_LOG", "warn,vitrine_server=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    while url.is_none() {
        let l = lines.next_line().await.unwrap().expect("server exited");
        if let Some(i) = l.find("#token=") {
            token = Some(l[i + 7..].split_whitespace().next().unwrap().to_owned());
        }
        if let Some(i) = l.find("listening on http://") {
            url = Some(l[i + 13..].trim().to_owned());
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = url.unwrap();

    // Setup: admin → session → API token; a folder and a project; a non-admin reader so the
    // check runs the full role walk rather than the admin shortcut.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let setup = "mutation($t:String!){completeSetup(token:$t,username:\"admin\",password:\"correct horse battery\"){id}}";
    gql(&c, &url, None, setup, json!({"t": token})).await;
    let login: Value = c
        .post(format!("{url}/auth/login"))
        .json(&json!({"username":"admin","password":"correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = login["csrfToken"].as_str().unwrap().to_owned();
    let with_csrf = |q: &str, v: Value| {
        let c = c.clone();
        let (url, csrf, q) = (url.clone(), csrf.clone(), q.to_owned());
        async move {
            let r: Value = c
                .post(format!("{url}/graphql"))
                .header("x-csrf-token", csrf)
                .json(&json!({"query": q, "variables": v}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(r.get("errors").is_none(), "{r}");
            r["data"].clone()
        }
    };
    let top = with_csrf("mutation{createFolder(name:\"Bench\"){id}}", json!({})).await["createFolder"]["id"].as_str().unwrap().to_owned();
    let mut parent = top.clone();
    for i in 0..5 {
        parent = with_csrf(
            "mutation($p:ID,$n:String!){createFolder(parentId:$p,name:$n){id}}",
            json!({"p": parent, "n": format!("L{i}")}),
        )
        .await["createFolder"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let p = with_csrf(
        "mutation($f:ID!){createProject(folderId:$f,name:\"Load Test\"){slug}}",
        json!({"f": parent}),
    )
    .await;
    let slug = p["createProject"]["slug"].as_str().unwrap().to_owned();
    let reader = with_csrf(
        "mutation{createUser(username:\"reader\",password:\"staple paper clip tower\"){id}}",
        json!({}),
    )
    .await["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    with_csrf(
        "mutation($s:String!,$o:String!){grantRole(subject:$s,object:$o,role:VIEWER)}",
        json!({"s": format!("user:{reader}"), "o": format!("folder:{top}")}),
    )
    .await;
    let rc = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let rl: Value = rc
        .post(format!("{url}/auth/login"))
        .json(&json!({"username":"reader","password":"staple paper clip tower"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt: Value = rc
        .post(format!("{url}/graphql"))
        .header("x-csrf-token", rl["csrfToken"].as_str().unwrap())
        .json(&json!({"query": "mutation{createApiToken(name:\"bench\"){token}}"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_token = rt["data"]["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Ceiling: a trivial poem handler in this process.
    let ceiling = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ceiling_url = format!("http://{}/", ceiling.local_addr().unwrap());
    #[poem::handler]
    fn hello() -> &'static str {
        "hello"
    }
    tokio::spawn(async move {
        let acceptor = poem::listener::TcpAcceptor::from_tokio(ceiling).unwrap();
        poem::Server::new_with_acceptor(acceptor)
            .run(poem::Route::new().at("/", poem::get(hello)))
            .await
    });

    let query = json!({"query": "query($s:String!){project(slug:$s){id name slug role}}", "variables": {"s": slug}});
    println!("warming up…");
    load(
        format!("{url}/graphql"),
        Some(query.clone()),
        Some(api_token.clone()),
        "\"role\":\"VIEWER\"",
        2,
    )
    .await;
    load(ceiling_url.clone(), None, None, "hello", 1).await;
    load(ceiling_url, None, None, "hello", secs)
        .await
        .report("ceiling: trivial poem handler");
    load(
        format!("{url}/graphql"),
        Some(query),
        Some(api_token),
        "\"role\":\"VIEWER\"",
        secs,
    )
    .await
    .report("vitrine: project by slug (token)");
    let _ = child.kill().await;
}
