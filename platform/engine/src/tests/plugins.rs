//! Plugin blocks in workflows: the example plugins and a hostile one, published and run
//! like any other block.

use serde_json::json;
use vitrine_plugins::guests;

use super::{fixture, status};
use crate::EngineError;

fn example(name: &str) -> Vec<u8> {
    std::fs::read(guests::example(name)).unwrap()
}

async fn publish(f: &super::Fixture, name: &str) -> vitrine_storage::PluginRecord {
    f.engine
        .publish_plugin(example(name), "tester")
        .await
        .unwrap()
}

fn rows() -> serde_json::Value {
    json!({"id": "rows", "kind": "inline_rows", "config": {
        "columns": [{"name": "email", "type": "text"}, {"name": "amount", "type": "float64"}],
        "rows": [["ann@example.com", 10.0], ["bob@example.org", 11.0], ["not an email", 9.0],
                 ["cy@example.com", 10.5], ["dee@example.com", 95.0], [null, 10.0]]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_blocks_run_in_workflows_with_every_output_port() {
    let f = fixture().await;
    let z = publish(&f, "zscore").await;
    assert_eq!((z.name.as_str(), z.version.as_str()), ("zscore", "1.0.0"));
    publish(&f, "regex-extract").await;
    // A version is published once.
    let again = f.engine.publish_plugin(example("zscore"), "tester").await;
    assert!(matches!(again, Err(EngineError::Conflict(_))), "{again:?}");

    f.save(json!([
        rows(),
        {"id": "score", "kind": "plugin", "inputs": {"in": "rows"},
         "config": {"plugin": "zscore", "version": "1.0.0", "settings": {"column": "amount", "threshold": 1.5}}},
        {"id": "split", "kind": "plugin", "inputs": {"in": "score"},
         "config": {"plugin": "regex-extract", "version": "1.0.0",
                    "settings": {"column": "email", "pattern": "(?P<user>[^@]+)@(?P<domain>.+)"}}},
        {"id": "emails", "kind": "publish", "config": {"dataset": "emails"}, "inputs": {"in": "split"}},
        {"id": "rest", "kind": "publish", "config": {"dataset": "rest"}, "inputs": {"in": "split.unmatched"}},
        {"id": "flagged", "kind": "sql", "config": {"query": "SELECT email FROM t WHERE anomaly"}, "inputs": {"t": "score"}},
        {"id": "anomalies", "kind": "publish", "config": {"dataset": "anomalies"}, "inputs": {"in": "flagged"}},
    ]))
    .await;
    let run = f.run(None).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.blocks);
    let ds = |name: &'static str| {
        let (store, project) = (f.store.clone(), f.project.clone());
        async move { store.dataset(&project, name).await.unwrap().unwrap() }
    };
    let emails = ds("emails").await;
    assert_eq!(emails.rows, 4);
    let cols: Vec<&str> = emails
        .schema
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        ["email", "amount", "zscore", "anomaly", "user", "domain"]
    );
    assert_eq!(ds("rest").await.rows, 2, "the non-email and the null");
    assert_eq!(ds("anomalies").await.rows, 1, "95 stands out");

    // Unchanged: plugin blocks are incremental like the rest.
    let again = f.run(None).await;
    assert_eq!(status(&again, "split"), "up_to_date");
    assert_eq!(status(&again, "score"), "up_to_date");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_blocks_are_checked_before_they_run() {
    let f = fixture().await;
    let z = publish(&f, "zscore").await;
    let plan_error = |settings: serde_json::Value, version: &str| {
        let wf: crate::workflow::Workflow = serde_json::from_value(json!({"blocks": [
            rows(),
            {"id": "score", "kind": "plugin", "inputs": {"in": "rows"},
             "config": {"plugin": "zscore", "version": version, "settings": settings}}]}))
        .unwrap();
        let engine = f.engine.clone();
        async move {
            let params = Default::default();
            let catalog = engine.plugin_catalog(&wf, &params).await.unwrap();
            crate::workflow::validate(&wf, &params, &catalog)
                .unwrap_err()
                .to_string()
        }
    };
    let e = plan_error(json!({"column": 3}), "1.0.0").await;
    assert!(
        e.contains("block `score`, config.settings") && e.contains("/column"),
        "{e}"
    );
    let e = plan_error(json!({"column": "amount", "colour": "red"}), "1.0.0").await;
    assert!(e.contains("colour"), "{e}");
    let e = plan_error(json!({"column": "amount"}), "2.0.0").await;
    assert!(
        e.contains("no plugin `zscore` version 2.0.0 is published"),
        "{e}"
    );
    let e = plan_error(json!({"column": "amount"}), "latest").await;
    assert!(e.contains("config.version"), "{e}");
    f.store.set_plugin_enabled(&z.uid, false).await.unwrap();
    let e = plan_error(json!({"column": "amount"}), "1.0.0").await;
    assert!(e.contains("disabled"), "{e}");

    // A column the input lacks is the block's own refusal, kept on the block.
    f.store.set_plugin_enabled(&z.uid, true).await.unwrap();
    f.save(json!([rows(),
        {"id": "score", "kind": "plugin", "inputs": {"in": "rows"},
         "config": {"plugin": "zscore", "version": "1.0.0", "settings": {"column": "price"}}}]))
        .await;
    let run = f.run(None).await;
    let block = &run.blocks.as_array().unwrap()[1];
    assert_eq!(block["error"]["code"], "PLUGIN_FAILED", "{block}");
    assert!(
        block["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no column `price`"),
        "{block}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrunning_plugin_fails_its_block_alone() {
    let f = fixture().await;
    let spin = std::fs::read(guests::fixture("hostile-spin")).unwrap();
    f.engine.publish_plugin(spin, "tester").await.unwrap();
    f.save(json!([rows(),
        {"id": "spin", "kind": "plugin", "inputs": {"in": "rows"},
         "config": {"plugin": "spin", "version": "1.0.0", "time_limit_ms": 300}},
        {"id": "after", "kind": "publish", "config": {"dataset": "never"}, "inputs": {"in": "spin"}},
        {"id": "other", "kind": "publish", "config": {"dataset": "rows"}, "inputs": {"in": "rows"}}]))
    .await;
    let run = f.run(None).await;
    assert_eq!(run.status.as_str(), "failed");
    assert_eq!(status(&run, "spin"), "failed");
    assert_eq!(status(&run, "after"), "blocked");
    assert_eq!(status(&run, "other"), "succeeded");
    let block = &run.blocks.as_array().unwrap()[1];
    assert_eq!(block["error"]["code"], "PLUGIN_TIMEOUT", "{block}");
}
