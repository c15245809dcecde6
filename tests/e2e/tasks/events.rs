//! Event tasks: a push into a project starts its task, that task's end starts a
//! follow-up, and a task triggered by refreshes never triggers itself. App parameters:
//! a task refers to `${name}`, an unknown name is refused when saving, and a change
//! takes effect from the next run.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::copies::{PUSH, first_report, set_title, working_copy};
use crate::support::*;

#[tokio::test]
async fn a_push_starts_its_event_task_whose_end_starts_the_next_and_nothing_loops() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let (origin, _) = &f.projects[0];
    let staging = s.folder(&f.admin, None, "Staging").await;
    let copy = working_copy(
        s,
        &f.admin,
        json!({"p": origin, "f": staging, "n": "P01 staging"}),
    )
    .await;
    let on_push = create_task(
        s,
        &f.admin,
        json!({
            "name": "Refresh after push",
            "trigger": {"event": "PROJECT_PUSHED"},
            "target": {"projectId": origin},
            "actions": [{"kind": "REFRESH"}, {"kind": "WARM_UP"}],
        }),
    )
    .await;
    let after = create_task(
        s,
        &f.admin,
        json!({
            "name": "Warm after refresh task",
            "trigger": {"event": "TASK_FINISHED", "taskId": on_push},
            "target": {"projectId": origin},
            "actions": [{"kind": "WARM_UP"}],
        }),
    )
    .await;
    let on_refresh = create_task(
        s,
        &f.admin,
        json!({
            "name": "Refresh when refreshed",
            "trigger": {"event": "PROJECT_REFRESHED"},
            "target": {"folderId": f.folder},
            "actions": [{"kind": "REFRESH", "force": true}],
        }),
    )
    .await;
    assert!(runs_of(s, &f.admin, &on_push).await.is_empty());
    // Change the copy, push it.
    let (report, def) = first_report(s, &f.admin, &copy).await;
    set_title(s, &f.admin, &report, &def, "Orders (staging)").await;
    data(&s.gql(&f.admin.auth, PUSH, json!({"p": copy})).await);
    let runs = wait_runs(s, &f.admin, &on_push, Duration::from_secs(60), |r| {
        r.first().is_some_and(|r| r["status"] == "succeeded")
    })
    .await;
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("project_pushed"),
        "{runs:?}"
    );
    let follow = wait_runs(s, &f.admin, &after, Duration::from_secs(60), |r| {
        r.first().is_some_and(|r| r["status"] == "succeeded")
    })
    .await;
    assert!(
        follow[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("task_finished")
    );
    // The push task's refresh fired the refresh task once; that one's own refresh did
    // not fire it again.
    wait_runs(s, &f.admin, &on_refresh, Duration::from_secs(60), |r| {
        r.first().is_some_and(|r| r["status"] == "succeeded")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs_of(s, &f.admin, &on_refresh).await.len(), 1);
    assert_eq!(runs_of(s, &f.admin, &on_push).await.len(), 1);
    // A refresh by a person fires it once more.
    data(
        &s.gql(&f.admin.auth, crate::data::RUN, json!({"p": origin}))
            .await,
    );
    wait_runs(s, &f.admin, &on_refresh, Duration::from_secs(60), |r| {
        r.len() == 2 && r[0]["status"] == "succeeded"
    })
    .await;
}

#[tokio::test]
async fn app_parameters_are_checked_when_saved_and_read_at_each_run() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let vault = tempfile::tempdir().unwrap();
    location(s, &f.admin, "vault", vault.path(), &f.folder).await;
    let input = json!({
        "name": "Nightly backup",
        "trigger": {"cron": "@daily"},
        "target": {"folderId": "${fleet}", "recursive": true},
        "actions": [{"kind": "BACKUP", "location": "${backup_store}", "path": "nightly/{project}.vitrine"}],
    });
    let set = "mutation($v:[ParameterInput!]!){setInstanceParameters(parameters:$v){name}}";
    data(
        &s.gql(
            &f.admin.auth,
            set,
            json!({"v": [{"name": "fleet", "value": f.folder}]}),
        )
        .await,
    );
    let r = s.gql(&f.admin.auth, CREATE, json!({"i": input})).await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(
        message(&r).starts_with("actions[0].location: `${backup_store}` is not an app parameter"),
        "{r}"
    );
    let params = |store: &str| json!({"v": [{"name": "fleet", "value": f.folder}, {"name": "backup_store", "value": store}]});
    data(&s.gql(&f.admin.auth, set, params("files")).await);
    let task = create_task(s, &f.admin, input).await;
    // The task keeps what was written.
    let r = s
        .gql(
            &f.admin.auth,
            "query($t:ID!){task(id:$t){target{folderId} actions{location path} nextRunAt}}",
            json!({"t": task}),
        )
        .await;
    assert_eq!(data(&r)["task"]["target"]["folderId"], "${fleet}");
    assert_eq!(
        data(&r)["task"]["actions"][0]["location"],
        "${backup_store}"
    );
    let slug = &f.projects[0].1;
    let run = run_now(s, &f.admin, &task).await;
    assert_eq!(
        wait_run(s, &f.admin, &run, Duration::from_secs(60)).await["status"],
        "succeeded"
    );
    let in_files = f.files.path().join(format!("nightly/{slug}.vitrine"));
    let in_vault = vault.path().join(format!("nightly/{slug}.vitrine"));
    assert!(in_files.exists() && !in_vault.exists());
    // Change the parameter: the next run writes to the vault.
    data(&s.gql(&f.admin.auth, set, params("vault")).await);
    let run = run_now(s, &f.admin, &task).await;
    assert_eq!(
        wait_run(s, &f.admin, &run, Duration::from_secs(60)).await["status"],
        "succeeded"
    );
    assert!(in_vault.exists());
    // Remove it: the run fails and says which reference is missing.
    data(
        &s.gql(
            &f.admin.auth,
            set,
            json!({"v": [{"name": "fleet", "value": f.folder}]}),
        )
        .await,
    );
    let run = run_now(s, &f.admin, &task).await;
    let done = wait_run(s, &f.admin, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("`${backup_store}` is not an app parameter"),
        "{done}"
    );
}
