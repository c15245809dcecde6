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
    let allow = "mutation{setAccessBoost(scope:INSTANCE,enabled:true){instanceBoost}}";
    data(&s.gql(&admin.auth, allow, json!({})).await);
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

#[tokio::test]
async fn a_recipient_revoked_during_a_reissue_and_a_grant_removed_during_another_stay_so() {
    let sw = share_world().await;
    let s = sw.s();
    let mut lost = 0;
    for round in 0..ROUNDS {
        let email = format!("r{round}@example.org");
        let (_, _, created) = sw
            .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
                "recipients": [{"name": "R", "email": email, "role": "VIEWER"}]}))
            .await;
        let rid = created["invitations"][0]["recipient"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let reissue = s.gql(
            &sw.mona.auth,
            "mutation($r:ID!){reissueInvitation(recipientId:$r){url}}",
            json!({"r": rid}),
        );
        let revoke = s.gql(
            &sw.mona.auth,
            "mutation($r:ID!){revokeRecipient(id:$r,deliveries:CANCEL){id revokedAt}}",
            json!({"r": rid}),
        );
        let (_, revoked) = tokio::join!(reissue, revoke);
        data(&revoked);
        let link_id = created["link"]["id"].as_str().unwrap();
        let st = sw.link_state(link_id).await;
        if st["recipients"][0]["revokedAt"].is_null() {
            lost += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "{lost} of {ROUNDS} recipient revocations were undone"
    );

    // A folder's grant removed while another folder is granted: both stick.
    let admin = &sw.w.admin;
    let other = s.folder(admin, None, "Other").await;
    let r = s
        .gql(&admin.auth, "{resourceLocations{id name}}", json!({}))
        .await;
    let loc = data(&r)["resourceLocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = |folder: String, access: &'static str| {
        let loc = loc.clone();
        s.gql(
            &admin.auth,
            "mutation($l:ID!,$f:ID!,$a:LocationAccess!){grantResourceLocation(id:$l,folderId:$f,access:$a){id}}",
            json!({"l": loc, "f": folder, "a": access}),
        )
    };
    let mut lost = 0;
    for _ in 0..ROUNDS {
        let (a, b) = tokio::join!(
            grant(sw.w.folder.clone(), "NONE"),
            grant(other.clone(), "READ")
        );
        data(&a);
        data(&b);
        let r = s
            .gql(
                &admin.auth,
                "{resourceLocations{grants{folderId access}}}",
                json!({}),
            )
            .await;
        let grants = data(&r)["resourceLocations"][0]["grants"].clone();
        let has = |f: &str| {
            grants
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["folderId"] == f)
        };
        if has(&sw.w.folder) || !has(&other) {
            lost += 1;
        }
        // A grant reads back as the enum it was set with.
        for g in grants.as_array().unwrap() {
            assert!(g["folderId"] != other || g["access"] == "READ", "{grants}");
        }
        data(&grant(sw.w.folder.clone(), "WRITE").await);
        data(&grant(other.clone(), "NONE").await);
    }
    assert_eq!(lost, 0, "{lost} of {ROUNDS} grant changes were lost");
}
