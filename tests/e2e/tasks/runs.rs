//! Runs: a folder task over 20 projects (one failing, one skipped), its progress over a
//! subscription and its failure webhook; cron firings with pause and resume; cancel; and
//! a worker killed with SIGKILL mid-run that finishes every project exactly once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use std::sync::Mutex;

use super::*;
use crate::support::*;

/// Collects JSON POSTed to `http://ADDR/hook`.
async fn webhook_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    use poem::{EndpointExt, Route, handler, post, web};
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    #[handler]
    fn hook(body: web::Json<Value>, got: web::Data<&Arc<Mutex<Vec<Value>>>>) -> &'static str {
        got.lock().unwrap().push(body.0);
        "ok"
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Route::new().at("/hook", post(hook)).data(got.clone());
    tokio::spawn(async move {
        poem::Server::new_with_acceptor(poem::listener::TcpAcceptor::from_tokio(listener).unwrap())
            .run(app)
            .await
    });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn a_folder_task_refreshes_and_warms_twenty_projects_and_one_failure_spares_the_rest() {
    let f = fleet(20, 6, &["P07"]).await;
    let s = &f.s;
    // One project switches scheduling off: skipped, not failed.
    let (p13, _) = &f.projects[12];
    data(
        &s.gql(
            &f.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:SCHEDULE,enabled:false){id}}",
            json!({"p": p13}),
        )
        .await,
    );
    let (hook, got) = webhook_sink().await;
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Nightly fleet",
            "trigger": {"cron": "0 2 * * *", "timeZone": "Europe/Paris"},
            "target": {"folderId": f.folder, "recursive": true},
            "actions": [{"kind": "REFRESH"}, {"kind": "WARM_UP"}],
            "maxAttempts": 2,
            "notify": {"webhook": hook},
        }),
    )
    .await;
    let run = run_now(s, &f.eddy, &task).await;

    // Follow it over the subscription until it ends.
    let token = match &f.eddy.auth {
        Auth::Bearer(t) => t.clone(),
        _ => unreachable!(),
    };
    let progress = tokio::spawn(follow(s.url.clone(), token, run.clone()));

    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "partial", "{done}");
    assert_eq!(done["total"], 20);
    assert_eq!(done["succeeded"], 18);
    assert_eq!(done["failed"], 1);
    assert_eq!(done["skipped"], 1);
    assert_eq!(
        done["message"],
        "20 projects: 18 succeeded, 1 failed, 1 skipped"
    );
    for p in done["projects"].as_array().unwrap() {
        match p["projectName"].as_str().unwrap() {
            "P07" => {
                assert_eq!(p["status"], "failed", "{p}");
                // Tried twice (maxAttempts), the error names the block and the file.
                assert_eq!(p["attempts"], 2, "{p}");
                let e = p["error"].as_str().unwrap();
                assert!(e.contains("refresh") && e.contains("orders"), "{e}");
                assert_eq!(p["actionsDone"], 0);
            }
            "P13" => {
                assert_eq!(p["status"], "skipped", "{p}");
                assert!(p["error"].as_str().unwrap().contains("schedule ability"));
            }
            _ => {
                assert_eq!(p["status"], "succeeded", "{p}");
                assert_eq!(p["attempts"], 1);
                assert_eq!(p["actionsDone"], 2);
                let log: Vec<&str> = p["log"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["message"].as_str().unwrap())
                    .collect();
                assert!(log[0].starts_with("refresh"), "{log:?}");
                assert!(
                    log[1].starts_with("warm_up") && log[1].contains("tiles"),
                    "{log:?}"
                );
            }
        }
    }
    // Every succeeded project really has its data: one workflow run each.
    for (i, (id, _)) in f.projects.iter().enumerate() {
        let expected = usize::from(i != 6 && i != 12);
        assert_eq!(refreshes(s, &f.admin, id).await, expected, "P{:02}", i + 1);
    }
    let seen = tokio::time::timeout(Duration::from_secs(30), progress)
        .await
        .expect("subscription ended")
        .unwrap();
    assert_eq!(seen.last().unwrap()["status"], "partial");
    assert!(seen.len() >= 2, "{seen:?}");
    // The failure webhook got the summary.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hooks = got.lock().unwrap().clone();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["run"]["id"], run.as_str());
    assert_eq!(hooks[0]["counts"]["failed"], 1);
    assert!(hooks[0]["failed"][0].as_str().unwrap().starts_with("P07"));
}

/// Reads `taskRunProgress` until the subscription completes.
async fn follow(url: String, token: String, run: String) -> Vec<Value> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = subscribe(
        &url,
        &token,
        "subscription($r:ID!){taskRunProgress(id:$r){status succeeded failed skipped total}}",
        json!({"r": run}),
    )
    .await;
    let mut seen = Vec::new();
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_ne!(v["type"], "error", "{v}");
        if v["type"] == "next" {
            seen.push(v["payload"]["data"]["taskRunProgress"].clone());
        }
        if v["type"] == "complete" {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn a_cron_task_fires_on_schedule_and_pause_stops_it() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let (p, _) = &f.projects[0];
    data(
        &s.gql(&f.admin.auth, crate::data::RUN, json!({"p": p}))
            .await,
    );
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Every second",
            "trigger": {"cron": "* * * * * *", "timeZone": "Asia/Kolkata"},
            "target": {"projectId": p},
            "actions": [{"kind": "WARM_UP"}],
        }),
    )
    .await;
    let runs = wait_runs(s, &f.eddy, &task, Duration::from_secs(30), |r| {
        r.iter().filter(|r| r["status"] == "succeeded").count() >= 2
    })
    .await;
    assert!(
        runs.iter()
            .all(|r| r["cause"].as_str().unwrap().starts_with("cron firing of"))
    );
    let r = s
        .gql(
            &f.eddy.auth,
            "mutation($t:ID!){pauseTask(id:$t){paused nextRunAt}}",
            json!({"t": task}),
        )
        .await;
    assert_eq!(
        data(&r)["pauseTask"],
        json!({"paused": true, "nextRunAt": null})
    );
    // Let a firing in flight land, then count: nothing more while paused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = runs_of(s, &f.eddy, &task).await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(runs_of(s, &f.eddy, &task).await.len(), before);
    let r = s
        .gql(
            &f.eddy.auth,
            "mutation($t:ID!){resumeTask(id:$t){paused nextRunAt}}",
            json!({"t": task}),
        )
        .await;
    assert!(data(&r)["resumeTask"]["nextRunAt"].is_string(), "{r}");
    wait_runs(s, &f.eddy, &task, Duration::from_secs(30), |r| {
        r.len() > before
    })
    .await;
}

/// Successful refreshes of all the fleet's projects so far.
async fn refreshed_in(f: &Fleet) -> usize {
    let mut n = 0;
    for (id, _) in &f.projects {
        n += refreshes(&f.s, &f.admin, id).await;
    }
    n
}

#[tokio::test]
async fn cancelling_a_run_stops_its_queued_projects() {
    let f = fleet(6, 0, &[]).await;
    let s = &f.s;
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "One at a time",
            "target": {"folderId": f.folder},
            "trigger": {},
            "actions": [{"kind": "REFRESH", "force": true}, {"kind": "WARM_UP"}],
            "concurrency": 1,
        }),
    )
    .await;
    // On a loaded machine the whole run may end before the cancel reaches it; that
    // attempt proves nothing, so it is made again (a few times at most).
    let mut attempt = 0;
    let (run, before) = loop {
        let before = refreshed_in(&f).await;
        let run = run_now(s, &f.eddy, &task).await;
        // Wait for the first project to be done, then cancel.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = s.gql(&f.eddy.auth, RUN, json!({"r": run})).await;
            if data(&r)["taskRun"]["succeeded"].as_i64().unwrap() >= 1 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r = s
            .gql(
                &f.eddy.auth,
                "mutation($r:ID!){cancelTaskRun(id:$r){status}}",
                json!({"r": run}),
            )
            .await;
        if data(&r)["cancelTaskRun"]["status"] == "succeeded" && attempt < 3 {
            attempt += 1;
            continue;
        }
        assert_eq!(data(&r)["cancelTaskRun"]["status"], "cancelled", "{r}");
        break (run, before);
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "cancelled");
    let cancelled = done["cancelled"].as_i64().unwrap();
    assert!(cancelled >= 3, "{done}");
    assert_eq!(done["succeeded"].as_i64().unwrap() + cancelled, 6, "{done}");
    // Nothing ran for the cancelled projects.
    let refreshed = refreshed_in(&f).await - before;
    assert!(
        refreshed <= 6 - cancelled as usize + 1,
        "{refreshed} {done}"
    );
    // Others may not cancel it.
    let r = s
        .gql(
            &f.admin.auth,
            "mutation($r:ID!){cancelTaskRun(id:$r){status}}",
            json!({"r": run}),
        )
        .await;
    assert_eq!(data(&r)["cancelTaskRun"]["status"], "cancelled");
    let stranger = s.user(&f.admin, "stranger").await;
    let r = s
        .gql(
            &stranger.auth,
            "mutation($r:ID!){cancelTaskRun(id:$r){status}}",
            json!({"r": run}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
}

#[tokio::test]
async fn a_worker_killed_mid_run_finishes_every_project_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = TestServer::start_full(&dir, &[], &[]).await;
    let f = fleet_with(s, 20, 0, &[]).await;
    let backups = tempfile::tempdir().unwrap();
    location(&f.s, &f.admin, "backups", backups.path(), &f.folder).await;
    let task = create_task(
        &f.s,
        &f.admin,
        json!({
            "name": "Refresh and back up",
            "trigger": {},
            "target": {"folderId": f.folder},
            "actions": [{"kind": "REFRESH"}, {"kind": "BACKUP", "location": "backups", "path": "{project}.vitrine"}],
            "concurrency": 1,
        }),
    )
    .await;
    let run = run_now(&f.s, &f.admin, &task).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = f.s.gql(&f.admin.auth, RUN, json!({"r": run})).await;
        let ok = data(&r)["taskRun"]["succeeded"].as_i64().unwrap();
        if ok >= 3 {
            assert!(ok < 20, "the run ended before the kill: {r}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Fleet {
        s, admin, projects, ..
    } = f;
    s.kill().await;
    let s = TestServer::start_full(&dir, &[], &[]).await;
    let done = wait_run(&s, &admin, &run, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["succeeded"], 20);
    for p in done["projects"].as_array().unwrap() {
        assert_eq!(p["actionsDone"], 2, "{p}");
    }
    // Each project's data computed exactly once, whichever run did it, and a backup.
    for (id, slug) in &projects {
        assert_computed_once(&s, &admin, id, slug).await;
        let bundle = backups.path().join(format!("{slug}.vitrine"));
        assert!(bundle.metadata().is_ok_and(|m| m.len() > 100), "{slug}");
    }
}
