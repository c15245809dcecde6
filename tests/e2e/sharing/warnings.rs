//! Access warnings: a report edit that widens what a public or recipients link shows is
//! flagged in the edit's answer and on the link, or refused when the project says so.

use serde_json::json;

use super::*;

const UPDATE: &str =
    "mutation($r:ID!,$d:JSON!){updateReport(id:$r,definition:$d){id accessWarnings{kind message}}}";

#[tokio::test]
async fn widening_edits_are_flagged_or_refused() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let master = s
        .gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await;
    let def = data(&master)["report"]["definition"].clone();

    // Renaming a tile widens nothing.
    let mut renamed = def.clone();
    renamed["tabs"][0]["tiles"][0]["title"] = json!("Regions");
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE,
            json!({"r": sw.report, "d": renamed}),
        )
        .await;
    assert_eq!(data(&r)["updateReport"]["accessWarnings"], json!([]));

    // A tile over a dataset without an access filter: flagged in the answer and on the link.
    let mut wider = renamed.clone();
    wider["tabs"][0]["tiles"].as_array_mut().unwrap().push(json!({
        "id": "all_regions", "title": "All regions", "kind": "table",
        "query": {"dataset": "regions", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum"}]}}));
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE,
            json!({"r": sw.report, "d": wider}),
        )
        .await;
    let kinds: Vec<String> = data(&r)["updateReport"]["accessWarnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"NEW_DATASET".to_owned()), "{kinds:?}");
    assert!(
        kinds.contains(&"UNFILTERED_DATASET".to_owned()),
        "{kinds:?}"
    );
    let link = sw.link_state(&id).await;
    assert!(!link["accessWarnings"].as_array().unwrap().is_empty());
    assert!(
        link["exposedDatasets"]
            .as_array()
            .unwrap()
            .contains(&json!("regions"))
    );
    // Viewers of the project do not see the warnings; acknowledging is for managers.
    let r = s
        .gql(
            &sw.w.west.auth,
            "query($r:ID!){report(id:$r){accessWarnings{kind}}}",
            json!({"r": sw.report}),
        )
        .await;
    assert_eq!(data(&r)["report"]["accessWarnings"], json!([]));
    let ack = "mutation($id:ID!){acknowledgeAccessWarnings(id:$id){accessWarnings{kind}}}";
    assert_eq!(
        code(&s.gql(&sw.w.editor.auth, ack, json!({"id": id})).await),
        "FORBIDDEN"
    );
    let r = s.gql(&sw.mona.auth, ack, json!({"id": id})).await;
    assert_eq!(
        data(&r)["acknowledgeAccessWarnings"]["accessWarnings"],
        json!([])
    );

    // The project refuses such edits from now on: the edit fails and nothing changes.
    let policy = "mutation($p:ID!,$on:Boolean!){setSharePolicy(projectId:$p,refuseExposingEdits:$on){refuseExposingEdits}}";
    assert_eq!(
        code(
            &s.gql(
                &sw.w.editor.auth,
                policy,
                json!({"p": sw.w.project, "on": true})
            )
            .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(
            &sw.mona.auth,
            policy,
            json!({"p": sw.w.project, "on": true}),
        )
        .await,
    );
    let mut wider_again = wider.clone();
    wider_again["tabs"][0]["tiles"][0]["query"]["filters"] = json!([]);
    wider_again["tabs"][0]["tiles"][2]["query"]["dimensions"] =
        json!(["order_id", "region", "sales", "category"]);
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE,
            json!({"r": sw.report, "d": wider_again}),
        )
        .await;
    assert_eq!(code(&r), "EXPOSURE_REFUSED", "{r}");
    assert!(message(&r).contains("share link"), "{}", message(&r));
    let now = s
        .gql(
            &sw.mona.auth,
            "query($r:ID!){report(id:$r){definition}}",
            json!({"r": sw.report}),
        )
        .await;
    let tiles_now = &data(&now)["report"]["definition"]["tabs"][0]["tiles"];
    assert_eq!(tiles_now.as_array().unwrap().len(), 4);
    assert_eq!(
        tiles_now[2]["query"]["dimensions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Narrowing is still allowed: removing the new tile.
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE,
            json!({"r": sw.report, "d": renamed}),
        )
        .await;
    data(&r);
    // Private and authenticated links follow their viewers' own permissions: no warnings.
    let (pid, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "AUTHENTICATED"}))
        .await;
    data(&sw.op("revokeShareLink", &id).await);
    let r = s
        .gql(
            &sw.w.editor.auth,
            UPDATE,
            json!({"r": sw.report, "d": wider}),
        )
        .await;
    assert_eq!(data(&r)["updateReport"]["accessWarnings"], json!([]));
    assert_eq!(sw.link_state(&pid).await["accessWarnings"], json!([]));
}
