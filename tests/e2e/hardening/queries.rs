//! Query shapes that used to cost seconds of CPU or abort the process: fragments that
//! double, values nested hundreds deep, drills and tiles of many conditions. Each is
//! refused with a code, and the server keeps serving.

use serde_json::json;

use crate::sharing::{Visitor, share_world};
use crate::support::*;

fn doubling_fragments(n: usize) -> String {
    let mut q = String::from("query { ...F0 }\n");
    for i in 0..n {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str(&format!("fragment F{n} on Query {{ setupRequired }}\n"));
    q
}

#[tokio::test]
async fn anonymous_query_shapes_are_refused_with_a_code_and_the_server_keeps_serving() {
    let mut s = TestServer::start().await;
    s.admin().await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("{}/graphql", s.url);
    let ask = |query: String, variables: serde_json::Value| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(url)
                .json(&json!({"query": query, "variables": variables}))
                .send()
                .await
                .expect("answered in time")
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    // Fragments that each spread the next twice: 2^24 fields if expanded.
    let r = ask(doubling_fragments(24), json!({})).await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE", "{r}");
    // A literal nested 2,000 deep in an argument.
    let deep = format!(
        "mutation {{ login(username: \"a\", password: \"b\", x: {}1{}) {{ id }} }}",
        "{a:".repeat(2000),
        "}".repeat(2000)
    );
    let r = ask(deep, json!({})).await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE", "{r}");
    // The same, short enough for the server's parsed-document cache (8 KiB), which must
    // not hand it to the parser either.
    let deep = format!(
        "{{ setupRequired(x: {}1{}) }}",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    assert!(deep.len() < 8 * 1024);
    let r = ask(deep, json!({})).await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE", "{r}");
    // The same in a variable (the JSON body itself allows 128 levels).
    let mut v = json!(1);
    for _ in 0..100 {
        v = json!([v]);
    }
    let r = ask("query($v:JSON){setupRequired}".into(), json!({"v": v})).await;
    assert_eq!(code(&r), "QUERY_TOO_LARGE", "{r}");
    assert!(s.alive(), "the server died");
    let r = ask("{setupRequired}".into(), json!({})).await;
    assert_eq!(data(&r)["setupRequired"], false);
}

#[tokio::test]
async fn public_drills_and_saved_definitions_of_many_conditions_are_bounded() {
    let mut sw = share_world().await;
    let admin = sw.w.admin.clone();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "rights": {"drill": true}}))
        .await;
    let v = Visitor::new(sw.s());
    v.open(&url).await;
    // A drill naming one dimension sixty times.
    let values: Vec<_> = (0..60)
        .map(|i| json!(["region", format!("R{i}")]))
        .collect();
    let r = v.drill(&id, "by_region", json!(values)).await;
    assert!(
        ["INVALID_INPUT", "FORBIDDEN", "NOT_FOUND"].contains(&r.status.as_str()),
        "{} {}",
        r.status,
        r.text
    );
    assert!(sw.w.s.alive(), "the server died");

    // A tile of sixty AND-ed conditions and a filter default nested 40 deep are refused
    // when saved, so nothing stored can crash its readers.
    let conditions: Vec<_> = (0..60)
        .map(|i| json!({"column": "region", "op": "ne", "values": [format!("R{i}")]}))
        .collect();
    let mut nested = json!("x");
    for _ in 0..40 {
        nested = json!({"a": nested});
    }
    for definition in [
        json!({"tabs": [{"id": "t", "title": "T", "tiles": [{"id": "k", "title": "K", "kind": "table",
            "query": {"dataset": "orders", "filters": conditions}}]}]}),
        json!({"tabs": [], "filters": [{"id": "f", "label": "F", "column": "region", "default": [nested]}]}),
    ] {
        let r = sw
            .s()
            .gql(
                &admin.auth,
                crate::data::REPORT,
                json!({"p": sw.w.project, "d": definition}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    }
    assert!(sw.w.s.alive(), "the server died");
}

#[tokio::test]
async fn sql_blocks_of_long_expressions_and_wide_unions_fail_cleanly() {
    use crate::data::{RUN, SAVE, data_world};
    let mut w = data_world().await;
    let sum = vec!["sales"; 300].join(" + ");
    let or_chain: Vec<String> = (0..3000).map(|i| format!("region = 'R{i}'")).collect();
    let mut blocks = vec![
        json!({"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "${input}"}}),
        json!({"id": "terms", "kind": "sql", "config": {"query": format!("SELECT {sum} AS s FROM a")}, "inputs": {"a": "orders"}}),
        json!({"id": "ors", "kind": "sql", "config": {"query": format!("SELECT * FROM a WHERE {}", or_chain.join(" OR "))}, "inputs": {"a": "orders"}}),
    ];
    let inputs: serde_json::Map<String, serde_json::Value> = (0..499)
        .map(|i| (format!("i{i}"), json!("orders")))
        .collect();
    blocks.push(json!({"id": "wide", "kind": "union", "config": {}, "inputs": inputs}));
    let admin = w.admin.clone();
    let project = w.project.clone();
    let saved =
        w.s.gql(
            &admin.auth,
            SAVE,
            json!({"p": project, "w": {"blocks": blocks}, "v": 0}),
        )
        .await;
    // Refused when saved, or run: either way with a code, and the server lives on.
    if saved["errors"].is_null() {
        let run = w.s.gql(&admin.auth, RUN, json!({"p": project})).await;
        assert!(run["data"].is_object() || run["errors"].is_array(), "{run}");
    } else {
        assert!(!code(&saved).is_empty(), "{saved}");
    }
    assert!(w.s.alive(), "the server died");
    let r = w.s.gql(&admin.auth, "{viewer{id}}", json!({})).await;
    assert!(data(&r)["viewer"]["id"].is_string());
}

#[tokio::test]
async fn a_workflow_nested_deeper_than_definitions_go_is_refused_and_the_project_stays_deletable() {
    use crate::data::{SAVE, data_world};
    let mut w = data_world().await;
    let mut nested = json!("x");
    for _ in 0..40 {
        nested = json!({"a": nested});
    }
    let blocks = json!([
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "${input}", "extra": nested}},
    ]);
    let admin = w.admin.clone();
    let project = w.project.clone();
    let r =
        w.s.gql(
            &admin.auth,
            SAVE,
            json!({"p": project, "w": {"blocks": blocks}, "v": 0}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert!(message(&r).contains("nests deeper"), "{r}");
    assert!(w.s.alive(), "the server died");
    let r =
        w.s.gql(
            &admin.auth,
            "mutation($p:ID!){deleteProject(id:$p)}",
            json!({"p": project}),
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
}

/// Item 19: a built-in block's result is bounded in rows, its run in time. A block past
/// either fails alone with QUERY_FAILED, its neighbours run, and a stopped block stops
/// using the CPU.
#[tokio::test]
async fn sql_blocks_stop_at_the_row_and_time_limits() {
    use crate::data::{RUN, SAVE, data_world_env};
    let w = data_world_env(&[
        ("VITRINE_BLOCK_MAX_ROWS", "1000"),
        ("VITRINE_BLOCK_TIME_LIMIT_SECS", "2"),
    ])
    .await;
    let sql = |id: &str, query: &str| json!({"id": id, "kind": "sql", "config": {"query": query}, "inputs": {"a": "orders"}});
    let blocks = json!([
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "${input}"}},
        sql("few", "SELECT * FROM generate_series(1, 1000)"),
        sql("many", "SELECT * FROM generate_series(1, 1001)"),
        sql("joined", "SELECT x.value FROM generate_series(1, 40) x, generate_series(1, 40) y"),
        sql("slow", "SELECT count(*) AS n FROM generate_series(1, 5000000) x, generate_series(1, 5000000) y"),
    ]);
    let saved =
        w.s.gql(
            &w.admin.auth,
            SAVE,
            json!({"p": w.project, "w": {"blocks": blocks}, "v": 0}),
        )
        .await;
    data(&saved);
    let started = std::time::Instant::now();
    let run = w.s.gql(&w.admin.auth, RUN, json!({"p": w.project})).await;
    let took = started.elapsed();
    let run = &data(&run)["runWorkflow"];
    let block = |id: &str| {
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == id)
            .unwrap_or_else(|| panic!("no block {id}: {run}"))
            .clone()
    };
    assert_eq!(block("few")["status"], "succeeded", "{run}");
    assert_eq!(block("few")["rows"], 1000, "{run}");
    for (id, says) in [
        ("many", "limit of 1000 rows"),
        ("joined", "limit of 1000 rows"),
        ("slow", "time limit of 2 s"),
    ] {
        let b = block(id);
        assert_eq!(b["error"]["code"], "QUERY_FAILED", "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(says),
            "{b}"
        );
    }
    assert!(
        took < std::time::Duration::from_secs(30),
        "the run took {took:?}"
    );
    let before = w.s.cpu_time();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let spent = w.s.cpu_time() - before;
    assert!(
        spent < std::time::Duration::from_millis(500),
        "the server spent {spent:?} of CPU after the run"
    );
}
