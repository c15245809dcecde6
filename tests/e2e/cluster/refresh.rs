//! Two `vitrine worker` processes work a 100-project folder refresh queued through a
//! `serve` node; one is killed with SIGKILL mid-run. The other finishes it: every project
//! refreshed exactly once in effect, each with its own result. Then a cron task fires
//! every second with two workers' clocks running: each firing starts once.

use std::time::Duration;

use serde_json::json;

use super::Cluster;
use crate::support::*;
use crate::tasks::{
    Fleet, RUN, assert_computed_once, create_task, fleet_with, refreshes, run_now, wait_run,
    wait_runs,
};

const PROJECTS: usize = 100;

#[tokio::test]
async fn a_worker_killed_mid_refresh_leaves_every_project_refreshed_once() {
    let c = Cluster::start().await;
    let a = c.serve("a").await;
    let f = fleet_with(a, PROJECTS, 0, &[]).await;
    let (mut first, mut second) = (c.worker("w1").await, c.worker("w2").await);
    let task = create_task(
        &f.s,
        &f.admin,
        json!({
            "name": "Refresh the fleet",
            "trigger": {},
            "target": {"folderId": f.folder},
            "actions": [{"kind": "REFRESH"}, {"kind": "WARM_UP"}],
            "concurrency": 4,
        }),
    )
    .await;
    let run = run_now(&f.s, &f.admin, &task).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let r = f.s.gql(&f.admin.auth, RUN, json!({"r": run})).await;
        let ok = data(&r)["taskRun"]["succeeded"].as_i64().unwrap();
        if ok >= 10 {
            assert!(ok < PROJECTS as i64, "the run ended before the kill: {r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().expect("kill -9");
    let _ = first.wait().await;

    let Fleet {
        s, admin, projects, ..
    } = f;
    let done = wait_run(&s, &admin, &run, Duration::from_secs(600)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["succeeded"], PROJECTS as i64, "{done}");
    let results = done["projects"].as_array().unwrap();
    assert_eq!(results.len(), PROJECTS);
    for p in results {
        assert_eq!(p["status"], "succeeded", "{p}");
        assert_eq!(p["actionsDone"], 2, "{p}");
    }
    // Once in effect: each block of each project computed once, whichever run did it.
    for (id, slug) in &projects {
        assert_computed_once(&s, &admin, id, slug).await;
    }
    assert!(
        matches!(second.try_wait(), Ok(None)),
        "the surviving worker is still working"
    );
    let _third = c.worker("w3").await;

    // Both workers run a clock: a cron task that fires every second starts each firing
    // once across the cluster (each run names its firing time).
    let (project, _) = &projects[0];
    let cron = create_task(
        &s,
        &admin,
        json!({
            "name": "Every second",
            "trigger": {"cron": "* * * * * *"},
            "target": {"projectId": project},
            "actions": [{"kind": "WARM_UP"}],
        }),
    )
    .await;
    let runs = wait_runs(&s, &admin, &cron, Duration::from_secs(60), |r| r.len() >= 5).await;
    data(
        &s.gql(
            &admin.auth,
            "mutation($t:ID!){pauseTask(id:$t){paused}}",
            json!({"t": cron}),
        )
        .await,
    );
    let causes: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r["cause"].as_str().unwrap()).collect();
    assert_eq!(causes.len(), runs.len(), "a firing started twice: {runs:?}");
}

/// SIGTERM gives a worker's jobs `[queue] shutdown_grace_secs` to finish; a job still
/// running then goes back to the queue and another worker does it, once.
#[tokio::test]
async fn a_stopped_worker_hands_its_unfinished_jobs_to_another() {
    let c = Cluster::start().await;
    let f = fleet_with(c.serve("a").await, 3, 0, &[]).await;
    // Every project job of this worker takes a minute; it may take one second to stop.
    let (mut slow, log) = c
        .worker_with(
            "slow",
            &[
                ("VITRINE_FAULT_JOB_PAUSE_MS", "60000"),
                ("VITRINE_QUEUE_SHUTDOWN_GRACE_SECS", "1"),
            ],
        )
        .await;
    let task = create_task(
        &f.s,
        &f.admin,
        json!({"name": "Refresh", "trigger": {}, "target": {"folderId": f.folder},
               "actions": [{"kind": "REFRESH"}]}),
    )
    .await;
    let run = run_now(&f.s, &f.admin, &task).await;
    // The slow worker has fetched the jobs (it polls every 50 ms) and sits in them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopping = std::time::Instant::now();
    let pid = slow.id().expect("worker running").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(20), slow.wait())
        .await
        .expect("the worker stops within its grace")
        .expect("wait");
    assert!(status.success(), "{status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopping.elapsed()
    );
    assert!(
        log.contains("jobs still running at the end of the shutdown grace"),
        "the worker had no job in flight"
    );

    let _other = c.worker("other").await;
    let done = wait_run(&f.s, &f.admin, &run, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["succeeded"], 3, "{done}");
    for (id, slug) in &f.projects {
        assert_eq!(refreshes(&f.s, &f.admin, id).await, 1, "{slug}");
    }
}
