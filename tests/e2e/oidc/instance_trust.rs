//! Two instances that both sign people in only through their identity provider: a
//! working copy on the second syncs with its origin through a working-copy link that acts
//! as a service account of the origin (not as a person, who could not sign in there
//! without the provider). Scheduled push, pull and detach run under it, with its own
//! roles; disabling the account at the origin makes the next push fail with a clear error
//! in the run's result.

use std::time::Duration;

use serde_json::json;

use super::config_file;
use super::hostile::{ENV, hostile_world};
use crate::copies::{PUSH, STATUS, first_report, set_title, title_of};
use crate::data::*;
use crate::support::*;
use crate::tasks::{create_task, location, run_now, wait_run};

/// The origin's published project: a location with the orders file, a workflow run and a
/// report, all set up by the administrator (the one local account there).
async fn origin(s: &TestServer, files: &std::path::Path) -> (Actor, String) {
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Sales").await;
    let (project, _) = s.project(&admin, &folder, "Superstore").await;
    location(s, &admin, "files", files, &folder).await;
    publish(s, &admin, &project).await;
    (admin, project)
}

#[tokio::test]
async fn scheduled_sync_between_oidc_only_instances_runs_as_a_service_account() {
    let oidc_only = "local_accounts = false\nbreak_glass_admin = \"admin\"";
    // Only the break-glass administrators sign in locally; they set up both sides.
    let wa = hostile_world(oidc_only, "").await;
    let conf_b = tempfile::tempdir().unwrap();
    let config_b = config_file(conf_b.path(), &wa.issuer, oidc_only, "");
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir(files.path().join("in")).unwrap();
    std::fs::write(files.path().join("in/superstore.csv"), SUPERSTORE).unwrap();
    let a = &wa.s;
    let (admin_a, project) = origin(a, files.path()).await;
    let b = TestServer::start_full(
        &conf_b.path().join("data"),
        &["--config", &config_b],
        &[ENV[0], ("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")],
    )
    .await;
    let b_admin = b.admin().await;
    let b_folder = b.folder(&b_admin, None, "Staging").await;
    location(&b, &b_admin, "files", files.path(), &b_folder).await;

    // At the origin: a service account with the editor role on the project, and a link
    // that acts as it. A person is no valid target.
    let r = a
        .gql(
            &admin_a.auth,
            "mutation{createServiceAccount(username:\"deployer\"){id kind}}",
            json!({}),
        )
        .await;
    let deployer = data(&r)["createServiceAccount"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        &a.grant(
            &admin_a,
            &format!("user:{deployer}"),
            &format!("project:{}", project),
            "EDITOR",
        )
        .await,
    );
    let link_for = "mutation($p:ID!,$s:ID!){createWorkingCopyLink(projectId:$p,allowPush:true,serviceAccountId:$s){url link{serviceAccountId}}}";
    let r = a
        .gql(
            &admin_a.auth,
            link_for,
            json!({"p": project, "s": admin_a.id}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = a
        .gql(
            &admin_a.auth,
            link_for,
            json!({"p": project, "s": deployer}),
        )
        .await;
    assert_eq!(
        data(&r)["createWorkingCopyLink"]["link"]["serviceAccountId"],
        deployer.as_str()
    );
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    // On the copy's instance: the working copy, and tasks that push, pull and detach.
    let copy = crate::copies::working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Superstore (staging)"}),
    )
    .await;
    let task = |name: &str, kind: &str| {
        json!({"name": name, "trigger": {"cron": "0 6 * * 1-5"},
            "target": {"projectId": copy}, "actions": [{"kind": kind}]})
    };
    let push = create_task(&b, &b_admin, task("Publish", "PUSH")).await;
    let pull = create_task(&b, &b_admin, task("Update", "PULL")).await;
    let detach = create_task(&b, &b_admin, task("Cut loose", "DETACH")).await;
    let run = |t: String| {
        let (b, who) = (&b, &b_admin);
        async move {
            let id = run_now(b, who, &t).await;
            wait_run(b, who, &id, Duration::from_secs(60)).await
        }
    };

    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Staged on B").await;
    let done = run(push.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(title_of(a, &admin_a, &project).await, "Staged on B");
    // The origin audited the push as the service account's (the pushed revisions keep
    // their own authors).
    let r = a
        .gql(
            &admin_a.auth,
            "{auditEvents(first:20, filter:{actionPrefix:\"working_copy.push\"}){edges{node{actorName actorKind outcome}}}}",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&r)["auditEvents"]["edges"][0]["node"],
        json!({"actorName": "deployer", "actorKind": "SERVICE", "outcome": "ok"}),
        "{r}"
    );

    let (a_report, a_def) = first_report(a, &admin_a, &project).await;
    set_title(a, &admin_a, &a_report, &a_def, "Changed in production").await;
    let done = run(pull).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(title_of(&b, &b_admin, &copy).await, "Changed in production");

    // The origin disables the service account: the next scheduled push fails, and says
    // why in the run's per-project result.
    data(
        &a.gql(
            &admin_a.auth,
            "mutation($u:ID!){setUserDisabled(id:$u,disabled:true){id}}",
            json!({"u": deployer}),
        )
        .await,
    );
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Never published").await;
    let done = run(push).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["projects"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no longer accepts this working copy's link")
            && error.contains("identity it acts as was disabled"),
        "{done}"
    );
    assert_eq!(
        title_of(a, &admin_a, &project).await,
        "Changed in production"
    );

    // Detaching is the copy's own business; it works whatever the origin says.
    let done = run(detach).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let st = b.gql(&b_admin.auth, STATUS, json!({"p": copy})).await;
    assert!(data(&st)["workingCopy"].is_null(), "{st}");
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert!(!code(&r).is_empty(), "{r}");
}
