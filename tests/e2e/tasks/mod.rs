//! Scheduled tasks (issue 7) through the real binary: a folder task over 20 projects,
//! cron firings, pause and resume, cancel, event tasks, app parameters, identities,
//! deliveries to a real SMTP server, the Redis backend, and a worker killed mid-run.
//! This module holds the shared world: a folder of projects that read one CSV.

mod alerts;
pub(crate) mod delivery;
mod events;
mod inputs;
mod runs;

use std::time::Duration;

use serde_json::{Value, json};

use crate::data::SUPERSTORE;
use crate::support::*;

pub struct Fleet {
    pub s: TestServer,
    pub admin: Actor,
    /// Editor of the folder: owns the tasks.
    pub eddy: Actor,
    pub folder: String,
    /// (id, slug), by name order.
    pub projects: Vec<(String, String)>,
    pub files: tempfile::TempDir,
}

pub const SAVE: &str = "mutation($p:ID!,$w:JSON!,$i:String!){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"input\",value:$i}]){version}}";

pub fn small_pipeline() -> Value {
    json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "${input}"}},
        {"id": "publish_orders", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
    ]})
}

pub fn kpi_report() -> Value {
    json!({"tabs": [{"id": "overview", "title": "Overview", "tiles": [
        {"id": "total", "title": "Orders", "kind": "kpi",
         "query": {"dataset": "orders", "measures": [{"function": "count", "name": "orders"}]}},
        {"id": "by_region", "title": "Sales by region", "kind": "bar",
         "query": {"dataset": "orders", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}}
    ]}]})
}

pub const CREATE: &str = "mutation($i:TaskInput!){createTask(input:$i){id name paused nextRunAt trigger{kind cron timeZone event taskId} target{projectId folderId recursive} actions{kind} runsAsServiceAccount}}";
pub const RUN_NOW: &str = "mutation($t:ID!){runTaskNow(id:$t){id status}}";
pub const RUN: &str = "query($r:ID!){taskRun(id:$r){id status cause message total queued running succeeded failed skipped cancelled durationMs finishedAt projects{projectId projectName status attempts actionsDone durationMs error log{message}}}}";
pub const RUNS: &str = "query($t:ID!){task(id:$t){runs(first:50){edges{node{id status cause message total succeeded failed skipped}}}}}";

/// `n` projects (names `P01`…), the last `in_sub` of them in a sub-folder, each with
/// the small pipeline and a report. `broken`: names whose input file does not exist.
pub async fn fleet(n: usize, in_sub: usize, broken: &[&str]) -> Fleet {
    // Failure webhooks go to a sink on this machine, which outbound requests may reach
    // only when allowed.
    let s = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    fleet_with(s, n, in_sub, broken).await
}

pub async fn fleet_with(s: TestServer, n: usize, in_sub: usize, broken: &[&str]) -> Fleet {
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Fleet").await;
    let sub = s.folder(&admin, Some(&folder), "East").await;
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir(files.path().join("in")).unwrap();
    std::fs::write(files.path().join("in/superstore.csv"), SUPERSTORE).unwrap();
    location(&s, &admin, "files", files.path(), &folder).await;
    let eddy = s.user(&admin, "eddy").await;
    data(
        &s.grant(
            &admin,
            &format!("user:{}", eddy.id),
            &format!("folder:{folder}"),
            "EDITOR",
        )
        .await,
    );
    let mut projects = Vec::new();
    for i in 1..=n {
        let name = format!("P{i:02}");
        let home = if i > n - in_sub { &sub } else { &folder };
        let (id, slug) = s.project(&admin, home, &name).await;
        let input = if broken.contains(&name.as_str()) {
            "in/missing.csv"
        } else {
            "in/superstore.csv"
        };
        data(
            &s.gql(
                &admin.auth,
                SAVE,
                json!({"p": id, "w": small_pipeline(), "i": input}),
            )
            .await,
        );
        data(
            &s.gql(
                &admin.auth,
                "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"Sales\",definition:$d){id}}",
                json!({"p": id, "d": kpi_report()}),
            )
            .await,
        );
        projects.push((id, slug));
    }
    Fleet {
        s,
        admin,
        eddy,
        folder,
        projects,
        files,
    }
}

/// A file-system resource location granted for writing to `folder`.
pub async fn location(
    s: &TestServer,
    admin: &Actor,
    name: &str,
    root: &std::path::Path,
    folder: &str,
) {
    let r = s
        .gql(
            &admin.auth,
            "mutation($n:String!,$d:JSON!){createResourceLocation(name:$n,definition:$d){id}}",
            json!({"n": name, "d": {"kind": "fs", "root": root}}),
        )
        .await;
    let id = data(&r)["createResourceLocation"]["id"].clone();
    data(
        &s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": id, "f": folder}),
        )
        .await,
    );
}

/// Creates a task, which must succeed; answers its id.
pub async fn create_task(s: &TestServer, who: &Actor, input: Value) -> String {
    let r = s.gql(&who.auth, CREATE, json!({"i": input})).await;
    data(&r)["createTask"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createTask: {r}"))
        .to_owned()
}

/// Starts a run now; answers its id.
pub async fn run_now(s: &TestServer, who: &Actor, task: &str) -> String {
    let r = s.gql(&who.auth, RUN_NOW, json!({"t": task})).await;
    data(&r)["runTaskNow"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("runTaskNow: {r}"))
        .to_owned()
}

/// Polls a run until it has finished; answers it.
pub async fn wait_run(s: &TestServer, who: &Actor, run: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let r = s.gql(&who.auth, RUN, json!({"r": run})).await;
        let v = data(&r)["taskRun"].clone();
        if v["finishedAt"].is_string() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run} not finished in {limit:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A task's runs, newest first.
pub async fn runs_of(s: &TestServer, who: &Actor, task: &str) -> Vec<Value> {
    let r = s.gql(&who.auth, RUNS, json!({"t": task})).await;
    data(&r)["task"]["runs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits until `cond` holds for the task's runs; answers them.
pub async fn wait_runs(
    s: &TestServer,
    who: &Actor,
    task: &str,
    limit: Duration,
    cond: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let runs = runs_of(s, who, task).await;
        if cond(&runs) {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition on runs of {task} not met in {limit:?}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a project's data was computed across all its workflow runs, whatever became of
/// them: for each block, the number of runs that recorded it computed (`succeeded`,
/// rather than `up_to_date`); the number of runs that succeeded; and whether some run
/// never finished (its process was killed).
pub async fn computations(
    s: &TestServer,
    who: &Actor,
    project: &str,
) -> (std::collections::BTreeMap<String, usize>, usize, bool) {
    let r = s
        .gql(
            &who.auth,
            "query($p:ID!){workflowRuns(projectId:$p,last:200){status blocks{block status}}}",
            json!({"p": project}),
        )
        .await;
    let runs = data(&r)["workflowRuns"].as_array().unwrap().clone();
    let mut blocks = std::collections::BTreeMap::new();
    for block in runs.iter().flat_map(|r| r["blocks"].as_array().unwrap()) {
        let n = blocks
            .entry(block["block"].as_str().unwrap().to_owned())
            .or_insert(0);
        if block["status"] == "succeeded" {
            *n += 1;
        }
    }
    let succeeded = runs.iter().filter(|r| r["status"] == "succeeded").count();
    let cut_off = runs.iter().any(|r| r["status"] != "succeeded");
    (blocks, succeeded, cut_off)
}

/// Asserts that a project's data was computed once in effect: no block computed twice,
/// one successful run (two when a job was cut off after its run succeeded and ran again,
/// finding everything up to date). A block may show no computation at all only when a
/// run was cut off: the killed process stored its output before recording the block,
/// and the next run found that output up to date.
pub async fn assert_computed_once(s: &TestServer, who: &Actor, project: &str, slug: &str) {
    let (blocks, succeeded, cut_off) = computations(s, who, project).await;
    assert!(!blocks.is_empty(), "{slug}: no block ran");
    for (block, n) in &blocks {
        assert!(
            *n == 1 || (*n == 0 && cut_off),
            "{slug}: block {block} computed {n} times: {blocks:?}"
        );
    }
    assert!(
        (1..=2).contains(&succeeded),
        "{slug}: {succeeded} successful runs"
    );
}

/// Succeeded workflow runs of a project.
pub async fn refreshes(s: &TestServer, who: &Actor, project: &str) -> usize {
    let r = s
        .gql(
            &who.auth,
            "query($p:ID!){workflowRuns(projectId:$p,last:200){status}}",
            json!({"p": project}),
        )
        .await;
    data(&r)["workflowRuns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .count()
}
