//! Working copies on a second instance, made from a working-copy link: the link's scope
//! (pull only, push, force), who may push through it, syncing both ways, and revocation.

use serde_json::json;

use crate::copies::{
    COPY, HISTORY, PULL, PUSH, STATUS, first_report, history, order_count, published_world,
    set_title, title_of, working_copy,
};
use crate::data::*;
use crate::support::*;

/// A second instance with the same resource location name, as staging and production
/// would have: an admin and a folder allowed to read the test files.
async fn second_instance(files: &std::path::Path) -> (TestServer, Actor, String) {
    // Its origin listens on this machine: outbound requests reach it only when allowed.
    let s = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Imported").await;
    let r = s
        .gql(
            &admin.auth,
            "mutation($d:JSON!){createResourceLocation(name:\"files\",definition:$d){id}}",
            json!({"d": {"kind": "fs", "root": files}}),
        )
        .await;
    let loc = data(&r)["createResourceLocation"]["id"].clone();
    data(
        &s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": loc, "f": folder}),
        )
        .await,
    );
    (s, admin, folder)
}

const LINK: &str = "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2,allowPush:true){url link{id expiresAt allowPush allowForce}}}";
const PULL_LINK: &str = "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2){url link{id allowPush}}}";

#[tokio::test]
async fn a_remote_origin_takes_pushes_only_as_far_as_its_link_allows() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;
    let r = a
        .gql(&w.admin.auth, PULL_LINK, json!({"p": w.project}))
        .await;
    assert_eq!(
        data(&r)["createWorkingCopyLink"]["link"]["allowPush"],
        false
    );
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a
        .gql(
            &w.admin.auth,
            "mutation($p:ID!){createWorkingCopyLink(projectId:$p,allowForce:true){url}}",
            json!({"p": w.project}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Reader"}),
    )
    .await;
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Not for production").await;
    for force in [false, true] {
        let r = b
            .gql(&b_admin.auth, PUSH, json!({"p": copy, "force": force}))
            .await;
        assert_eq!(code(&r), "FORBIDDEN", "{r}");
    }
    assert_ne!(
        title_of(a, &w.admin, &w.project).await,
        "Not for production"
    );

    // With a link that allows pushing, only the copy's managers publish through it.
    let r = a.gql(&w.admin.auth, LINK, json!({"p": w.project})).await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Writer"}),
    )
    .await;
    let ed = b.user(&b_admin, "eddie").await;
    data(
        &b.grant(
            &b_admin,
            &format!("user:{}", ed.id),
            &format!("project:{copy}"),
            "EDITOR",
        )
        .await,
    );
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &ed, &report, &def, "An editor's change").await;
    let r = b.gql(&ed.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // Nor can the editor schedule that push, while the copy's manager can.
    let task = json!({"name": "Publish", "trigger": {"cron": "0 6 * * 1-5"},
        "target": {"projectId": copy}, "actions": [{"kind": "PUSH"}]});
    let r = b
        .gql(&ed.auth, crate::tasks::CREATE, json!({"i": task}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("manager role"), "{r}");
    crate::tasks::create_task(&b, &b_admin, task).await;
    // A forced push needs a link that allows forcing.
    let r = b
        .gql(&b_admin.auth, PUSH, json!({"p": copy, "force": true}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(
        title_of(a, &w.admin, &w.project).await,
        "An editor's change"
    );
}

#[tokio::test]
async fn a_working_copy_on_another_instance_syncs_through_a_link() {
    let w = published_world().await;
    let a = &w.s;
    let (b, b_admin, b_folder) = second_instance(w.files.path()).await;

    // Only the origin's managers issue links.
    let r = a.gql(&w.editor.auth, LINK, json!({"p": w.project})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    let r = a.gql(&w.admin.auth, LINK, json!({"p": w.project})).await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let link_id = data(&r)["createWorkingCopyLink"]["link"]["id"].clone();
    assert!(link.starts_with(&format!("{}/wc/vwc_", a.url)), "{link}");

    // Links that are not links, or not to be trusted, are refused before any request.
    for bad in [
        "http://example.com/wc/vwc_abc",
        "ftp://x/wc/vwc_a",
        "https://x/nothing",
    ] {
        let r = b
            .gql(
                &b_admin.auth,
                COPY,
                json!({"l": bad, "f": b_folder, "n": "X"}),
            )
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{bad}: {r}");
    }
    let forged = format!("{}/wc/vwc_forged", a.url);
    let r = b
        .gql(
            &b_admin.auth,
            COPY,
            json!({"l": forged, "f": b_folder, "n": "X"}),
        )
        .await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");

    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Superstore (staging)"}),
    )
    .await;
    assert_eq!(
        order_count(&b, &b_admin, &copy).await,
        order_count(a, &w.admin, &w.project).await
    );
    let st = b.gql(&b_admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["originUrl"], a.url.as_str());
    assert_eq!(data(&st)["workingCopy"]["originId"], w.project.as_str());
    assert_eq!(data(&st)["workingCopy"]["behind"], 0);

    // Change on B, push to A.
    let (report, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Staged on B").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(a, &w.west, &w.project).await, "Staged on B");
    let h = history(&a.gql(&w.admin.auth, HISTORY, json!({"p": w.project})).await);
    assert_eq!(h[0]["pushedFrom"]["projectName"], "Superstore (staging)");
    assert_eq!(h[0]["pushedFrom"]["number"], 2);
    assert!(
        h[0]["pushedFrom"]["instance"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );

    // A moves on: B's next push is refused until B pulls.
    let (a_report, a_def) = first_report(a, &w.admin, &w.project).await;
    set_title(a, &w.editor, &a_report, &a_def, "Fixed on A").await;
    let st = b.gql(&b_admin.auth, STATUS, json!({"p": copy})).await;
    assert_eq!(data(&st)["workingCopy"]["behind"], 1);
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Second on B").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "ORIGIN_MOVED", "{r}");
    let r = b
        .gql(&b_admin.auth, PULL, json!({"p": copy, "d": true}))
        .await;
    assert_eq!(data(&r)["pullWorkingCopy"]["revisions"], 1, "{r}");
    assert_eq!(title_of(&b, &b_admin, &copy).await, "Fixed on A");

    // Staging reads test data through an instance parameter; the pushed project, unedited,
    // reads production data on A once A runs it.
    let csv = std::fs::read_to_string(w.files.path().join("in/superstore.csv")).unwrap();
    let sample: Vec<&str> = csv.lines().take(11).collect();
    std::fs::write(
        w.files.path().join("in/staging.csv"),
        sample.join("\n") + "\n",
    )
    .unwrap();
    data(
        &b.gql(
            &b_admin.auth,
            "mutation{setInstanceParameters(parameters:[{name:\"input\",value:\"in/staging.csv\"}]){name}}",
            json!({}),
        )
        .await,
    );
    let run = b.gql(&b_admin.auth, RUN, json!({"p": copy})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    assert_eq!(order_count(&b, &b_admin, &copy).await, 10);
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Tested on staging").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(data(&r)["pushWorkingCopy"]["revisions"], 1, "{r}");
    let run = a.gql(&w.admin.auth, RUN, json!({"p": w.project})).await;
    assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
    assert_eq!(title_of(a, &w.admin, &w.project).await, "Tested on staging");
    assert!(
        order_count(a, &w.admin, &w.project).await > 10,
        "production data on A"
    );

    // Revoking the link on A cuts B off.
    data(
        &a.gql(
            &w.admin.auth,
            "mutation($p:ID!,$id:ID!){revokeWorkingCopyLink(projectId:$p,id:$id)}",
            json!({"p": w.project, "id": link_id}),
        )
        .await,
    );
    let (_, def) = first_report(&b, &b_admin, &copy).await;
    set_title(&b, &b_admin, &report, &def, "Too late").await;
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert_eq!(code(&r), "LINK_NOT_VALID", "{r}");
    assert_eq!(title_of(a, &w.admin, &w.project).await, "Tested on staging");
}
