//! The share path refuses what the member path refuses: read-only tokens write nothing,
//! drill needs the project's drill ability and a connection role that allows row-level
//! queries, whatever the link's rights say.

use serde_json::json;

use crate::sharing::{Visitor, page_of, share_world};
use crate::support::*;

#[tokio::test]
async fn read_only_tokens_cannot_edit_through_a_private_link() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PRIVATE"}))
        .await;
    let session = s.session(&sw.w.editor.username, PASSWORD).await;
    let mint = |read_only: bool| {
        let session = session.clone();
        async move {
            let r = s
                .gql(
                    &session,
                    "mutation($r:Boolean){createApiToken(name:\"viewer\",readOnly:$r){token}}",
                    json!({"r": read_only}),
                )
                .await;
            data(&r)["createApiToken"]["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let definition = crate::data::report_definition();
    let put =
        |token: String| {
            let url = format!("{}{}/graphql", s.url, page_of(&id));
            let definition = definition.clone();
            async move {
                let r: serde_json::Value = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("x-vitrine-share", "1")
                .json(&json!({"query": "mutation($d:JSON!){saveLinkReport(definition:$d){synced}}",
                    "variables": {"d": definition}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
                match r["errors"][0]["extensions"]["code"].as_str() {
                    Some(c) => c.to_owned(),
                    None => "OK".to_owned(),
                }
            }
        };
    assert_eq!(
        put(mint(true).await).await,
        "FORBIDDEN",
        "a read-only token wrote"
    );
    assert_eq!(put(mint(false).await).await, "OK");
}

#[tokio::test]
async fn drill_on_a_link_follows_the_member_rules() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, url, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC", "rights": {"drill": true}}))
        .await;
    let v = Visitor::new(s);
    v.open(&url).await;
    let drill = || v.drill(&id, "by_region", json!([["region", "West"]]));
    let r = drill().await;
    assert_eq!(r.status, "OK", "{}", r.text);

    // The project's drill ability off: refused here as for members.
    let ability = |on: bool| {
        s.gql(
            &sw.w.admin.auth,
            "mutation($p:ID!,$on:Boolean){setProjectAbility(id:$p,ability:DRILL,enabled:$on){id}}",
            json!({"p": sw.w.project, "on": on}),
        )
    };
    data(&ability(false).await);
    let r = drill().await;
    assert_eq!(r.status, "FORBIDDEN", "{}", r.text);
    data(&ability(true).await);

    // The link's owner may only view through their connection: no row-level drill, and
    // access boost does not widen it.
    data(
        &s.gql(
            &sw.w.admin.auth,
            "mutation($u:ID!){setConnectionRole(userId:$u,role:VIEWER)}",
            json!({"u": sw.mona.id}),
        )
        .await,
    );
    let allow = "mutation{setAccessBoost(scope:INSTANCE,enabled:true){instanceBoost}}";
    data(&s.gql(&sw.w.admin.auth, allow, json!({})).await);
    data(
        &s.gql(
            &sw.w.admin.auth,
            "mutation($p:ID!){setAccessBoost(scope:PROJECT,id:$p,enabled:true){instanceBoost}}",
            json!({"p": sw.w.project}),
        )
        .await,
    );
    let r = drill().await;
    assert_eq!(r.status, "FORBIDDEN", "{}", r.text);
    assert!(r.text.contains("RESTRICTED_QUERIER"), "{}", r.text);
}

#[tokio::test]
async fn only_links_to_one_tab_may_be_framed_by_other_sites() {
    let sw = share_world().await;
    let s = sw.s();
    let (tab, _, _) = sw
        .link(json!({"reportId": sw.report, "tab": "overview", "kind": "PUBLIC"}))
        .await;
    let (report, _, _) = sw
        .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
        .await;
    let csp = |id: String| async move {
        let r = reqwest::Client::new()
            .get(format!("{}{}", s.url, page_of(&id)))
            .send()
            .await
            .unwrap();
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(csp(tab).await.contains("frame-ancestors *"));
    assert!(csp(report).await.contains("frame-ancestors 'self'"));
}
