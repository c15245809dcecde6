//! Workflow runs, incremental re-runs, datasets, reports, tiles and report filters.

use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test]
async fn workflow_runs_incrementally_and_feeds_reports() {
    let w = data_world().await;
    let s = &w.s;
    let saved = s
        .gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(100.0), "v": 0}),
        )
        .await;
    assert_eq!(data(&saved)["saveWorkflow"]["version"], 1);
    let first =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(first["status"], "succeeded", "{first}");
    assert!(
        statuses(&first).values().all(|s| s == "succeeded"),
        "{first}"
    );
    assert!(w.files.path().join("out/regions.parquet").exists());

    // Unchanged: nothing re-runs.
    let again =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert!(
        statuses(&again).values().all(|s| s == "up_to_date"),
        "{again}"
    );

    // One block changes: it and what reads from it re-run; the rest is reused.
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(500.0), "v": 1}),
        )
        .await,
    );
    let changed =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    let st = statuses(&changed);
    assert_eq!(st["orders"], "up_to_date");
    assert_eq!(st["publish_orders"], "up_to_date");
    for b in ["big", "by_region", "publish_regions", "export"] {
        assert_eq!(st[b], "succeeded", "{b}: {changed}");
    }
    let big_rows = changed["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == "big")
        .unwrap()["rows"]
        .as_i64()
        .unwrap();
    let expected = SUPERSTORE
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(8).unwrap().parse::<f64>().unwrap() > 500.0)
        .count();
    assert_eq!(big_rows as usize, expected);

    // Datasets carry schema, rows and size.
    let ds = data(
        &s.gql(
            &w.editor.auth,
            "query($p:ID!){datasets(projectId:$p){name rows bytes columns{name type}}}",
            json!({"p": w.project}),
        )
        .await,
    )["datasets"]
        .clone();
    let orders = ds
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "orders")
        .unwrap();
    assert_eq!(orders["rows"], 400);
    assert!(orders["bytes"].as_i64().unwrap() > 0);
    assert!(
        orders["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "sales" && c["type"] == "float64")
    );

    // A report over the dataset: sums match the file.
    let r = s
        .gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": report_definition()}),
        )
        .await;
    let report = data(&r)["createReport"]["id"].as_str().unwrap().to_owned();
    let tile = data(
        &s.gql(&w.editor.auth, TILE, json!({"r": report, "t": "by_region"}))
            .await,
    )["tileResult"]
        .clone();
    let expected = sales_by_region();
    assert_eq!(
        regions_of(&tile),
        expected.keys().cloned().collect::<Vec<_>>()
    );
    for row in tile["rows"].as_array().unwrap() {
        let want = expected[row[0].as_str().unwrap()];
        assert!(
            (row[1].as_f64().unwrap() - want).abs() < 0.01,
            "{row} vs {want}"
        );
    }
    let kpi = data(
        &s.gql(&w.editor.auth, TILE, json!({"r": report, "t": "total"}))
            .await,
    )["tileResult"]
        .clone();
    assert_eq!(kpi["rows"], json!([[400, 16]]));
    let top = data(
        &s.gql(&w.editor.auth, TILE, json!({"r": report, "t": "rows"}))
            .await,
    )["tileResult"]
        .clone();
    assert_eq!(top["rowCount"], 5);
    assert_eq!(top["truncated"], true);

    // Report filters narrow every tile.
    let corp = data(&s.gql(&w.editor.auth, TILE, json!({"r": report, "t": "total", "f": [{"filter": "segment", "values": ["Corporate"]}]})).await)["tileResult"].clone();
    let corporate = SUPERSTORE
        .lines()
        .filter(|l| l.split(',').nth(3) == Some("Corporate"))
        .count();
    assert_eq!(corp["rows"][0][0], corporate);
    let values = data(
        &s.gql(
            &w.editor.auth,
            "query($r:ID!){filterValues(reportId:$r,filterId:\"segment\")}",
            json!({"r": report}),
        )
        .await,
    )["filterValues"]
        .clone();
    assert_eq!(values, json!(["Consumer", "Corporate", "Home Office"]));
}

/// Every built-in kind is discoverable with its ports and a JSON Schema of its `config`;
/// the schema tells a client what saving will refuse, before it saves.
#[tokio::test]
async fn block_kinds_describe_their_ports_and_configuration() {
    let w = data_world().await;
    let r =
        w.s.gql(
            &w.editor.auth,
            "{ blockKinds { name description inputs namedInputs configSchema } }",
            json!({}),
        )
        .await;
    let kinds = data(&r)["blockKinds"].as_array().unwrap().clone();
    assert_eq!(kinds.len(), 19, "{r}");
    let kind = |name: &str| kinds.iter().find(|k| k["name"] == name).unwrap().clone();
    let csv = kind("csv_source");
    assert_eq!(csv["inputs"], json!([]));
    let schema = &csv["configSchema"];
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"location") && required.contains(&"path"),
        "{schema}"
    );
    // Column types in the schema are the one vocabulary.
    assert!(schema.to_string().contains("\"int64\"") && schema.to_string().contains("\"text\""));
    assert_eq!(kind("join")["inputs"], json!(["left", "right"]));
    assert_eq!(kind("sql")["namedInputs"], 1);
    assert_eq!(kind("union")["namedInputs"], 2);
    assert_eq!(kind("filter")["inputs"], json!(["in"]));
    // What the schema forbids, saving refuses, naming the field.
    let wf = json!({"blocks": [
        {"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv", "delimter": ";"}}]});
    let r =
        w.s.gql(
            &w.editor.auth,
            SAVE_WORKFLOW,
            json!({"p": w.project, "w": wf}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert!(message(&r).contains("delimter"), "{r}");
}
