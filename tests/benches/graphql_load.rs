//! Benchmark (issue 2b): an authenticated GraphQL query fetching a project by slug over
//! loopback, 64 concurrent clients, against the real `vitrine` binary — and, in the same
//! run, a trivial poem handler as the ceiling. Targets: ≥ 5,000 requests/s, p99 ≤ 20 ms
//! (issue 2b); ≥ 0.5× the ceiling, p99 ≤ 10 ms (issue 26). Prints the ratio.
//!
//! `cargo bench -p vitrine --bench graphql_load` (VITRINE_BENCH_SECS sets each phase's
//! length, default 10 s). Traffic stays on 127.0.0.1; every loop is bounded in time.

mod common;

use std::sync::Arc;

use common::{CLIENTS, MakeRequest, Server, ceiling, load, phase_secs};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let secs = phase_secs();
    let server = Server::start(&[]).await;
    let url = server.url.clone();

    // Setup: a folder tree six deep with a project at the bottom, and a non-admin reader
    // with an API token, so the check runs the full role walk rather than the admin
    // shortcut.
    let admin = server.admin().await;
    let id = |v: &Value, field: &str| v[field]["id"].as_str().unwrap().to_owned();
    let top = id(
        &admin
            .gql("mutation{createFolder(name:\"Bench\"){id}}", json!({}))
            .await,
        "createFolder",
    );
    let mut parent = top.clone();
    for i in 0..5 {
        parent = id(
            &admin
                .gql(
                    "mutation($p:ID,$n:String!){createFolder(parentId:$p,name:$n){id}}",
                    json!({"p": parent, "n": format!("L{i}")}),
                )
                .await,
            "createFolder",
        );
    }
    let p = admin
        .gql(
            "mutation($f:ID!){createProject(folderId:$f,name:\"Load Test\"){slug}}",
            json!({"f": parent}),
        )
        .await;
    let slug = p["createProject"]["slug"].as_str().unwrap().to_owned();
    let reader = id(
        &admin
            .gql(
                "mutation{createUser(username:\"reader\",password:\"staple paper clip tower\"){id}}",
                json!({}),
            )
            .await,
        "createUser",
    );
    admin
        .gql(
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

    let ceiling_url = ceiling().await;
    let hello: MakeRequest = Arc::new(move |c, _| c.get(&ceiling_url));
    let query = json!({"query": "query($s:String!){project(slug:$s){id name slug role}}", "variables": {"s": slug}})
        .to_string();
    let graphql: MakeRequest = Arc::new(move |c, _| {
        c.post(format!("{url}/graphql"))
            .header("content-type", "application/json")
            .bearer_auth(&api_token)
            .body(query.clone())
    });
    println!("warming up…");
    load(graphql.clone(), CLIENTS, "\"role\":\"VIEWER\"", 2).await;
    load(hello.clone(), CLIENTS, "hello", 1).await;
    let ceiling = load(hello, CLIENTS, "hello", secs).await;
    ceiling.report("ceiling: trivial poem handler", CLIENTS);
    let ours = load(graphql, CLIENTS, "\"role\":\"VIEWER\"", secs).await;
    ours.report("vitrine: project by slug (token)", CLIENTS);
    println!(
        "ratio (vitrine / ceiling): {:.2}x (target >= 0.5x), p99 {:.2} ms (target <= 10 ms)",
        ours.per_second() / ceiling.per_second(),
        ours.quantile_ms(0.99)
    );
}
