//! Benchmark (issue 22): Vitrine scaled out on this machine — one SurrealDB server, Redis
//! and an S3 store (moto), all started here as the cluster tests start them — measuring:
//! - GraphQL throughput (a project by slug) and warmed-tile throughput, 64 clients, on
//!   one `serve` node and on two (clients split between them); target 2 ≥ 0.9 × 1;
//! - how long a grant made on one node takes to apply on the other (p50, p99 of 100);
//! - a refresh and warm-up of 100 projects with one `vitrine worker`, then with two.
//!
//! `cargo bench -p vitrine --bench cluster` (VITRINE_BENCH_SECS: each load phase,
//! default 10 s; VITRINE_BENCH_PROJECTS: default 100). Traffic stays on 127.0.0.1.

mod common;
#[allow(dead_code)]
#[path = "../e2e/servers.rs"]
mod servers;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;
#[allow(dead_code)]
#[path = "../e2e/cluster/world.rs"]
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CLIENTS, MakeRequest, load, phase_secs};
use serde_json::{Value, json};
use support::{Actor, Auth, TestServer, data};
use world::Cluster;

const BY_SLUG: &str = "query($s:String!){project(slug:$s){id name}}";
const TILE: &str = "query($r:ID!){tileResult(reportId:$r,tileId:\"total\"){rowCount}}";
const CSV: &str = include_str!("../../examples/data/superstore.csv");

fn token(who: &Actor) -> String {
    match &who.auth {
        Auth::Bearer(t) => t.clone(),
        _ => unreachable!("actors carry tokens"),
    }
}

/// Clients `i` go to `urls[i % urls.len()]`, each sending `query` with `variables`.
fn requests(urls: &[String], token: &str, query: &'static str, variables: Value) -> MakeRequest {
    let (urls, token) = (urls.to_vec(), token.to_owned());
    let body = json!({"query": query, "variables": variables});
    Arc::new(move |client: &reqwest::Client, i: usize| {
        client
            .post(format!("{}/graphql", urls[i % urls.len()]))
            .bearer_auth(&token)
            .json(&body)
    })
}

/// A folder of `n` projects reading one CSV through a file location, each with a
/// one-tile report; answers the folder and the first project's (slug, report).
async fn fleet(
    s: &TestServer,
    admin: &Actor,
    n: usize,
    files: &std::path::Path,
) -> (String, String, String) {
    std::fs::write(files.join("orders.csv"), CSV).unwrap();
    let folder = s.folder(admin, None, "Fleet").await;
    let r = s
        .gql(
            &admin.auth,
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files}}),
        )
        .await;
    let location = data(&r)["createResourceLocation"]["id"].clone();
    data(
        &s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:READ){id}}",
            json!({"l": location, "f": folder}),
        )
        .await,
    );
    let workflow = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
    ]});
    let report = json!({"tabs": [{"id": "t", "title": "T", "tiles": [
        {"id": "total", "title": "Orders", "kind": "kpi",
         "query": {"dataset": "orders", "measures": [{"function": "count", "name": "orders"}]}}]}]});
    let mut first = None;
    for i in 0..n {
        let (id, slug) = s.project(admin, &folder, &format!("P{i:03}")).await;
        data(
            &s.gql(
                &admin.auth,
                "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
                json!({"p": id, "w": workflow}),
            )
            .await,
        );
        let r = s
            .gql(
                &admin.auth,
                "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"R\",definition:$d){id}}",
                json!({"p": id, "d": report}),
            )
            .await;
        let report = data(&r)["createReport"]["id"].as_str().unwrap().to_owned();
        first.get_or_insert((slug, report));
    }
    let (slug, report) = first.expect("at least one project");
    (folder, slug, report)
}

/// Runs the folder task now and waits for it; answers how long it took.
async fn timed_run(s: &TestServer, admin: &Actor, task: &str) -> Duration {
    let started = Instant::now();
    let r = s
        .gql(
            &admin.auth,
            "mutation($t:ID!){runTaskNow(id:$t){id}}",
            json!({"t": task}),
        )
        .await;
    let run = data(&r)["runTaskNow"]["id"].as_str().unwrap().to_owned();
    loop {
        let r = s
            .gql(
                &admin.auth,
                "query($r:ID!){taskRun(id:$r){status succeeded finishedAt}}",
                json!({"r": run}),
            )
            .await;
        let v = &data(&r)["taskRun"];
        if v["finishedAt"].is_string() {
            assert_eq!(v["status"], "succeeded", "{v}");
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let secs = phase_secs();
    let projects: usize = std::env::var("VITRINE_BENCH_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let c = Cluster::start().await;
    let (a, b) = tokio::join!(c.serve("a"), c.serve("b"));
    let admin = a.admin().await;
    let files = tempfile::tempdir().unwrap();
    let (folder, slug, report) = fleet(&a, &admin, projects, files.path()).await;
    let tok = token(&admin);

    // Refresh and warm-up of the fleet, one worker then two.
    let task = data(
        &a.gql(
            &admin.auth,
            "mutation($i:TaskInput!){createTask(input:$i){id}}",
            json!({"i": {"name": "Refresh", "trigger": {}, "target": {"folderId": folder},
                         "actions": [{"kind": "REFRESH"}, {"kind": "WARM_UP"}]}}),
        )
        .await,
    )["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let w1 = c.worker("w1").await;
    let one = timed_run(&a, &admin, &task).await;
    let w2 = c.worker("w2").await;
    let two = timed_run(&a, &admin, &task).await;
    println!(
        "refresh + warm-up of {projects} projects: 1 worker {:.2} s ({:.1} ms/project), 2 workers {:.2} s ({:.1} ms/project); speed-up {:.2}×",
        one.as_secs_f64(),
        one.as_secs_f64() * 1e3 / projects as f64,
        two.as_secs_f64(),
        two.as_secs_f64() * 1e3 / projects as f64,
        one.as_secs_f64() / two.as_secs_f64()
    );
    drop((w1, w2));

    // Throughput, one node against two.
    let one_node = [a.url.clone()];
    let two_nodes = [a.url.clone(), b.url.clone()];
    for (name, query, variables) in [
        ("GraphQL project by slug", BY_SLUG, json!({"s": slug})),
        ("warmed tile", TILE, json!({"r": report})),
    ] {
        let check = if query == BY_SLUG {
            "\"name\""
        } else {
            "rowCount"
        };
        let s1 = load(
            requests(&one_node, &tok, query, variables.clone()),
            CLIENTS,
            check,
            secs,
        )
        .await;
        s1.report(&format!("{name}, 1 node"), CLIENTS);
        let s2 = load(
            requests(&two_nodes, &tok, query, variables),
            CLIENTS,
            check,
            secs,
        )
        .await;
        s2.report(&format!("{name}, 2 nodes"), CLIENTS);
        println!(
            "{name}: 2 nodes / 1 node = {:.2}× (target ≥ 0.9×)",
            s2.per_second() / s1.per_second()
        );
    }

    // A grant on A, seen on B; then its revocation. Delay from A's answer to B's.
    let vera = a.user(&admin, "vera").await;
    let (_, project_id) = {
        let r = a.gql(&admin.auth, BY_SLUG, json!({"s": slug})).await;
        ((), data(&r)["project"]["id"].as_str().unwrap().to_owned())
    };
    let http = reqwest::Client::new();
    let sees = async |want: bool| {
        let started = Instant::now();
        loop {
            let r: Value = http
                .post(format!("{}/graphql", b.url))
                .bearer_auth(token(&vera))
                .json(&json!({"query": BY_SLUG, "variables": {"s": slug}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r["data"]["project"]["id"].is_string() == want {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never applied");
        }
    };
    let mut delays = Vec::new();
    for _ in 0..50 {
        a.grant(
            &admin,
            &format!("user:{}", vera.id),
            &format!("project:{project_id}"),
            "VIEWER",
        )
        .await;
        delays.push(sees(true).await);
        data(
            &a.gql(
                &admin.auth,
                "mutation($s:String!,$o:String!){revokeRole(subject:$s,object:$o)}",
                json!({"s": format!("user:{}", vera.id), "o": format!("project:{project_id}")}),
            )
            .await,
        );
        delays.push(sees(false).await);
    }
    delays.sort();
    let q = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "grant or revocation on node A applied on node B: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} changes; includes B's request)",
        q(0.5),
        q(0.99),
        q(1.0),
        delays.len()
    );
}
