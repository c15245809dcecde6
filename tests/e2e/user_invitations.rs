//! Invitations of local users (governance issue, item 2), through a real SMTP server
//! (aiosmtpd): an admin creates an account without a password and Vitrine mails its
//! owner a single-use link to choose theirs; a resend replaces it, and a resend the mail
//! server refuses changes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;
use crate::tasks::delivery::{smtp_sink, wait_mail};

const CREATE: &str = "mutation($u:String!,$e:String,$p:String,$i:Boolean){createUser(username:$u,email:$e,password:$p,invite:$i,displayName:\"Ivy Invitee\"){id}}";
const INVITATION: &str =
    "query($id:ID!){user(id:$id){invitation{sentAt error acceptedAt expiresAt}}}";
const RESEND: &str = "mutation($id:ID!){resendUserInvitation(userId:$id){sentAt}}";
const PASSWORD: &str = "Lantern#Harbour-7";

/// The token of the one invitation link in a mail, checked to be this instance's page.
fn token_in(s: &TestServer, mail: &Value) -> String {
    let body = mail["body"].as_str().unwrap();
    let url = body
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {body}"));
    let prefix = format!("{}/invite#token=", s.url);
    assert!(url.starts_with(&prefix), "{url}");
    url[prefix.len()..].to_owned()
}

async fn accept(s: &TestServer, token: &str, password: &str) -> (u16, Value) {
    let r = TestServer::client()
        .post(format!("{}/auth/invitation", s.url))
        .json(&json!({"token": token, "password": password}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_invited_user_chooses_their_own_password_once() {
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("Maildir");
    let (smtp, port) = smtp_sink(&maildir).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let s = TestServer::start_env(&[("VITRINE_SMTP_URL", &url)]).await;
    let admin = s.admin().await;
    let create = |vars: Value| {
        let auth = admin.auth.clone();
        let s = &s;
        async move { s.gql(&auth, CREATE, vars).await }
    };

    // Bad requests: no password and no invitation; an invitation without an address;
    // a non-admin inviting.
    let r = create(json!({"u": "ivy"})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("password"), "{r}");
    let r = create(json!({"u": "ivy", "i": true})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("email"), "{r}");
    let other = s.user(&admin, "olga").await;
    let vars = json!({"u": "ivy", "e": "ivy@example.org", "i": true});
    let r = s.gql(&other.auth, CREATE, vars.clone()).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // Invited: the mail carries the page's link, and the ledger says it went out.
    let r = create(vars).await;
    let id = data(&r)["createUser"]["id"].as_str().unwrap().to_owned();
    let mails = wait_mail(&maildir, 1).await;
    assert_eq!(mails[0]["to"], "ivy@example.org");
    assert!(
        mails[0]["body"]
            .as_str()
            .unwrap()
            .contains("username is ivy")
    );
    let token = token_in(&s, &mails[0]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = s.gql(&admin.auth, INVITATION, json!({"id": id})).await;
        if data(&r)["user"]["invitation"]["sentAt"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = s.gql(&other.auth, INVITATION, json!({"id": id})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );

    // No password yet: no sign-in. The page serves the form.
    assert_eq!(s.login("ivy", PASSWORD).await.0, 401);
    let page = TestServer::client()
        .get(format!("{}/invite", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("/assets/invite.js"));

    // A weak password and a wrong token are refused; the right one works once.
    let (status, body) = accept(&s, &token, "short").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("INVALID_INPUT"))
    );
    let (status, body) = accept(&s, "vui_forged", PASSWORD).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (410, json!("LINK_NOT_VALID"))
    );
    let (status, body) = accept(&s, &token, PASSWORD).await;
    assert_eq!(
        (status, body),
        (200, json!({"ok": true, "username": "ivy"}))
    );
    assert_eq!(s.login("ivy", PASSWORD).await.0, 200);
    let (status, _) = accept(&s, &token, "Another#Password-9").await;
    assert_eq!(status, 410);
    assert_eq!(s.login("ivy", PASSWORD).await.0, 200);
    let r = s.gql(&admin.auth, INVITATION, json!({"id": id})).await;
    assert!(
        data(&r)["user"]["invitation"]["acceptedAt"].is_string(),
        "{r}"
    );
    let q = "{auditEvents(first:1,filter:{actionPrefix:\"user.invitation_accept\"}){nodes{actorName object}}}";
    let r = s.gql(&admin.auth, q, json!({})).await;
    assert_eq!(data(&r)["auditEvents"]["nodes"][0]["actorName"], "ivy");

    // A resend replaces the invitation: the first link stops, the new one works.
    let vars = json!({"u": "jon", "e": "jon@example.org", "p": "Initial#Password-1", "i": true});
    let jon = data(&create(vars).await)["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A Maildir lists messages in no particular order: pick them by address and token.
    let tokens_of = |mails: &[Value], to: &str| -> Vec<String> {
        let mine = mails.iter().filter(|m| m["to"] == to);
        mine.map(|m| token_in(&s, m)).collect()
    };
    let first = tokens_of(&wait_mail(&maildir, 2).await, "jon@example.org")[0].clone();
    data(&s.gql(&admin.auth, RESEND, json!({"id": jon})).await);
    let mails = wait_mail(&maildir, 3).await;
    let jons = tokens_of(&mails, "jon@example.org");
    let second = jons.into_iter().find(|t| *t != first).expect("a new token");
    assert_eq!(accept(&s, &first, PASSWORD).await.0, 410);
    // Service accounts choose no password.
    let bot = s.service_account(&admin, "robot").await;
    let r = s.gql(&admin.auth, RESEND, json!({"id": bot})).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");

    // The mail server gone, a resend fails and the last invitation still works.
    drop(smtp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.gql(&admin.auth, RESEND, json!({"id": jon})).await;
    assert_eq!(code(&r), "UNAVAILABLE", "{r}");
    assert_eq!(accept(&s, &second, PASSWORD).await.0, 200);
    assert_eq!(s.login("jon", PASSWORD).await.0, 200);
}
