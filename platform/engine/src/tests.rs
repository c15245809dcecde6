//! Engine tests against a real embedded store: runs, incremental re-runs, failures that
//! stop only their dependants, locations, tile queries and access-filter scopes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vitrine_storage::{
    LocationGrant, LocationRecord, RunRecord, Store, WorkflowRecord, new_uid, now_ms,
};

use crate::report::{FilterState, ReportDefinition, tile_conditions};
use crate::{Engine, EngineLimits, QuerySpec, RunRequest, Scope};

struct Fixture {
    _dir: tempfile::TempDir,
    files: tempfile::TempDir,
    store: Store,
    engine: Arc<Engine>,
    project: vitrine_core::ProjectId,
    folder: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("db").display());
    let store = Store::open(
        &url,
        &vitrine_storage::ArtifactConfig::in_data_dir(dir.path()),
    )
    .await
    .unwrap();
    let engine = Engine::new(store.clone(), EngineLimits::default());
    let files = tempfile::tempdir().unwrap();
    std::fs::write(
        files.path().join("sales.csv"),
        "region,product,amount\nWest,apples,10\nEast,apples,5\nWest,pears,2.5\nNorth,pears,7\n",
    )
    .unwrap();
    let folder = new_uid();
    store
        .insert_location(&LocationRecord {
            uid: new_uid().into(),
            name: "files".into(),
            definition: json!({"kind": "fs", "root": files.path().to_string_lossy()}),
            grants: vec![LocationGrant {
                folder_uid: folder.clone().into(),
                access: vitrine_core::LocationAccess::Write,
            }],
            created_ms: now_ms(),
        })
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        files,
        store,
        engine,
        project: new_uid().into(),
        folder,
    }
}

impl Fixture {
    async fn save(&self, blocks: Value) {
        let current = self
            .store
            .workflow(&self.project)
            .await
            .unwrap()
            .map(|w| w.version)
            .unwrap_or(0);
        self.store
            .save_workflow(
                &WorkflowRecord {
                    project_uid: self.project.clone(),
                    definition: serde_json::from_value(json!({ "blocks": blocks })).unwrap(),
                    parameters: BTreeMap::from([("dir".to_owned(), "sales".to_owned())]),
                    version: current + 1,
                    updated_ms: now_ms(),
                    updated_by: None,
                },
                current,
            )
            .await
            .unwrap();
    }

    fn request(&self, from: Option<&str>) -> RunRequest {
        RunRequest {
            project_uid: self.project.clone(),
            folders: vec![self.folder.clone()],
            requested_by: None,
            from_block: from.map(str::to_owned),
            force: false,
        }
    }

    async fn run(&self, from: Option<&str>) -> RunRecord {
        self.run_to_end(self.request(from)).await
    }

    /// Starts `req` and waits for the run's end.
    async fn run_to_end(&self, req: RunRequest) -> RunRecord {
        let r = self.engine.start_run(req).await.unwrap();
        // Generous: tests share the machine's cores with each other (and with builds).
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while self.engine.is_running(&r.uid) {
            assert!(
                std::time::Instant::now() < deadline,
                "run {} never ended",
                r.uid
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.store.workflow_run(&r.uid).await.unwrap().unwrap()
    }
}

fn status(run: &RunRecord, block: &str) -> String {
    run.blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == block)
        .map(|b| b["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "absent".into())
}

fn pipeline(condition: &str) -> Value {
    json!([
        {"id": "sales", "kind": "csv_source", "config": {"location": "files", "path": "${dir}.csv"}},
        {"id": "big", "kind": "filter", "config": {"condition": condition}, "inputs": {"in": "sales"}},
        {"id": "by_region", "kind": "aggregate", "config": {"group_by": ["region"], "measures": [{"column": "amount", "function": "sum", "name": "total"}]}, "inputs": {"in": "big"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "regions"}, "inputs": {"in": "by_region"}},
        {"id": "raw", "kind": "publish", "config": {"dataset": "sales"}, "inputs": {"in": "sales"}},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_incrementally_and_publishes() {
    let f = fixture().await;
    f.save(pipeline("amount > 3")).await;
    let run = f.run(None).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.blocks);
    for b in ["sales", "big", "by_region", "publish", "raw"] {
        assert_eq!(status(&run, b), "succeeded");
    }
    let regions = f
        .store
        .dataset(&f.project, "regions")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(regions.rows, 3);

    // Nothing changed: everything is up to date.
    let again = f.run(None).await;
    for b in ["sales", "big", "by_region", "publish", "raw"] {
        assert_eq!(status(&again, b), "up_to_date", "{b}");
    }

    // Changing the filter re-runs it and what depends on it, not the source.
    f.save(pipeline("amount > 6")).await;
    let changed = f.run(None).await;
    assert_eq!(status(&changed, "sales"), "up_to_date");
    assert_eq!(status(&changed, "raw"), "up_to_date");
    assert_eq!(status(&changed, "big"), "succeeded");
    assert_eq!(status(&changed, "publish"), "succeeded");
    let after = f
        .store
        .dataset(&f.project, "regions")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.rows, 2);
    assert_ne!(after.content_hash, regions.content_hash);
    // The old result is no longer referenced: the background collector deletes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f
        .engine
        .datasets
        .exists(&regions.content_hash)
        .await
        .unwrap()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "unreferenced artifact still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // What the records point at stays.
    assert!(f.engine.datasets.exists(&after.content_hash).await.unwrap());

    // Editing the source file re-runs the source.
    std::fs::write(
        f.files.path().join("sales.csv"),
        "region,product,amount\nWest,apples,100\n",
    )
    .unwrap();
    let edited = f.run(Some("sales")).await;
    assert_eq!(status(&edited, "sales"), "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_block_stops_only_its_dependants() {
    let f = fixture().await;
    f.save(json!([
        {"id": "sales", "kind": "csv_source", "config": {"location": "files", "path": "sales.csv"}},
        {"id": "bad", "kind": "sql", "config": {"query": "SELECT nope FROM t"}, "inputs": {"t": "sales"}},
        {"id": "after_bad", "kind": "publish", "config": {"dataset": "x"}, "inputs": {"in": "bad"}},
        {"id": "fine", "kind": "publish", "config": {"dataset": "y"}, "inputs": {"in": "sales"}},
        {"id": "escape", "kind": "csv_source", "config": {"location": "files", "path": "../etc/passwd"}},
    ]))
    .await;
    let run = f.run(None).await;
    assert_eq!(run.status.as_str(), "failed");
    assert_eq!(status(&run, "bad"), "failed");
    assert_eq!(status(&run, "after_bad"), "blocked");
    assert_eq!(status(&run, "fine"), "succeeded");
    let blocks = run.blocks.as_array().unwrap();
    let bad = blocks.iter().find(|b| b["block"] == "bad").unwrap();
    assert_eq!(bad["error"]["code"], "INVALID_WORKFLOW");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("nope"),
        "{bad}"
    );
    let escape = blocks.iter().find(|b| b["block"] == "escape").unwrap();
    assert_eq!(escape["error"]["code"], "PATH_REFUSED", "{escape}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tile_queries_respect_scope_and_cache() {
    let f = fixture().await;
    f.save(pipeline("amount > 0")).await;
    assert_eq!(f.run(None).await.status.as_str(), "succeeded");
    let def = ReportDefinition::parse(&json!({
        "tabs": [{"id": "main", "title": "Main", "tiles": [
            {"id": "by_region", "title": "By region", "kind": "bar",
             "query": {"dataset": "sales", "dimensions": ["region"], "measures": [{"column": "amount", "function": "sum", "name": "total"}]}}
        ]}],
        "filters": [{"id": "product", "label": "Product", "column": "product", "default": ["apples"]}]
    }))
    .unwrap();
    let ds = f.store.dataset(&f.project, "sales").await.unwrap().unwrap();
    let tile = def.tile("by_region").unwrap();
    let conditions = tile_conditions(&def, &ds, &FilterState::new());
    let all = Scope::unrestricted();
    let west = Scope {
        rules: Some(vec![("region".into(), vec!["West".into()])]),
    };
    let q = |scope| QuerySpec {
        query: &tile.query,
        report_filters: &conditions,
        drill: None,
        scope,
    };
    let r = f.engine.query(&ds, &q(&all)).await.unwrap();
    assert_eq!(
        r.json_rows().unwrap(),
        vec![
            vec![json!("East"), json!(5.0)],
            vec![json!("West"), json!(10.0)]
        ]
    );
    let r = f.engine.query(&ds, &q(&west)).await.unwrap();
    assert_eq!(
        r.json_rows().unwrap(),
        vec![vec![json!("West"), json!(10.0)]]
    );
    let [before, _] = f.engine.cache_stats();
    f.engine.query(&ds, &q(&west)).await.unwrap();
    let [after, _] = f.engine.cache_stats();
    assert_eq!(after.name, "tile_results");
    assert_eq!((after.hits, after.misses), (before.hits + 1, before.misses));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_can_be_cancelled_and_reports_progress() {
    let f = fixture().await;
    f.save(json!([
        {"id": "one", "kind": "inline_rows", "config": {"columns": [{"name": "x", "type": "int64"}], "rows": [[1]]}},
        // A CPU-bound cross join of a trillion rows (each series within the series bound).
        {"id": "slow", "kind": "sql", "config": {"query": "SELECT sum(a.value * b.value) AS s FROM range(1, 1000000) AS a CROSS JOIN range(1, 1000000) AS b CROSS JOIN one"}, "inputs": {"one": "one"}},
        {"id": "after", "kind": "publish", "config": {"dataset": "s"}, "inputs": {"in": "slow"}},
    ]))
    .await;
    let run = f.engine.start_run(f.request(None)).await.unwrap();
    let mut events = f.engine.subscribe(&run.uid).unwrap();
    // A second run of the same project is refused while this one goes.
    let second = f.engine.start_run(f.request(None)).await;
    assert!(matches!(second, Err(crate::EngineError::Conflict(_))));
    // Wait until the slow block is running, then cancel.
    loop {
        let e = events.recv().await.unwrap();
        if e.block
            .as_ref()
            .is_some_and(|b| b.block == "slow" && b.status == crate::BlockStatus::Running)
        {
            break;
        }
    }
    let t = std::time::Instant::now();
    assert!(f.engine.cancel(&run.uid));
    let mut last = None;
    while let Ok(e) = events.recv().await {
        if e.block.is_none() {
            last = Some(e.run_status);
            break;
        }
    }
    assert_eq!(last, Some(vitrine_core::RunStatus::Cancelled));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "cancel took {:?}",
        t.elapsed()
    );
    while f.engine.is_running(&run.uid) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = f.store.workflow_run(&run.uid).await.unwrap().unwrap();
    assert_eq!(done.status.as_str(), "cancelled");
    assert_eq!(status(&done, "one"), "succeeded");
    assert_eq!(status(&done, "slow"), "cancelled");
    assert_eq!(status(&done, "after"), "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_blocks_cannot_reach_files_or_change_state() {
    let f = fixture().await;
    let escapes = [
        "SELECT * FROM '/etc/passwd'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1) TO '/tmp/vitrine-copy.csv'",
        "SET datafusion.execution.batch_size = 1",
    ];
    let blocks: Vec<Value> = std::iter::once(json!({"id": "one", "kind": "inline_rows", "config": {"columns": [{"name": "x", "type": "int64"}], "rows": [[1]]}}))
        .chain(escapes.iter().enumerate().map(|(i, q)| {
            json!({"id": format!("q{i}"), "kind": "sql", "config": {"query": q}, "inputs": {"one": "one"}})
        }))
        .collect();
    f.save(Value::Array(blocks)).await;
    let run = f.run(None).await;
    for (i, query) in escapes.iter().enumerate() {
        assert_eq!(
            status(&run, &format!("q{i}")),
            "failed",
            "{query}: {:?}",
            run.blocks
        );
    }
    assert!(!std::path::Path::new("/tmp/vitrine-copy.csv").exists());
}

/// Results above a few thousand rows are stored with dictionary-encoded text; every block
/// and query downstream must read them as if they were plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionary_encoded_results_flow_through_every_block() {
    let f = fixture().await;
    f.save(json!([
        {"id": "one", "kind": "inline_rows", "config": {"columns": [{"name": "x", "type": "int64"}], "rows": [[1]]}},
        {"id": "big", "kind": "sql", "config": {"query": "SELECT CASE WHEN value % 2 = 0 THEN 'West' ELSE 'East' END AS region, value AS n FROM range(0, 10000) CROSS JOIN one"}, "inputs": {"one": "one"}},
        {"id": "names", "kind": "inline_rows", "config": {"columns": [{"name": "region", "type": "text"}, {"name": "manager", "type": "text"}], "rows": [["West", "Wendy"], ["East", "Earl"]]}},
        {"id": "joined", "kind": "join", "config": {"on": [{"left": "region", "right": "region"}]}, "inputs": {"left": "big", "right": "names"}},
        {"id": "extra", "kind": "inline_rows", "config": {"columns": [{"name": "region", "type": "text"}, {"name": "n", "type": "int64"}], "rows": [["North", 1]]}},
        {"id": "all", "kind": "union", "inputs": {"a": "big", "b": "extra"}},
        {"id": "west", "kind": "filter", "config": {"condition": "region = 'West'"}, "inputs": {"in": "all"}},
        {"id": "by_manager", "kind": "aggregate", "config": {"group_by": ["manager"], "measures": [{"function": "count", "name": "rows"}]}, "inputs": {"in": "joined"}},
        {"id": "csv", "kind": "write_file", "config": {"location": "files", "path": "out/joined.csv", "format": "csv"}, "inputs": {"in": "joined"}},
        {"id": "pub_all", "kind": "publish", "config": {"dataset": "all"}, "inputs": {"in": "all"}},
        {"id": "pub_west", "kind": "publish", "config": {"dataset": "west"}, "inputs": {"in": "west"}},
        {"id": "pub_mgr", "kind": "publish", "config": {"dataset": "managers"}, "inputs": {"in": "by_manager"}},
    ]))
    .await;
    let run = f.run(None).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.blocks);
    let west = f.store.dataset(&f.project, "west").await.unwrap().unwrap();
    assert_eq!(west.rows, 5000);
    assert_eq!(west.schema[0]["type"], "text");
    let csv = std::fs::read_to_string(f.files.path().join("out/joined.csv")).unwrap();
    assert!(csv.starts_with("region,n,manager\n"), "{}", &csv[..40]);
    assert!(csv.contains("West,0,Wendy\n"));
    assert_eq!(csv.lines().count(), 10_001);
    let all = f.store.dataset(&f.project, "all").await.unwrap().unwrap();
    let q: crate::report::TileQuery = serde_json::from_value(json!({
        "dataset": "all", "dimensions": ["region"], "measures": [{"function": "count", "name": "rows"}]
    }))
    .unwrap();
    let scope = Scope {
        rules: Some(vec![("region".into(), vec!["West".into(), "North".into()])]),
    };
    let r = f
        .engine
        .query(
            &all,
            &QuerySpec {
                query: &q,
                report_filters: &[],
                drill: None,
                scope: &scope,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        r.json_rows().unwrap(),
        vec![
            vec![json!("North"), json!(1)],
            vec![json!("West"), json!(5000)]
        ]
    );
    assert!(
        String::from_utf8(r.csv().unwrap())
            .unwrap()
            .starts_with("region,rows\nNorth,1\nWest,5000")
    );
}

mod determinism;
mod plugins;
