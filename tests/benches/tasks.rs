//! Scheduled work at size: one task refreshes (forced) and warms up 100 projects of a
//! folder, through the real binary. Compares the default concurrency (one job per core,
//! plus one) with one project at a time, and derives the queue's own cost per project:
//! the run's wall time minus the time spent inside the projects' actions, over 100, when
//! one project runs at a time, and where it goes: the fan-out before the first project,
//! the time between projects, the close after the last.
//!
//! `cargo bench -p vitrine --bench tasks`; `VITRINE_BENCH_PROJECTS` changes the count,
//! `VITRINE_BENCH_ROWS` the rows each project reads (the example file's 400 rows,
//! repeated; default 400).

mod common;

use std::time::Duration;

use serde_json::{Value, json};

const CSV: &str = include_str!("../../examples/data/superstore.csv");

/// The example orders, repeated until `rows` lines (header apart).
fn orders_csv(rows: usize) -> String {
    let mut lines = CSV.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let mut out = String::with_capacity(rows * 100);
    out.push_str(header);
    out.push('\n');
    for i in 0..rows {
        out.push_str(body[i % body.len()]);
        out.push('\n');
    }
    out
}

async fn wait(admin: &common::Admin, run: &str) -> Value {
    // Polls only for the end: reading every project's log each time would load the
    // server being measured.
    loop {
        let d = admin
            .gql(
                "query($r:ID!){taskRun(id:$r){finishedAt}}",
                json!({"r": run}),
            )
            .await;
        if d["taskRun"]["finishedAt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin
        .gql(
            "query($r:ID!){taskRun(id:$r){status total succeeded durationMs createdAt finishedAt projects{durationMs startedAt finishedAt log{message}}}}",
            json!({"r": run}),
        )
        .await["taskRun"]
        .clone()
}

/// One run's figures: wall time, time inside the projects' actions (summed), where the
/// rest went, and the mean time of each action ("refresh (12 ms): …" log lines).
struct Figures {
    wall: f64,
    inside: f64,
    /// From the run's creation to its first project's start (listing the projects,
    /// writing their records, pushing their jobs, fetching the first).
    fan_out: f64,
    /// Mean time from one project's finish to the next one's start (meaningful one at a
    /// time: ending the attempt, handing over to the next job).
    between: f64,
    /// From the last project's finish to the run's end.
    close: f64,
    actions: Vec<(String, f64)>,
}

async fn run(admin: &common::Admin, task: &str) -> Figures {
    let d = admin
        .gql(
            "mutation($t:ID!){runTaskNow(id:$t){id}}",
            json!({"t": task}),
        )
        .await;
    let r = wait(admin, d["runTaskNow"]["id"].as_str().unwrap()).await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    // Each project's start and finish, in the order they started.
    let mut spans: Vec<(i64, i64)> = (r["projects"].as_array().unwrap().iter())
        .map(|p| (at(&p["startedAt"]), at(&p["finishedAt"])))
        .collect();
    spans.sort();
    let gaps: i64 = spans.windows(2).map(|w| w[1].0 - w[0].1).sum();
    let inside: i64 = r["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["durationMs"].as_i64().unwrap())
        .sum();
    let mut actions: Vec<(String, f64, u32)> = Vec::new();
    for p in r["projects"].as_array().unwrap() {
        for line in p["log"].as_array().unwrap() {
            let m = line["message"].as_str().unwrap();
            let Some((name, rest)) = m.split_once(" (") else {
                continue;
            };
            let Some(ms) = rest
                .split_once(" ms)")
                .and_then(|(v, _)| v.parse::<f64>().ok())
            else {
                continue;
            };
            match actions.iter_mut().find(|a| a.0 == name) {
                Some(a) => {
                    a.1 += ms;
                    a.2 += 1
                }
                None => actions.push((name.to_owned(), ms, 1)),
            }
        }
    }
    Figures {
        wall: r["durationMs"].as_f64().unwrap(),
        inside: inside as f64,
        fan_out: (spans[0].0 - at(&r["createdAt"])) as f64,
        between: gaps as f64 / (spans.len() - 1).max(1) as f64,
        close: (at(&r["finishedAt"]) - spans[spans.len() - 1].1) as f64,
        actions: actions
            .into_iter()
            .map(|(n, s, c)| (n, s / c as f64))
            .collect(),
    }
}

fn per_action(f: &Figures) -> String {
    f.actions
        .iter()
        .map(|(n, ms)| format!("{n} {ms:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("VITRINE_BENCH_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let server = common::Server::start(&[]).await;
    let admin = server.admin().await;
    let rows: usize = std::env::var("VITRINE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("orders.csv"), orders_csv(rows)).unwrap();
    let folder = admin
        .gql("mutation{createFolder(name:\"Fleet\"){id}}", json!({}))
        .await["createFolder"]["id"]
        .clone();
    let loc = admin
        .gql(
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files.path()}}),
        )
        .await["createResourceLocation"]["id"]
        .clone();
    admin
        .gql(
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:READ){id}}",
            json!({"l": loc, "f": folder}),
        )
        .await;
    let workflow = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "orders.csv"}},
        {"id": "big", "kind": "filter", "config": {"condition": "sales > 10"}, "inputs": {"in": "orders"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "big"}},
    ]});
    let report = json!({"tabs": [{"id": "t", "title": "T", "tiles": [
        {"id": "kpi", "title": "Orders", "kind": "kpi", "query": {"dataset": "orders", "measures": [{"function": "count", "name": "n"}]}},
        {"id": "bar", "title": "By region", "kind": "bar", "query": {"dataset": "orders", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}}
    ]}]});
    for i in 0..n {
        let p = admin
            .gql(
                "mutation($f:ID!,$n:String!){createProject(folderId:$f,name:$n){id}}",
                json!({"f": folder, "n": format!("Customer {i:03}")}),
            )
            .await["createProject"]["id"]
            .clone();
        admin
            .gql(
                "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}",
                json!({"p": p, "w": workflow}),
            )
            .await;
        admin
            .gql(
                "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"Sales\",definition:$d){id}}",
                json!({"p": p, "d": report}),
            )
            .await;
    }
    let task = |name: &str, concurrency: Option<i32>| {
        json!({"i": {
            "name": name,
            "trigger": {},
            "target": {"folderId": folder},
            "actions": [{"kind": "REFRESH", "force": true}, {"kind": "WARM_UP"}],
            "concurrency": concurrency,
        }})
    };
    let create = "mutation($i:TaskInput!){createTask(input:$i){id}}";
    let parallel = admin.gql(create, task("Default concurrency", None)).await["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let serial = admin.gql(create, task("One at a time", Some(1))).await["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A first pass computes every project once (first runs do more than later ones).
    run(&admin, &parallel).await;
    println!(
        "{n} projects reading {rows} rows each: forced refresh + warm-up of each, default concurrency (one job per core, plus one) vs one at a time"
    );
    for round in 1..=2 {
        let one = run(&admin, &serial).await;
        let par = run(&admin, &parallel).await;
        println!(
            "round {round}: one at a time {:>7.0} ms | default {:>7.0} ms | speed-up {:.2}x | queue cost per project (one at a time) {:.1} ms",
            one.wall,
            par.wall,
            one.wall / par.wall,
            (one.wall - one.inside) / n as f64
        );
        println!(
            "         queue cost, one at a time: fan-out {:.0} ms, {:.2} ms between projects, close {:.0} ms",
            one.fan_out, one.between, one.close
        );
        // In flight: projects being worked on at an average moment of the run (time
        // inside projects over wall time); below the concurrency, slots idled.
        println!(
            "         mean per project: one at a time {:.1} ms ({}) | default {:.1} ms ({}, {:.2} in flight)",
            one.inside / n as f64,
            per_action(&one),
            par.inside / n as f64,
            per_action(&par),
            par.inside / par.wall
        );
    }
}
