//! Multipart uploads as a source, and run progress over the subscription WebSocket.

use serde_json::{Value, json};

use super::*;
use crate::support::*;

#[tokio::test]
async fn uploads_and_run_progress_over_websocket() {
    let w = data_world().await;
    let s = &w.s;
    let Auth::Bearer(token) = &w.editor.auth else {
        panic!()
    };
    // GraphQL multipart request: operations, map, then the file.
    let ops = json!({"query": "mutation($p:ID!,$f:Upload!){uploadFile(projectId:$p,file:$f){id filename bytes}}", "variables": {"p": w.project, "f": null}});
    let form = reqwest::multipart::Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(b"x,y\n1,2\n3,4\n".to_vec()).file_name("points.csv"),
        );
    let resp = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let upload = data(&body)["uploadFile"].clone();
    assert_eq!(upload["filename"], "points.csv");
    assert_eq!(upload["bytes"], 12);
    let wf = json!({"blocks": [
        {"id": "points", "kind": "upload_source", "config": {"upload": upload["id"], "format": "csv"}},
        {"id": "sums", "kind": "sql", "config": {"query": "SELECT sum(x) AS sx, sum(y) AS sy FROM p"}, "inputs": {"p": "points"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "sums"}, "inputs": {"in": "sums"}},
    ]});
    w.save_workflow(wf).await;

    // Start a run, then follow it over graphql-transport-ws.
    let started = s
        .gql(
            &w.editor.auth,
            "mutation($p:ID!){runWorkflow(projectId:$p){id status}}",
            json!({"p": w.project}),
        )
        .await;
    let run_id = data(&started)["runWorkflow"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = subscribe(
        &s.url,
        token,
        "subscription($r:ID!){workflowRunProgress(id:$r){runStatus block{block status}}}",
        json!({"r": run_id}),
    )
    .await;
    let mut final_status = None;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while final_status.is_none() {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("progress in time")
            .unwrap()
            .unwrap();
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "next" {
            let p = &v["payload"]["data"]["workflowRunProgress"];
            if p["block"].is_null() {
                final_status = Some(p["runStatus"].as_str().unwrap().to_owned());
            }
        }
        assert_ne!(v["type"], "error", "{v}");
    }
    assert_eq!(final_status.as_deref(), Some("succeeded"));
    let run = s
        .gql(
            &w.editor.auth,
            "query($r:ID!){workflowRun(id:$r){status blocks{block status}}}",
            json!({"r": run_id}),
        )
        .await;
    assert_eq!(data(&run)["workflowRun"]["status"], "succeeded");
    let report = json!({"tabs": [{"id": "t", "title": "T", "tiles": [{"id": "k", "title": "K", "kind": "table", "query": {"dataset": "sums"}}]}]});
    let rid = data(
        &s.gql(&w.editor.auth, REPORT, json!({"p": w.project, "d": report}))
            .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = s
        .gql(&w.editor.auth, TILE, json!({"r": rid, "t": "k"}))
        .await;
    assert_eq!(data(&t)["tileResult"]["rows"], json!([[4, 6]]));
    // Viewers may not follow runs.
    let viewer_run = s
        .gql(
            &w.west.auth,
            "query($r:ID!){workflowRun(id:$r){status}}",
            json!({"r": run_id}),
        )
        .await;
    assert_eq!(code(&viewer_run), "NOT_FOUND");
}
