//! Races that used to undo a revocation: concurrent requests around a revoke, for enough
//! rounds to show a rate. Every round must end revoked.

use futures::future::join_all;
use serde_json::json;

use crate::sharing::share_world;
use crate::support::*;

const ROUNDS: usize = 20;

#[tokio::test]
async fn a_revoked_token_fails_on_every_request_that_starts_after_the_revoke() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    // Tokens are minted from a session (a token cannot mint tokens).
    let session = s.session("admin", ADMIN_PASSWORD).await;
    let mut survivors = 0;
    for _ in 0..ROUNDS {
        let r = s
            .gql(
                &session,
                "mutation{createApiToken(name:\"race\"){token apiToken{id}}}",
                json!({}),
            )
            .await;
        let created = &data(&r)["createApiToken"];
        let token = Auth::Bearer(created["token"].as_str().unwrap().to_owned());
        let id = created["apiToken"]["id"].as_str().unwrap().to_owned();
        // First uses of the token race the revoke: some fill the credential cache.
        let uses = (0..8).map(|_| s.gql(&token, "{viewer{id}}", json!({})));
        let revoke = s.gql(
            &admin.auth,
            "mutation($id:ID!){revokeApiToken(id:$id){id}}",
            json!({"id": id}),
        );
        let (_, revoked) = tokio::join!(join_all(uses), revoke);
        data(&revoked);
        let after = s.gql(&token, "{viewer{id}}", json!({})).await;
        if code(&after) != "TOKEN_REJECTED" {
            survivors += 1;
        }
    }
    assert_eq!(
        survivors, 0,
        "{survivors} of {ROUNDS} revoked tokens still worked"
    );
}

#[tokio::test]
async fn a_signed_out_session_ends_for_every_later_request() {
    let s = TestServer::start().await;
    s.admin().await;
    let http = reqwest::Client::new();
    let mut survivors = 0;
    for _ in 0..ROUNDS {
        let r = http
            .post(format!("{}/auth/login", s.url))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let viewer = || {
            http.post(format!("{}/graphql", s.url))
                .header("cookie", &cookie)
                .json(&json!({"query": "{viewer{id}}"}))
                .send()
        };
        let uses = (0..8).map(|_| viewer());
        let logout = http
            .post(format!("{}/auth/logout", s.url))
            .header("cookie", &cookie)
            .send();
        let (_, out) = tokio::join!(join_all(uses), logout);
        assert!(out.unwrap().status().is_success());
        let replay: serde_json::Value = viewer().await.unwrap().json().await.unwrap();
        if replay["data"]["viewer"]["id"].is_string() {
            survivors += 1;
        }
    }
    assert_eq!(
        survivors, 0,
        "{survivors} of {ROUNDS} ended sessions still worked"
    );
}

#[tokio::test]
async fn revocations_win_over_concurrent_edits() {
    let sw = share_world().await;
    let s = sw.s();
    let mut lost = 0;
    for round in 0..ROUNDS {
        let (id, _, _) = sw
            .link(json!({"reportId": sw.report, "kind": "PUBLIC"}))
            .await;
        let label = format!("round {round}");
        let update = s.gql(
            &sw.mona.auth,
            "mutation($id:ID!,$l:String!){updateShareLink(id:$id,input:{label:$l}){id}}",
            json!({"id": id, "l": label}),
        );
        let resume = sw.op("resumeShareLink", &id);
        let revoke = sw.op("revokeShareLink", &id);
        let (_, _, revoked) = tokio::join!(update, resume, revoke);
        data(&revoked);
        if sw.link_state(&id).await["state"] != "REVOKED" {
            lost += 1;
        }
    }
    assert_eq!(lost, 0, "{lost} of {ROUNDS} revocations were undone");

    // Access boost on one project and off on another, at once: both stick.
    let admin = &sw.w.admin;
    let (p2, _) = s.project(admin, &sw.w.folder, "Second").await;
    let boost = |id: String, on: bool| {
        s.gql(
            &admin.auth,
            "mutation($id:ID!,$on:Boolean!){setAccessBoost(scope:PROJECT,id:$id,enabled:$on){instanceBoost}}",
            json!({"id": id, "on": on}),
        )
    };
    let mut lost = 0;
    for _ in 0..ROUNDS {
        data(&boost(sw.w.project.clone(), true).await);
        let (a, b) = tokio::join!(boost(sw.w.project.clone(), false), boost(p2.clone(), true));
        data(&a);
        data(&b);
        let r = s
            .gql(&admin.auth, "{dataSecurity{boostedProjects}}", json!({}))
            .await;
        let boosted = data(&r)["dataSecurity"]["boostedProjects"].clone();
        let has = |p: &str| boosted.as_array().unwrap().iter().any(|x| x == p);
        if has(&sw.w.project) || !has(&p2) {
            lost += 1;
        }
        data(&boost(p2.clone(), false).await);
    }
    assert_eq!(lost, 0, "{lost} of {ROUNDS} boost switches were lost");
}
