//! Invitation e-mails (governance issue, item 2), through a real SMTP server (aiosmtpd):
//! new recipients are mailed their personal link; the link's manager resends one (the
//! old link stops, and a send that fails changes nothing); someone who lost theirs asks
//! from the sign-in page, which tells the manager; the ledger shows sent, opened and
//! asked-for.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::tasks::delivery::{read_mail, smtp_sink, wait_mail};

const RECIPIENTS: &str = "query($id:ID!){shareLink(id:$id){recipients{id email invitation{sentAt error openedAt requestedAt}}}}";
const RESEND: &str =
    "mutation($r:ID!){resendShareInvitation(recipientId:$r){email invitation{sentAt}}}";

/// The one URL a mail's body carries.
fn url_in(mail: &Value) -> String {
    let body = mail["body"].as_str().unwrap();
    body.split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {body}"))
        .to_owned()
}

fn mail_to<'a>(mails: &'a [Value], to: &str) -> Vec<&'a Value> {
    mails
        .iter()
        .filter(|m| m["to"].as_str().unwrap_or_default().contains(to))
        .collect()
}

#[tokio::test]
async fn recipients_are_invited_by_mail_reinvited_and_ask_for_a_new_invitation() {
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("Maildir");
    let (smtp, port) = smtp_sink(&maildir).await;
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let w = crate::data::data_world_env(&[("VITRINE_SMTP_URL", &smtp_url)]).await;
    let s = &w.s;
    let report = crate::data::publish(s, &w.editor, &w.project).await;
    // The link's manager, with an address to be told at.
    let q = "mutation{createUser(username:\"mona\",password:\"Orchard#2026-long\",email:\"mona@example.org\",displayName:\"Mona Lisa\"){id}}";
    let mona_id = data(&s.gql(&w.admin.auth, q, json!({})).await)["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let subject = format!("user:{mona_id}");
    data(
        &s.grant(
            &w.admin,
            &subject,
            &format!("project:{}", w.project),
            "MANAGER",
        )
        .await,
    );
    let mona = s.token_for("mona", "Orchard#2026-long").await;

    let r = s
        .gql(
            &mona,
            CREATE,
            json!({"i": {"projectId": w.project, "reportId": report, "kind": "RECIPIENTS",
                "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"},
                               {"name": "Bob Baker", "email": "bob@example.org", "role": "VIEWER"}]}}),
        )
        .await;
    let created = data(&r)["createShareLink"].clone();
    let id = created["link"]["id"].as_str().unwrap().to_owned();

    // Each recipient gets their own link, the one the creation answered.
    let mails = wait_mail(&maildir, 2).await;
    let ann_mail = mail_to(&mails, "ann@example.org")[0];
    assert!(
        ann_mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("Mona Lisa shared"),
        "{ann_mail}"
    );
    assert_eq!(url_in(ann_mail), invitation(&created, "ann@example.org"));
    let bob_first = url_in(mail_to(&mails, "bob@example.org")[0]);
    assert!(
        bob_first.starts_with(&format!("{}/s/vtr_", s.url)),
        "{bob_first}"
    );

    // The ledger: sent for both, opened once Ann opens hers.
    let ledger = || async {
        let r = s.gql(&mona, RECIPIENTS, json!({"id": id})).await;
        data(&r)["shareLink"]["recipients"]
            .as_array()
            .unwrap()
            .clone()
    };
    let of = |list: &[Value], email: &str| {
        list.iter().find(|r| r["email"] == email).unwrap()["invitation"].clone()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ledger()
        .await
        .iter()
        .any(|r| r["invitation"]["sentAt"].is_null())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            ledger().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(of(&ledger().await, "ann@example.org")["openedAt"].is_null());
    let ann = Visitor::new(s);
    ann.open(&url_in(ann_mail)).await;
    assert_eq!(ann.visit(&id).await.json()["state"], "SET_PASSWORD");
    let l = ledger().await;
    assert!(of(&l, "ann@example.org")["openedAt"].is_string(), "{l:?}");
    assert!(of(&l, "bob@example.org")["openedAt"].is_null());

    // Resending is for the link's managers; Bob's old link stops, the new one opens.
    let bob_id = ledger()
        .await
        .iter()
        .find(|r| r["email"] == "bob@example.org")
        .unwrap()["id"]
        .clone();
    let r = s.gql(&w.west.auth, RESEND, json!({"r": bob_id})).await;
    assert!(
        matches!(code(&r).as_str(), "FORBIDDEN" | "NOT_FOUND"),
        "{r}"
    );
    data(&s.gql(&mona, RESEND, json!({"r": bob_id})).await);
    let mails = wait_mail(&maildir, 3).await;
    let bob_new = url_in(
        mail_to(&mails, "bob@example.org")
            .into_iter()
            .find(|m| url_in(m) != bob_first)
            .unwrap(),
    );
    let gone = Visitor::new(s).get(&bob_first).await;
    assert_ne!(gone.status, 303, "the old invitation still opens");
    Visitor::new(s).open(&bob_new).await;

    // Someone who lost their invitation asks from the sign-in page: the same answer for
    // a recipient and a stranger; the manager is told once, and the ledger shows it.
    let stranger = Visitor::new(s);
    let ask = |email: &str| {
        let body = json!({"email": email});
        let v = &stranger;
        let path = format!("{}/api/invitation", page_of(&id));
        async move { v.post(&path, body).await }
    };
    let r = ask("ann@example.org").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"ok": true})),
        "{}",
        r.text
    );
    let r = ask("nobody@example.org").await;
    assert_eq!((r.status, r.json()), (200, json!({"ok": true})));
    assert_eq!(ask("not an address").await.status, 400);
    let mails = wait_mail(&maildir, 4).await;
    let told = mail_to(&mails, "mona@example.org");
    assert_eq!(told.len(), 1, "{mails:?}");
    assert!(
        told[0]["body"]
            .as_str()
            .unwrap()
            .contains("ann@example.org")
    );
    assert!(of(&ledger().await, "ann@example.org")["requestedAt"].is_string());
    ask("ann@example.org").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail_to(&read_mail(&maildir), "mona@example.org").len(), 1);
    let q = "{auditEvents(first:1,filter:{actionPrefix:\"share_recipient.request\"}){nodes{actorName object}}}";
    let r = s.gql(&w.admin.auth, q, json!({})).await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0]["actorName"],
        "recipient:ann@example.org"
    );

    // With the mail server gone, a resend fails and changes nothing: Bob's link works.
    drop(smtp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.gql(&mona, RESEND, json!({"r": bob_id})).await;
    assert_eq!(code(&r), "UNAVAILABLE", "{r}");
    Visitor::new(s).open(&bob_new).await;
}
