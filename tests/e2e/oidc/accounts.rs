//! What the instance's own switches do to sign-in: a user disabled here cannot come back
//! through the provider, and their session ends at once; with local accounts off only the
//! break-glass administrator signs in with a password, and `vitrine admin reset-password`
//! gives them a new one.

use std::io::Write;

use serde_json::json;

use super::hostile::{ENV, HostileWorld, hostile_world, sign_in_as};
use crate::support::*;

#[tokio::test]
async fn disabled_users_and_oidc_only_sign_in() {
    let w = hostile_world("local_accounts = false\nbreak_glass_admin = \"admin\"", "").await;
    let s = &w.s;
    // The break-glass administrator still signs in with a password.
    let admin = s.admin().await;
    let pat = TestServer::client();
    let (status, page) = sign_in_as(&w, &pat, "pat-7", "pat").await;
    assert_eq!(status, 200, "{page}");
    let viewer = |client: reqwest::Client| {
        let url = format!("{}/graphql", s.url);
        async move {
            let r: serde_json::Value = client
                .post(url)
                .json(&json!({"query": "{viewer{id username}}"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r
        }
    };
    let me = viewer(pat.clone()).await;
    assert_eq!(me["data"]["viewer"]["username"], "pat", "{me}");
    let pat_id = me["data"]["viewer"]["id"].as_str().unwrap().to_owned();

    // Local passwords are refused for everyone else, whatever the password.
    data(
        &s.gql(
            &admin.auth,
            "mutation($p:String!){createUser(username:\"lou\",password:$p){id}}",
            json!({"p": ADMIN_PASSWORD}),
        )
        .await,
    );
    let (status, body, _) = s.login("lou", ADMIN_PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("local accounts are switched off"),
        "{body}"
    );

    // Disabled here: the session ends on its next request, and the provider cannot sign
    // the user in again.
    data(
        &s.gql(
            &admin.auth,
            "mutation($u:ID!){setUserDisabled(id:$u,disabled:true){id}}",
            json!({"u": pat_id}),
        )
        .await,
    );
    let me = viewer(pat).await;
    assert!(me["data"]["viewer"].is_null(), "{me}");
    let (status, page) = sign_in_as(&w, &TestServer::client(), "pat-7", "pat").await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("ACCOUNT_DISABLED"), "{page}");

    // The shell resets the break-glass administrator's password (server stopped: the
    // embedded database has one process at a time).
    let HostileWorld { s, dir, config, .. } = w;
    let (_, tmp) = s.stop().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args([
            "admin",
            "reset-password",
            "--username",
            "admin",
            "--data-dir",
        ])
        .arg(&dir)
        .args(["--config", &config])
        .envs(ENV)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-brand-new-passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("password of admin"));
    let s = TestServer::start_full(&dir, &["--config", &config], &ENV).await;
    let (status, body, _) = s.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 401, "the old password is gone: {body}");
    let (status, body, _) = s.login("admin", "a-brand-new-passphrase").await;
    assert_eq!(status, 200, "{body}");
    drop(tmp);
}

/// With `provisioning = "pre_provisioned"`, only people an administrator linked to the
/// provider's subject get in; they keep the username the administrator chose.
#[tokio::test]
async fn pre_provisioned_providers_admit_only_linked_users() {
    let w = hostile_world("", "provisioning = \"pre_provisioned\"").await;
    let (s, issuer) = (&w.s, &w.issuer);
    let admin = s.admin().await;
    let client = TestServer::client();
    let sign_in = || sign_in_as(&w, &client, "rita-5", "rita");
    let (status, page) = sign_in().await;
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("an administrator must create it first"),
        "{page}"
    );

    let link = "mutation($s:String!,$u:String!){createProviderUser(provider:\"test\",subject:$s,username:$u){username issuer}}";
    // Not an administrator's to do for anyone else.
    let someone = s.user(&admin, "sam").await;
    let r = s
        .gql(&someone.auth, link, json!({"s": "rita-5", "u": "r.jones"}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = s
        .gql(&admin.auth, link, json!({"s": "rita-5", "u": "r.jones"}))
        .await;
    assert_eq!(
        data(&r)["createProviderUser"],
        json!({"username": "r.jones", "issuer": issuer})
    );
    // One user per subject; unknown providers are named as such.
    let r = s
        .gql(&admin.auth, link, json!({"s": "rita-5", "u": "rita2"}))
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    let r = s
        .gql(
            &admin.auth,
            "mutation{createProviderUser(provider:\"nope\",subject:\"x\",username:\"xyz\"){id}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");

    let (status, page) = sign_in().await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in as r.jones"), "{page}");
}
