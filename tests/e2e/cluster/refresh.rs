//! Two `vitrine worker` processes work a 100-project folder refresh queued through a
//! `serve` node; one is killed with SIGKILL mid-run. The other finishes it: every project
//! refreshed exactly once in effect, each with its own result.

use std::time::Duration;

use serde_json::json;

use super::Cluster;
use crate::support::*;
use crate::tasks::{Fleet, RUN, create_task, fleet_with, refreshes, run_now, wait_run};

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
    for (id, slug) in &projects {
        assert_eq!(refreshes(&s, &admin, id).await, 1, "{slug}");
    }
    assert!(
        matches!(second.try_wait(), Ok(None)),
        "the surviving worker is still working"
    );
}
