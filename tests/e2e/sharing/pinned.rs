//! Pinned links: a link pinned to the report as it was keeps showing that version while
//! the report changes; un-pinning (or re-pinning) is checked like an edit, so what it
//! would newly show is flagged on the link, or refused under the project's share policy.

use serde_json::{Value, json};

use super::*;

const UPDATE_REPORT: &str =
    "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id accessWarnings{kind}}}";
const UPDATE_LINK: &str = "mutation($id:ID!,$i:UpdateShareLinkInput!){updateShareLink(id:$id,input:$i){id pinnedAt accessWarnings{kind}}}";

async fn view_of(v: &Visitor, id: &str) -> Value {
    let r = v.view(id, None).await;
    assert_eq!(r.status, "OK", "{}", r.text);
    r.json()
}

fn first_title(view: &Value) -> String {
    view["definition"]["tabs"][0]["tiles"][0]["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_pinned_link_keeps_its_version_until_unpinned() {
    let sw = share_world().await;
    let s = sw.s();
    let (pinned, pinned_url, created) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "pinned": true}))
        .await;
    let (_, latest_url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    assert_eq!(created["link"]["state"], "ACTIVE");
    let q = "query($id:ID!){shareLink(id:$id){pinnedAt}}";
    let r = s.gql(&sw.mona.auth, q, json!({"id": pinned})).await;
    assert!(data(&r)["shareLink"]["pinnedAt"].is_string(), "{r}");

    let v = Visitor::new(s);
    v.open(&pinned_url).await;
    let before = view_of(&v, &pinned).await;
    assert_eq!(first_title(&before), "Sales by region");
    assert!(before["pinnedAt"].is_string(), "{before}");

    // The editor renames a tile and adds one over an unfiltered dataset. The pinned link
    // does not change, so the edit warns about nothing.
    let mut def = data(
        &s.gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await,
    )["report"]["definition"]
        .clone();
    def["tabs"][0]["tiles"][0]["title"] = json!("Regions");
    def["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "all_regions", "title": "All regions", "kind": "table",
        "query": {"dataset": "regions", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum"}]}}));
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE_REPORT,
            json!({"r": sw.report, "d": def}),
        )
        .await;
    // The other (following) link is flagged; the pinned one is not.
    assert!(
        !data(&r)["updateReport"]["accessWarnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(sw.link_state(&pinned).await["accessWarnings"], json!([]));

    let after = view_of(&v, &pinned).await;
    assert_eq!(first_title(&after), "Sales by region");
    assert_eq!(
        after["definition"]["tabs"][0]["tiles"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        tiles(&v, &pinned, "overview").await.json()["tiles"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let follower = Visitor::new(s);
    let latest_page = follower.open(&latest_url).await;
    let latest_id = latest_page
        .trim_start_matches("/s/v/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        first_title(&view_of(&follower, &latest_id).await),
        "Regions"
    );

    // A viewer of the project may not change the link.
    let r = s
        .gql(
            &sw.w.west.auth,
            UPDATE_LINK,
            json!({"id": pinned, "i": {"pinned": false}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");

    // Un-pinning shows the latest version at once, with the widening flagged.
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": pinned, "i": {"pinned": false}}),
        )
        .await;
    let link = &data(&r)["updateShareLink"];
    assert!(link["pinnedAt"].is_null(), "{r}");
    let kinds: Vec<&str> = link["accessWarnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"UNFILTERED_DATASET"), "{kinds:?}");
    assert_eq!(first_title(&view_of(&v, &pinned).await), "Regions");
}

#[tokio::test]
async fn pinning_is_refused_where_it_cannot_hold() {
    let sw = share_world().await;
    let s = sw.s();
    // A pinned link cannot carry the edit right, nor pin a whole project.
    let r = sw
        .create(
            &sw.mona,
            json!({"reportId": sw.report, "kind": "PUBLIC", "pinned": true, "rights": {"edit": true}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(message(&r).contains("rights.edit"), "{r}");
    let r = sw
        .create(&sw.mona, json!({"kind": "AUTHENTICATED", "pinned": true}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert!(message(&r).contains("pinned"), "{r}");

    // Under a policy that refuses widening, un-pinning a link whose report has widened
    // since is refused and the link stays pinned.
    let (id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "pinned": true}))
        .await;
    let mut def = report_definition();
    def["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "all_regions", "title": "All regions", "kind": "table",
        "query": {"dataset": "regions", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum"}]}}));
    data(
        &s.gql(
            &sw.w.editor.auth,
            UPDATE_REPORT,
            json!({"r": sw.report, "d": def}),
        )
        .await,
    );
    data(
        &s.gql(
            &sw.mona.auth,
            "mutation($p:ID!){setSharePolicy(projectId:$p,refuseExposingEdits:true){refuseExposingEdits}}",
            json!({"p": sw.w.project}),
        )
        .await,
    );
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": id, "i": {"pinned": false}}),
        )
        .await;
    assert_eq!(code(&r), "EXPOSURE_REFUSED", "{r}");
    let r = s
        .gql(
            &sw.mona.auth,
            "query($id:ID!){shareLink(id:$id){pinnedAt}}",
            json!({"id": id}),
        )
        .await;
    assert!(data(&r)["shareLink"]["pinnedAt"].is_string(), "{r}");
    // Adding the edit right to a pinned link is refused too.
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": id, "i": {"rights": {"edit": true}}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
}

#[tokio::test]
async fn a_link_pins_a_past_revision_of_the_report() {
    let sw = share_world().await;
    let s = sw.s();
    let project = sw.w.project.clone();
    let revisions =
        "query($p:ID!){revisions(projectId:$p,first:50){edges{node{id number message}}}}";
    let list = |r: &Value| -> Vec<Value> {
        data(r)["revisions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    };
    // The revision that added the report, then an edit that renames its first tile.
    let before_edit = list(&s.gql(&sw.mona.auth, revisions, json!({"p": project})).await);
    let with_report = before_edit[0].clone();
    let without_report = before_edit.last().unwrap().clone();
    let mut def = data(
        &s.gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await,
    )["report"]["definition"]
        .clone();
    def["tabs"][0]["tiles"][0]["title"] = json!("Renamed later");
    data(
        &s.gql(
            &sw.w.editor.auth,
            UPDATE_REPORT,
            json!({"r": sw.report, "d": def}),
        )
        .await,
    );

    let (link, url, _) = sw
        .link(
            json!({"reportId": sw.report, "kind": "PUBLIC", "pinnedRevisionId": with_report["id"]}),
        )
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    assert_eq!(first_title(&view_of(&v, &link).await), "Sales by region");
    let q = "query($id:ID!){shareLink(id:$id){pinnedRevision pinnedAt}}";
    let r = s.gql(&sw.mona.auth, q, json!({"id": link})).await;
    assert_eq!(
        data(&r)["shareLink"]["pinnedRevision"],
        with_report["number"]
    );

    // Re-pinned to the latest revision, it shows the rename.
    let latest = list(&s.gql(&sw.mona.auth, revisions, json!({"p": project})).await)[0].clone();
    data(
        &s.gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": link, "i": {"pinnedRevisionId": latest["id"]}}),
        )
        .await,
    );
    assert_eq!(first_title(&view_of(&v, &link).await), "Renamed later");

    // A revision without the report, or of another project, is refused by name.
    let r = sw
        .create(
            &sw.mona,
            json!({"projectId": project, "reportId": sw.report, "kind": "PUBLIC", "pinnedRevisionId": without_report["id"]}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("does not hold this report"), "{r}");
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": link, "i": {"pinnedRevisionId": "not-a-revision"}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = s
        .gql(
            &sw.mona.auth,
            UPDATE_LINK,
            json!({"id": link, "i": {"pinned": false, "pinnedRevisionId": latest["id"]}}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
}
