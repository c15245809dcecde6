//! The data engine through the real API: a workflow over a CSV of the Superstore shape,
//! incremental runs, tiles, access filters, connection roles, access boost, downloads,
//! uploads, run progress over WebSocket, warm-up, and the bad inputs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

const SUPERSTORE: &str = include_str!("../../examples/data/superstore.csv");

/// Sum of sales by region, computed here from the file itself.
fn sales_by_region() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in SUPERSTORE.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        *out.entry(f[4].to_owned()).or_insert(0.0) += f[8].parse::<f64>().unwrap();
    }
    out
}

pub struct DataWorld {
    pub s: TestServer,
    pub admin: Actor,
    pub folder: String,
    pub project: String,
    pub editor: Actor,
    pub west: Actor,
    pub east: Actor,
    pub files: tempfile::TempDir,
}

pub async fn data_world() -> DataWorld {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Sales").await;
    let (project, _) = s.project(&admin, &folder, "Superstore").await;
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir(files.path().join("in")).unwrap();
    std::fs::write(files.path().join("in/superstore.csv"), SUPERSTORE).unwrap();
    let r = s
        .gql(
            &admin.auth,
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files.path()}}),
        )
        .await;
    let loc = data(&r)["createResourceLocation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": loc, "f": folder}),
        )
        .await,
    );
    let editor = s.user(&admin, "eddy").await;
    let west = s.user(&admin, "wendy").await;
    let east = s.user(&admin, "earl").await;
    for (who, role) in [(&editor, "EDITOR"), (&west, "VIEWER"), (&east, "VIEWER")] {
        data(
            &s.grant(
                &admin,
                &format!("user:{}", who.id),
                &format!("project:{project}"),
                role,
            )
            .await,
        );
    }
    for (who, region) in [(&west, "West"), (&east, "East")] {
        data(
            &s.gql(
                &admin.auth,
                "mutation($u:ID!,$v:[String!]!){setUserAttributes(id:$u,attributes:[{key:\"region\",values:$v}]){id}}",
                json!({"u": who.id, "v": [region]}),
            )
            .await,
        );
    }
    DataWorld {
        s,
        admin,
        folder,
        project,
        editor,
        west,
        east,
        files,
    }
}

pub fn pipeline(min_sales: f64) -> Value {
    json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "${input}"}},
        {"id": "big", "kind": "filter", "config": {"condition": format!("sales > {min_sales}")}, "inputs": {"in": "orders"}},
        {"id": "by_region", "kind": "aggregate", "config": {"group_by": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}, {"function": "count", "name": "orders"}]}, "inputs": {"in": "big"}},
        {"id": "publish_regions", "kind": "publish", "config": {"dataset": "regions"}, "inputs": {"in": "by_region"}},
        {"id": "publish_orders", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
        {"id": "export", "kind": "write_file", "config": {"location": "files", "path": "out/regions.parquet", "format": "parquet"}, "inputs": {"in": "by_region"}},
    ]})
}

pub const SAVE: &str = "mutation($p:ID!,$w:JSON!,$v:Int){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"input\",value:\"in/superstore.csv\"}],expectedVersion:$v){version blocks{id}}}";
pub const RUN: &str = "mutation($p:ID!,$b:String){runWorkflow(projectId:$p,fromBlock:$b,wait:true){id status blocks{block status rows error{code message} notes}}}";

pub fn statuses(run: &Value) -> BTreeMap<String, String> {
    run["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["block"].as_str().unwrap().to_owned(),
                b["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub const REPORT: &str =
    "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"Sales\",definition:$d){id}}";

pub fn report_definition() -> Value {
    json!({
        "tabs": [{"id": "overview", "title": "Overview", "tiles": [
            {"id": "by_region", "title": "Sales by region", "kind": "bar",
             "query": {"dataset": "orders", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}},
            {"id": "total", "title": "Orders", "kind": "kpi",
             "query": {"dataset": "orders", "measures": [{"function": "count", "name": "orders"}, {"column": "state", "function": "count_distinct", "name": "states"}]}},
            {"id": "rows", "title": "Orders", "kind": "table",
             "query": {"dataset": "orders", "dimensions": ["order_id", "region", "sales"], "sort": [{"column": "sales", "descending": true}], "limit": 5}}
        ]}],
        "filters": [{"id": "segment", "label": "Segment", "column": "segment", "default": []}]
    })
}

pub const TILE: &str = "query($r:ID!,$t:String!,$f:[FilterValueInput!]){tileResult(reportId:$r,tileId:$t,filters:$f){columns{name type} rows rowCount truncated}}";

fn regions_of(tile: &Value) -> Vec<String> {
    tile["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

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
            .any(|c| c["name"] == "sales" && c["type"] == "float")
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

#[tokio::test]
async fn access_filters_connection_roles_and_boost() {
    let w = data_world().await;
    let s = &w.s;
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(0.0), "v": 0}),
        )
        .await,
    );
    assert_eq!(
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"]["status"],
        "succeeded"
    );
    let report = data(
        &s.gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": report_definition()}),
        )
        .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set_filter = "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}";
    // Only managers set access filters.
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, set_filter, json!({"p": w.project}))
                .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(&w.admin.auth, set_filter, json!({"p": w.project}))
            .await,
    );

    let tile = |who: &Actor, t: &str| {
        let who = who.auth.clone();
        let t = t.to_owned();
        let report = report.clone();
        async move { s.gql(&who, TILE, json!({"r": report, "t": t})).await }
    };
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    assert_eq!(
        regions_of(&data(&tile(&w.east, "by_region").await)["tileResult"]),
        ["East"]
    );
    assert_eq!(
        regions_of(&data(&tile(&w.editor, "by_region").await)["tileResult"]).len(),
        4
    );
    let west_rows = data(&tile(&w.west, "rows").await)["tileResult"]["rows"].clone();
    assert!(
        west_rows.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{west_rows}"
    );

    // A viewer with no attribute sees no rows at all.
    let nobody = s.user(&w.admin, "nora").await;
    data(
        &s.grant(
            &w.admin,
            &format!("user:{}", nobody.id),
            &format!("project:{}", w.project),
            "VIEWER",
        )
        .await,
    );
    assert_eq!(
        data(&tile(&nobody, "by_region").await)["tileResult"]["rowCount"],
        0
    );

    // Connection roles: viewer sees aggregates only; no access sees nothing.
    let set_role = "mutation($u:ID!,$r:ConnectionRole){setConnectionRole(userId:$u,role:$r)}";
    data(
        &s.gql(
            &w.admin.auth,
            set_role,
            json!({"u": w.west.id, "r": "VIEWER"}),
        )
        .await,
    );
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    assert_eq!(code(&tile(&w.west, "rows").await), "FORBIDDEN");
    data(
        &s.gql(
            &w.admin.auth,
            set_role,
            json!({"u": w.west.id, "r": "NO_ACCESS"}),
        )
        .await,
    );
    assert_eq!(code(&tile(&w.west, "by_region").await), "FORBIDDEN");
    // Only admins set connection roles.
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                set_role,
                json!({"u": w.east.id, "r": "QUERIER"})
            )
            .await
        ),
        "FORBIDDEN"
    );

    // Boost opens the report's tiles without widening the rows.
    let boost = "mutation($p:ID,$on:Boolean!){setAccessBoost(scope:PROJECT,id:$p,enabled:$on){boostedProjects}}";
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, boost, json!({"p": w.project, "on": true}))
                .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(&w.admin.auth, boost, json!({"p": w.project, "on": true}))
            .await,
    );
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    let rows = data(&tile(&w.west, "rows").await)["tileResult"]["rows"].clone();
    assert!(
        rows.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{rows}"
    );
    // Boost does not cover drill-down, which needs a row-level connection role.
    let drill = "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount rows}}";
    assert_eq!(
        code(&s.gql(&w.west.auth, drill, json!({"r": report})).await),
        "FORBIDDEN"
    );
    // East (default role: querier) drills, still only into East's rows.
    let east_drill = s
        .gql(&w.east.auth, "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount}}", json!({"r": report}))
        .await;
    assert_eq!(data(&east_drill)["drillDown"]["rowCount"], 0);
    let east_own = s
        .gql(&w.east.auth, "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"East\"}]){rowCount}}", json!({"r": report}))
        .await;
    let east_count = SUPERSTORE
        .lines()
        .filter(|l| l.split(',').nth(4) == Some("East"))
        .count();
    assert_eq!(
        data(&east_own)["drillDown"]["rowCount"],
        east_count.min(1000)
    );
    // With the drill ability off, nobody drills.
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:DRILL,enabled:false){id}}",
            json!({"p": w.project}),
        )
        .await,
    );
    assert_eq!(
        code(&s.gql(&w.east.auth, drill, json!({"r": report})).await),
        "FORBIDDEN"
    );

    // Downloads follow the download ability and the access filter.
    let url = |fmt: &str| {
        format!(
            "{}/download/tile?report={report}&tile=by_region&format={fmt}",
            s.url
        )
    };
    let Auth::Bearer(east_token) = &w.east.auth else {
        panic!()
    };
    let resp = reqwest::Client::new()
        .get(url("csv"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("region,sales\nEast,"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
    let arrow = reqwest::Client::new()
        .get(url("arrow"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert!(arrow.bytes().await.unwrap().starts_with(b"ARROW1"));
    let anonymous = reqwest::Client::new().get(url("csv")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:DOWNLOAD,enabled:false){id}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let refused = reqwest::Client::new()
        .get(url("csv"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Who saw what: every tile view is an audit event naming the viewer and the tile.
    let mut seen = Vec::new();
    for _ in 0..50 {
        let r = s
            .gql(&w.admin.auth, "query($a:ID){auditEvents(filter:{actionPrefix:\"tile.view\",actorId:$a},first:50){edges{node{actorName object}}}}", json!({"a": w.east.id}))
            .await;
        seen = data(&r)["auditEvents"]["edges"].as_array().unwrap().clone();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|e| e["node"]["actorName"] == "earl"
            && e["node"]["object"] == format!("report:{report}"))
    );

    // Outsiders learn nothing.
    let outsider = s.user(&w.admin, "otto").await;
    assert_eq!(code(&tile(&outsider, "by_region").await), "NOT_FOUND");

    // Warm-up computes every tile per viewer scope; the views then come from the cache.
    let warm = s
        .gql(
            &w.editor.auth,
            "mutation($p:ID!){warmUpReports(projectId:$p){tiles entries scopes failures}}",
            json!({"p": w.project}),
        )
        .await;
    let warm = &data(&warm)["warmUpReports"];
    assert_eq!(warm["tiles"], 3);
    assert_eq!(warm["failures"], json!([]));
    // Unrestricted, West, East, and the attribute-less viewer.
    assert_eq!(warm["scopes"], 4, "{warm}");
    assert_eq!(
        code(
            &s.gql(
                &w.west.auth,
                "mutation($p:ID!){warmUpReports(projectId:$p){tiles}}",
                json!({"p": w.project})
            )
            .await
        ),
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn bad_workflows_and_data_get_clear_errors() {
    let w = data_world().await;
    let s = &w.s;
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";
    let refused = |w: Value, code_: &str, needle: &str, r: Value| {
        assert_eq!(code(&r), code_, "{w}: {r}");
        let msg = r["errors"][0]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "expected `{needle}` in `{msg}`");
    };
    let cases = [
        (
            json!({"blocks": [
            {"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "b"}},
            {"id": "b", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "a"}}]}),
            "cycle through blocks a, b",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "filter", "config": {"condition": "true"}, "inputs": {"in": "ghost"}}]}),
            "block `a`, inputs.in: no block `ghost`",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "teleport"}]}),
            "block `a`, kind: unknown block kind `teleport`",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "x.csv", "delimiter": ";;"}}]}),
            "block `a`, config.delimiter",
        ),
        (
            json!({"blocks": [{"id": "a", "kind": "csv_source", "config": {"location": "files", "path": "${nope}"}}]}),
            "unknown parameter `nope`",
        ),
        (
            json!({"blocks": [{"id": "A b", "kind": "sql", "config": {"query": "select 1"}}]}),
            "block `A b`, id",
        ),
        (json!({"blocks": "nope"}), "workflow:"),
    ];
    for (wf, needle) in cases {
        let r = s
            .gql(&w.editor.auth, save, json!({"p": w.project, "w": wf}))
            .await;
        refused(wf, "INVALID_WORKFLOW", needle, r);
    }
    // Nothing was stored by any refused save.
    let wf = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){workflow(projectId:$p){version blocks{id}}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&wf)["workflow"]["version"], 0);

    // Viewers cannot save or run; a stale version is refused.
    assert_eq!(
        code(
            &s.gql(
                &w.west.auth,
                SAVE,
                json!({"p": w.project, "w": pipeline(1.0)})
            )
            .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(1.0), "v": 0}),
        )
        .await,
    );
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                SAVE,
                json!({"p": w.project, "w": pipeline(2.0), "v": 0})
            )
            .await
        ),
        "CONFLICT"
    );
    assert_eq!(
        code(&s.gql(&w.west.auth, RUN, json!({"p": w.project})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, RUN, json!({"p": w.project, "b": "ghost"}))
                .await
        ),
        "INVALID_INPUT"
    );

    // Run-time failures stay on their block; independent blocks still run.
    std::fs::write(
        w.files.path().join("in/broken.csv"),
        "id,amount\n1,2.5\n2,3\n3,4,5\n4,oops\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", w.files.path().join("in/etc")).unwrap();
    let wf = json!({"blocks": [
        {"id": "broken", "kind": "csv_source", "config": {"location": "files", "path": "in/broken.csv", "columns": [{"name": "id", "type": "int64"}, {"name": "amount", "type": "float64"}]}},
        {"id": "skipping", "kind": "csv_source", "config": {"location": "files", "path": "in/broken.csv", "on_error": "skip", "columns": [{"name": "id", "type": "int64"}, {"name": "amount", "type": "float64"}]}},
        {"id": "bad_sql", "kind": "sql", "config": {"query": "SELECT amount FROM t WHERE nonexistent > 1"}, "inputs": {"t": "skipping"}},
        {"id": "after_sql", "kind": "publish", "config": {"dataset": "after"}, "inputs": {"in": "bad_sql"}},
        {"id": "words", "kind": "inline_rows", "config": {"columns": [{"name": "id", "type": "string"}, {"name": "amount", "type": "string"}], "rows": [["a", "b"]]}},
        {"id": "mixed", "kind": "union", "inputs": {"a": "skipping", "b": "words"}},
        {"id": "escape", "kind": "csv_source", "config": {"location": "files", "path": "../secret.csv"}},
        {"id": "via_link", "kind": "csv_source", "config": {"location": "files", "path": "in/etc/passwd"}},
        {"id": "ungranted", "kind": "csv_source", "config": {"location": "elsewhere", "path": "x.csv"}},
        {"id": "good", "kind": "publish", "config": {"dataset": "good"}, "inputs": {"in": "skipping"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": wf}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "failed");
    let block = |id: &str| {
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == id)
            .unwrap()
            .clone()
    };
    let broken = block("broken");
    assert_eq!(broken["error"]["code"], "INVALID_DATA");
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 4: expected 2 fields, found 3"),
        "{broken}"
    );
    let skipping = block("skipping");
    assert_eq!(skipping["status"], "succeeded");
    assert_eq!(skipping["rows"], 2);
    assert_eq!(skipping["notes"][0], "skipped 2 malformed lines");
    assert!(
        skipping["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("line 5, column `amount`: `oops`")),
        "{skipping}"
    );
    let sql = block("bad_sql");
    assert_eq!(sql["status"], "failed");
    assert!(
        sql["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonexistent"),
        "{sql}"
    );
    assert_eq!(block("after_sql")["status"], "blocked");
    let mixed = block("mixed");
    assert_eq!(mixed["status"], "failed");
    assert!(
        mixed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column `id` is string here but integer"),
        "{mixed}"
    );
    for id in ["escape", "via_link", "ungranted"] {
        let b = block(id);
        assert_eq!(b["error"]["code"], "PATH_REFUSED", "{b}");
    }
    assert!(
        block("via_link")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("link")
    );
    assert_eq!(block("good")["status"], "succeeded");

    // Bad reports are refused with the field named; nothing is created.
    let bad_report = json!({"tabs": [{"id": "t", "title": "T", "tiles": [{"id": "k", "title": "K", "kind": "pie", "query": {"dataset": "good", "dimensions": [], "measures": []}}]}]});
    let r = s
        .gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": bad_report}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("tabs[0].tiles[0].query: a pie tile needs"),
        "{r}"
    );
    let reports = s
        .gql(
            &w.editor.auth,
            "query($p:ID!){reports(projectId:$p){id}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(data(&reports)["reports"], json!([]));

    // Locations: admins only; a relative root is refused.
    let mk = "mutation($d:JSON!){createResourceLocation(name:\"x\",definition:$d){id}}";
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                mk,
                json!({"d": {"kind": "fs", "root": "/tmp"}})
            )
            .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &s.gql(
                &w.admin.auth,
                mk,
                json!({"d": {"kind": "fs", "root": "relative"}})
            )
            .await
        ),
        "INVALID_INPUT"
    );
    let _ = &w.folder;
}

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
    data(
        &s.gql(
            &w.editor.auth,
            "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
            json!({"p": w.project, "w": wf}),
        )
        .await,
    );

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
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/graphql/ws", s.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription($r:ID!){workflowRunProgress(id:$r){runStatus block{block status}}}", "variables": {"r": run_id}}}).to_string().into())).await.unwrap();
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

#[tokio::test]
async fn instance_parameters_point_a_project_at_this_instance_data() {
    let w = data_world().await;
    let s = &w.s;
    // The project's own value names staging data that this instance does not have.
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"input\",value:\"staging/superstore.csv\"}]){version parameters{name value}}}";
    data(
        &s.gql(
            &w.editor.auth,
            save,
            json!({"p": w.project, "w": pipeline(0.0)}),
        )
        .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(statuses(&run)["orders"], "failed");
    assert_eq!(run["blocks"][0]["error"]["code"], "NOT_FOUND", "{run}");
    // Only admins set instance values; then the same, unedited project reads this
    // instance's file.
    let set = "mutation{setInstanceParameters(parameters:[{name:\"input\",value:\"in/superstore.csv\"}]){name value}}";
    assert_eq!(
        code(&s.gql(&w.editor.auth, set, json!({})).await),
        "FORBIDDEN"
    );
    data(&s.gql(&w.admin.auth, set, json!({})).await);
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "succeeded", "{run}");
    let bad = s
        .gql(
            &w.admin.auth,
            "mutation{setInstanceParameters(parameters:[{name:\"Bad Name\",value:\"x\"}]){name}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&bad), "INVALID_INPUT");
}

/// A real S3-compatible server (moto, from PyPI) on 127.0.0.1; installed when missing.
struct Moto {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_moto() -> Moto {
    let has = std::process::Command::new("python3")
        .args(["-c", "import moto.server"])
        .status();
    if !has.is_ok_and(|s| s.success()) {
        let ok = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install moto[server] failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(&url).await.is_ok() {
            return Moto { child, url };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("moto did not start on {url}");
}

#[tokio::test]
async fn s3_locations_are_written_and_read_through_opendal() {
    let moto = start_moto().await;
    let resp = reqwest::Client::new()
        .put(format!("{}/vitrine-data", moto.url))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "create bucket: {}",
        resp.status()
    );
    let w = data_world().await;
    let s = &w.s;
    let def = json!({"kind": "s3", "bucket": "vitrine-data", "endpoint": moto.url, "region": "us-east-1",
                     "access_key_id": "test", "secret_access_key": "not-a-real-secret"});
    let r = s.gql(&w.admin.auth, "mutation($d:JSON!){createResourceLocation(name:\"lake\",definition:$d){id definition}}", json!({"d": def})).await;
    let created = &data(&r)["createResourceLocation"];
    // The secret never comes back.
    assert_eq!(created["definition"]["secret_access_key"], "********");
    assert!(!r.to_string().contains("not-a-real-secret"));
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": created["id"], "f": w.folder}),
        )
        .await,
    );
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";
    let write = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv"}},
        {"id": "to_lake", "kind": "write_file", "config": {"location": "lake", "path": "exports/orders.parquet", "format": "parquet"}, "inputs": {"in": "orders"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": write}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "succeeded", "{run}");
    let read = json!({"blocks": [
        {"id": "lake", "kind": "parquet_source", "config": {"location": "lake", "path": "exports/orders.parquet"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "from_lake"}, "inputs": {"in": "lake"}},
        {"id": "escape", "kind": "parquet_source", "config": {"location": "lake", "path": "../other-bucket/x.parquet"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": read}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(statuses(&run)["publish"], "succeeded", "{run}");
    assert_eq!(
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == "lake")
            .unwrap()["rows"],
        400
    );
    assert_eq!(
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == "escape")
            .unwrap()["error"]["code"],
        "PATH_REFUSED"
    );
}
