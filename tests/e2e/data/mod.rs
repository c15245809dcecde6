//! The data engine through the real API: a workflow over a CSV of the Superstore shape,
//! incremental runs, tiles, access filters, connection roles, access boost, downloads,
//! uploads, run progress over WebSocket, warm-up, and the bad inputs. This module holds
//! the shared world (a server, a location with the file, users with region attributes).

mod bad_input;
mod boost;
mod forged_ipc;
mod locations;
mod runs;
mod security;
mod typed;
mod uploads;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

pub const SUPERSTORE: &str = include_str!("../../../examples/data/superstore.csv");

/// Sum of sales by region, computed here from the file itself.
pub fn sales_by_region() -> BTreeMap<String, f64> {
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

impl DataWorld {
    /// Saves `workflow` to the world's project as its editor.
    pub async fn save_workflow(&self, workflow: Value) {
        let vars = json!({"p": self.project, "w": workflow});
        data(&self.s.gql(&self.editor.auth, SAVE_WORKFLOW, vars).await);
    }
}

pub async fn data_world() -> DataWorld {
    data_world_env(&[]).await
}

/// [`data_world`] on a server started with extra environment variables.
pub async fn data_world_env(envs: &[(&str, &str)]) -> DataWorld {
    data_world_full(&[], envs).await
}

/// [`data_world`] on a server started with extra arguments and environment variables.
pub async fn data_world_full(args: &[&str], envs: &[(&str, &str)]) -> DataWorld {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut s = TestServer::start_full(&tmp.path().join("data"), args, envs).await;
    s._tmp = Some(tmp);
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

/// Saves [`pipeline`] in `project`, runs it (which must succeed) and creates the report
/// of [`report_definition`]; answers the report's id.
pub async fn publish(s: &TestServer, who: &Actor, project: &str) -> String {
    data(
        &s.gql(&who.auth, SAVE, json!({"p": project, "w": pipeline(0.0)}))
            .await,
    );
    let run = s.gql(&who.auth, RUN, json!({"p": project})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    let r = s
        .gql(
            &who.auth,
            REPORT,
            json!({"p": project, "d": report_definition()}),
        )
        .await;
    data(&r)["createReport"]["id"].as_str().unwrap().to_owned()
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
/// Saves a workflow (`$p`, `$w`) without parameters or an expected version.
pub const SAVE_WORKFLOW: &str =
    "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";

/// One block's result in a run answered by [`RUN`].
pub fn run_block(run: &Value, id: &str) -> Value {
    run["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == id)
        .unwrap_or_else(|| panic!("no block {id} in {run}"))
        .clone()
}

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

pub fn regions_of(tile: &Value) -> Vec<String> {
    tile["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}
