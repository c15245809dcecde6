//! Recipients' own scheduled deliveries (governance issue, item 1), through a real SMTP
//! server: a recipient whose link carries the `schedule` right schedules the report to
//! their own address; the delivered file shows what they see (their rows only); the
//! link's owner finds the delivery among their tasks; revoking the recipient cancels
//! their deliveries or hands them to the owner, in the same write.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::tasks::delivery::{smtp_sink, wait_mail};
use crate::tasks::{run_now, wait_run};

const SCHEDULE: &str = "mutation($i:LinkDeliveryInput!){scheduleLinkDelivery(input:$i){id reportId cron timeZone csv nextRunAt}}";
const MINE: &str = "{linkVisit{deliveries{id cron csv}}}";
const TASK: &str = "query($t:ID!){task(id:$t){id owner: ownerId recipientId transferredFrom actions{kind recipients}}}";
const REVOKE: &str =
    "mutation($r:ID!,$d:DeliveriesOnRevoke!){revokeRecipient(id:$r,deliveries:$d){revokedAt}}";

/// A recipient of `created` (a `createShareLink` answer) with their password set.
async fn recipient(s: &TestServer, created: &Value, id: &str, email: &str) -> Visitor {
    let v = Visitor::new(s);
    v.accept_invitation(created, id, email).await;
    v
}

async fn schedule(v: &Visitor, id: &str, input: Value) -> LinkAnswer {
    v.link_gql(id, SCHEDULE, json!({"i": input}), &["scheduleLinkDelivery"])
        .await
}

fn recipient_id(created: &Value, email: &str) -> String {
    created["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["recipient"]["email"] == email)
        .unwrap()["recipient"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The report file of a delivery mailed to `to` (invitations carry no attachment), and
/// the text of its CSVs.
fn delivered_to(mails: &[Value], to: &str) -> Option<(String, Vec<String>)> {
    mails.iter().find_map(|m| {
        if !m["to"].as_str().unwrap_or_default().contains(to) {
            return None;
        }
        let atts = m["attachments"].as_array().unwrap();
        let html = atts.iter().find(|a| a["type"] == "text/html")?;
        let csv = atts
            .iter()
            .filter(|a| a["type"] == "text/csv")
            .map(|a| a["text"].as_str().unwrap().to_owned())
            .collect();
        Some((html["text"].as_str().unwrap().to_owned(), csv))
    })
}

#[tokio::test]
async fn recipients_schedule_their_own_deliveries_and_revocation_settles_them() {
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("Maildir");
    let (_smtp, port) = smtp_sink(&maildir).await;
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let sw = share_world_env(&[("VITRINE_SMTP_URL", &smtp_url)]).await;
    let s = sw.s();
    // Olga, a manager with an address; her link shows West unless a recipient's own
    // values say otherwise.
    let q = "mutation{createUser(username:\"olga\",password:\"Orchard#2026-long\",email:\"olga@example.org\"){id}}";
    let olga_id = data(&s.gql(&sw.w.admin.auth, q, json!({})).await)["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let subject = format!("user:{olga_id}");
    let project = format!("project:{}", sw.w.project);
    data(&s.grant(&sw.w.admin, &subject, &project, "MANAGER").await);
    let olga = Actor {
        id: olga_id,
        username: "olga".into(),
        auth: s.token_for("olga", "Orchard#2026-long").await,
    };

    // The right is for recipients links, and carries data: it needs download.
    let west = json!([{"key": "region", "values": ["West"]}]);
    let base = json!({"reportId": sw.report, "kind": "RECIPIENTS", "attributes": west,
        "recipients": [{"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"}]});
    let mut bad = base.clone();
    bad["rights"] = json!({"schedule": true});
    assert_eq!(code(&sw.create(&olga, bad).await), "INVALID_INPUT");
    let public = json!({"reportId": sw.report, "kind": "PUBLIC", "rights": {"download": true, "schedule": true}});
    let r = sw.create(&olga, public).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");

    let mut input = base;
    input["rights"] = json!({"download": true, "schedule": true});
    input["recipients"] = json!([
        {"name": "Ann Archer", "email": "ann@example.org", "role": "VIEWER"},
        {"name": "Eve East", "email": "eve@example.org", "role": "VIEWER",
         "attributes": [{"key": "region", "values": ["East"]}]},
        {"name": "Bo Brown", "email": "bo@example.org", "role": "VIEWER", "rights": {"download": true}}
    ]);
    let r = sw.create(&olga, input).await;
    let created = data(&r)["createShareLink"].clone();
    let id = created["link"]["id"].as_str().unwrap().to_owned();
    let ann = recipient(s, &created, &id, "ann@example.org").await;
    let eve = recipient(s, &created, &id, "eve@example.org").await;
    let bo = recipient(s, &created, &id, "bo@example.org").await;

    // Bo's own rights leave scheduling out; a stranger's public visit has no recipient.
    let weekly = json!({"cron": "0 7 * * MON", "timeZone": "Europe/Paris", "csv": true});
    assert_eq!(schedule(&bo, &id, weekly.clone()).await.status, "FORBIDDEN");
    assert_eq!(
        schedule(&Visitor::new(s), &id, weekly.clone()).await.status,
        "UNAUTHENTICATED"
    );
    // Bad schedules and text are refused by field.
    for bad in [
        json!({"cron": "every monday"}),
        json!({"cron": "0 7 * * MON", "timeZone": "Mars/Olympus"}),
        json!({"cron": "* * * * *"}),
        json!({"cron": "0 7 * * MON", "subject": "${smtp_password}"}),
        json!({"cron": "0 7 * * MON", "reportId": "someone-elses"}),
    ] {
        let r = schedule(&ann, &id, bad.clone()).await;
        assert_eq!(r.status, "INVALID_INPUT", "{bad}: {}", r.text);
    }
    let a = schedule(&ann, &id, weekly).await;
    assert_eq!(a.status, "OK", "{}", a.text);
    let ann_task = a.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(a.json()["reportId"], sw.report);
    assert!(a.json()["nextRunAt"].is_string());
    let e = schedule(&eve, &id, json!({"cron": "0 8 * * *"})).await;
    assert_eq!(e.status, "OK", "{}", e.text);
    let eve_task = e.json()["id"].as_str().unwrap().to_owned();
    let mine = ann
        .link_gql(&id, MINE, json!({}), &["linkVisit", "deliveries"])
        .await;
    assert_eq!(
        mine.json(),
        json!([{"id": ann_task, "cron": "0 7 * * MON", "csv": true}])
    );
    // One recipient cannot cancel another's.
    let cancel = "mutation($t:ID!){cancelLinkDelivery(id:$t)}";
    let r = eve
        .link_gql(&id, cancel, json!({"t": ann_task}), &["cancelLinkDelivery"])
        .await;
    assert_eq!(r.status, "NOT_FOUND", "{}", r.text);

    // The link's owner finds them among her tasks, may run them, and may not rewrite
    // them (the recipient does, through the link).
    let t = data(&s.gql(&olga.auth, TASK, json!({"t": ann_task})).await)["task"].clone();
    assert_eq!(t["recipientId"], recipient_id(&created, "ann@example.org"));
    assert_eq!(t["actions"][0]["recipients"], json!(["ann@example.org"]));
    let update = "mutation($t:ID!,$i:TaskInput!){updateTask(id:$t,input:$i){id}}";
    let i = json!({"name": "mine now", "trigger": {}, "target": {"projectId": sw.w.project},
        "actions": [{"kind": "DELIVER", "report": sw.report, "recipients": ["olga@example.org"]}]});
    let r = s
        .gql(&olga.auth, update, json!({"t": ann_task, "i": i}))
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = s.gql(&sw.w.west.auth, TASK, json!({"t": ann_task})).await;
    assert_eq!(code(&r), "NOT_FOUND");

    // Delivered as each recipient sees the report: Ann the link's West, Eve her East.
    for task in [&ann_task, &eve_task] {
        let run = run_now(s, &olga, task).await;
        let done = wait_run(s, &olga, &run, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let mails = wait_mail(&maildir, 3 + 2).await;
    let (html, csv) = delivered_to(&mails, "ann@example.org").unwrap();
    assert!(html.contains("West") && !html.contains("East"), "{html}");
    assert!(!csv.is_empty());
    assert!(csv.iter().all(|c| !c.contains("East")), "{csv:?}");
    let (html, csv) = delivered_to(&mails, "eve@example.org").unwrap();
    assert!(html.contains("East") && !html.contains("West"));
    assert!(csv.is_empty(), "Eve asked for no CSV");

    // Revoking Ann hands her delivery to Olga, who now receives it; Eve's is cancelled.
    let ann_id = recipient_id(&created, "ann@example.org");
    let r = s
        .gql(
            &olga.auth,
            REVOKE,
            json!({"r": ann_id, "d": "TRANSFER_TO_OWNER"}),
        )
        .await;
    data(&r);
    let t = data(&s.gql(&olga.auth, TASK, json!({"t": ann_task})).await)["task"].clone();
    assert_eq!(t["recipientId"], Value::Null);
    assert_eq!(t["transferredFrom"], "ann@example.org");
    assert_eq!(t["actions"][0]["recipients"], json!(["olga@example.org"]));
    assert_eq!(ann.visit(&id).await.json()["state"], "SIGN_IN");
    let run = run_now(s, &olga, &ann_task).await;
    let done = wait_run(s, &olga, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let mails = wait_mail(&maildir, 3 + 3).await;
    assert!(delivered_to(&mails, "olga@example.org").is_some());

    let eve_id = recipient_id(&created, "eve@example.org");
    data(
        &s.gql(&olga.auth, REVOKE, json!({"r": eve_id, "d": "CANCEL"}))
            .await,
    );
    let r = s.gql(&olga.auth, TASK, json!({"t": eve_task})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");

    // Audited by the recipient, with what became of the deliveries.
    let q =
        "{auditEvents(first:10,filter:{actionPrefix:\"share\"}){nodes{action actorName detail}}}";
    let events = data(&s.gql(&sw.w.admin.auth, q, json!({})).await)["auditEvents"]["nodes"].clone();
    let events = events.as_array().unwrap();
    let of = |action: &str| events.iter().filter(|e| e["action"] == action).count();
    assert_eq!(of("SHARE_DELIVERY_CREATE"), 2, "{events:?}");
    assert!(of("SHARE_DELIVERY_SEND") >= 2);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "SHARE_RECIPIENT_REVOKE"
                && e["detail"].as_str().unwrap().contains("transferred"))
    );
}

/// An owner without an address cannot take deliveries over: the revocation is refused
/// whole (the recipient keeps their link and delivery) until the manager cancels them.
#[tokio::test]
async fn a_transfer_to_an_owner_without_an_address_is_refused_whole() {
    let sw = share_world().await;
    let s = sw.s();
    let (id, _, created) = sw
        .link(json!({"reportId": sw.report, "kind": "RECIPIENTS",
            "rights": {"download": true, "schedule": true},
            "recipients": [{"name": "Zed Zane", "email": "zed@example.org", "role": "VIEWER"}]}))
        .await;
    let zed = recipient(s, &created, &id, "zed@example.org").await;
    let r = schedule(&zed, &id, json!({"cron": "0 7 * * *"})).await;
    assert_eq!(r.status, "OK", "{}", r.text);
    let task = r.json()["id"].as_str().unwrap().to_owned();
    let zed_id = recipient_id(&created, "zed@example.org");
    let r = s
        .gql(
            &sw.mona.auth,
            REVOKE,
            json!({"r": zed_id, "d": "TRANSFER_TO_OWNER"}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert_eq!(zed.visit(&id).await.json()["state"], "READY");
    let mine = zed
        .link_gql(&id, MINE, json!({}), &["linkVisit", "deliveries"])
        .await;
    assert_eq!(mine.json()[0]["id"], task);
    data(
        &s.gql(&sw.mona.auth, REVOKE, json!({"r": zed_id, "d": "CANCEL"}))
            .await,
    );
    let r = s.gql(&sw.mona.auth, TASK, json!({"t": task})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
}
