//! What the product claims and nothing tested before: edits through a link synced back to
//! the master report, the ability that lets viewers see the workflow, and scheduled push,
//! pull and detach of a working copy on the same instance.

use std::time::Duration;

use serde_json::{Value, json};

use crate::copies::{COPY, STATUS, first_report, published_world, set_title, staging, title_of};
use crate::sharing::{Visitor, invitation, page_of, share_world};
use crate::support::*;
use crate::tasks::{create_task, run_now, wait_run};

const PASSWORD: &str = "Orchard#2026";

async fn recipient(s: &TestServer, created: &Value, id: &str, email: &str) -> Visitor {
    let v = Visitor::new(s);
    v.open(&invitation(created, email)).await;
    let r = v
        .post(
            &format!("{}/api/password", page_of(id)),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    v
}

#[tokio::test]
async fn edits_through_a_link_that_syncs_reach_the_master_report_as_a_revision() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
        "rights": {"edit": true, "syncEdits": true},
        "recipients": [
            {"name": "Sam Sync", "email": "sam@example.org", "role": "EDITOR"},
            {"name": "Cleo Copy", "email": "cleo@example.org", "role": "EDITOR",
             "rights": {"edit": true, "syncEdits": false}}
        ]}))
        .await;
    let master = "query($r:ID!){report(id:$r){definition}}";
    let def =
        data(&s.gql(&sw.mona.auth, master, json!({"r": sw.report})).await)["report"]["definition"]
            .clone();
    let titled = |title: &str| {
        let mut d = def.clone();
        d["tabs"][0]["tiles"][0]["title"] = json!(title);
        d
    };
    let master_title = || async {
        let r = s.gql(&sw.mona.auth, master, json!({"r": sw.report})).await;
        data(&r)["report"]["definition"]["tabs"][0]["tiles"][0]["title"].clone()
    };

    // Cleo may edit but not sync: her own copy, the master unchanged.
    let cleo = recipient(s, &created, &id, "cleo@example.org").await;
    let r = cleo.save_report(&id, titled("Cleo's view")).await;
    assert_eq!(r.json()["synced"], false, "{}", r.text);
    assert_eq!(master_title().await, "Sales by region");

    // Sam's edit is the master's: a revision authored by him, audited as a sync.
    let sam = recipient(s, &created, &id, "sam@example.org").await;
    let r = sam.save_report(&id, titled("Synced by Sam")).await;
    assert_eq!(r.json()["synced"], true, "{}", r.text);
    assert_eq!(master_title().await, "Synced by Sam");
    let q = "query($p:ID!){revisions(projectId:$p,first:1){edges{node{message authorName}}}}";
    let r = s.gql(&sw.mona.auth, q, json!({"p": sw.w.project})).await;
    assert_eq!(
        data(&r)["revisions"]["edges"][0]["node"],
        json!({"message": "edited through a share link", "authorName": "recipient:sam@example.org"})
    );
    let q =
        "{auditEvents(first:1,filter:{actionPrefix:\"share.edit_sync\"}){nodes{actorName object}}}";
    let r = s.gql(&sw.w.admin.auth, q, json!({})).await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0]["actorName"],
        "recipient:sam@example.org"
    );
    // A malformed edit by Sam changes nothing.
    let r = sam.save_report(&id, json!({"tabs": "nope"})).await;
    assert_eq!(r.status, "INVALID_INPUT", "{}", r.text);
    assert_eq!(master_title().await, "Synced by Sam");

    // On a production instance (Project Editor off) a synced edit is a direct edit too.
    let editing = "mutation($e:Boolean!){setProjectEditing(enabled:$e){projectEditing}}";
    data(&s.gql(&sw.w.admin.auth, editing, json!({"e": false})).await);
    let r = sam.save_report(&id, titled("Synced on production")).await;
    assert_eq!(r.status, "EDITING_OFF", "{}", r.text);
    assert_eq!(master_title().await, "Synced by Sam");
    data(&s.gql(&sw.w.admin.auth, editing, json!({"e": true})).await);

    // Once the link is revoked, nothing more reaches the master.
    data(&sw.op("revokeShareLink", &id).await);
    let r = sam.save_report(&id, titled("Too late")).await;
    assert_eq!(r.status, "LINK_NOT_VALID", "{}", r.text);
    assert_eq!(master_title().await, "Synced by Sam");
}

#[tokio::test]
async fn viewers_see_the_workflow_only_where_the_ability_allows() {
    let w = published_world().await;
    let s = &w.s;
    let read = "query($p:ID!){workflow(projectId:$p){definition}}";
    let r = s.gql(&w.west.auth, read, json!({"p": w.project})).await;
    assert_eq!(code(&r), "FORBIDDEN", "off by default: {r}");
    let r = s.gql(&w.editor.auth, read, json!({"p": w.project})).await;
    assert!(data(&r)["workflow"]["definition"]["blocks"].is_array());

    // An editor may not switch it on; the project's manager (here the admin) may.
    let set = "mutation($p:ID!,$e:Boolean){setProjectAbility(id:$p,ability:VIEWERS_SEE_WORKFLOW,enabled:$e){id}}";
    let r = s
        .gql(&w.editor.auth, set, json!({"p": w.project, "e": true}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    data(
        &s.gql(&w.admin.auth, set, json!({"p": w.project, "e": true}))
            .await,
    );
    let r = s.gql(&w.west.auth, read, json!({"p": w.project})).await;
    assert!(
        data(&r)["workflow"]["definition"]["blocks"].is_array(),
        "{r}"
    );
    // Seeing is not editing.
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w){version}}";
    let r = s
        .gql(
            &w.west.auth,
            save,
            json!({"p": w.project, "w": {"blocks": []}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // An admin switching the ability off everywhere wins over the project.
    let off =
        "mutation{setAbilitySetting(ability:VIEWERS_SEE_WORKFLOW,disabled:true){defaultRole}}";
    data(&s.gql(&w.admin.auth, off, json!({})).await);
    let r = s.gql(&w.west.auth, read, json!({"p": w.project})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
}

#[tokio::test]
async fn scheduled_push_pull_and_detach_act_on_a_working_copy_here() {
    let w = published_world().await;
    let (s, admin) = (&w.s, &w.admin);
    let target = staging(&w).await;
    let r = s
        .gql(
            &admin.auth,
            COPY,
            json!({"p": w.project, "f": target, "n": "Staging"}),
        )
        .await;
    let copy = data(&r)["createWorkingCopy"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = |name: &str, kind: &str| {
        json!({"name": name, "trigger": {"cron": "0 6 * * 1-5"},
            "target": {"projectId": copy}, "actions": [{"kind": kind}]})
    };
    let push = create_task(s, admin, task("Publish", "PUSH")).await;
    let pull = create_task(s, admin, task("Update", "PULL")).await;
    let detach = create_task(s, admin, task("Cut loose", "DETACH")).await;
    let run = |t: String| async move {
        let id = run_now(s, admin, &t).await;
        wait_run(s, admin, &id, Duration::from_secs(60)).await
    };

    // Push: the copy's change reaches the origin.
    let (report, def) = first_report(s, admin, &copy).await;
    set_title(s, admin, &report, &def, "Staged").await;
    let done = run(push.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(title_of(s, admin, &w.project).await, "Staged");

    // Pull: the origin's change reaches the copy.
    let (report, def) = first_report(s, admin, &w.project).await;
    set_title(s, admin, &report, &def, "Fixed in production").await;
    let done = run(pull).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(title_of(s, admin, &copy).await, "Fixed in production");

    // Detach: the copy stands alone, and a later push is skipped with a clear reason.
    let done = run(detach).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let r = s.gql(&admin.auth, STATUS, json!({"p": copy})).await;
    assert!(
        r["errors"].is_array() || data(&r)["workingCopy"].is_null(),
        "{r}"
    );
    let done = run(push).await;
    assert_eq!(done["status"], "skipped", "{done}");
    let error = done["projects"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("needs a working copy"), "{done}");
    assert_eq!(title_of(s, admin, &w.project).await, "Fixed in production");
}
