//! Deliveries arrive at a real SMTP server (Python's aiosmtpd, installed from PyPI when
//! missing, writing to a Maildir) with the report file and CSV attachments; failure
//! notices by e-mail; and the whole thing on the Redis backend (Debian's redis-server).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::servers::{free_port, wait_port};
use crate::support::*;

/// An SMTP server on 127.0.0.1 storing every message in `maildir`.
pub(crate) async fn smtp_sink(maildir: &Path) -> (tokio::process::Child, u16) {
    let have = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        run_checked(
            std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"]),
            "pip install aiosmtpd",
        );
    }
    let port = free_port();
    let child = tokio::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start aiosmtpd");
    wait_port(port, "aiosmtpd").await;
    (child, port)
}

/// The messages of a Maildir, parsed by Python's `email` package: subject, recipients,
/// Message-ID and each attachment's name, type and (text) content.
pub(crate) fn read_mail(maildir: &Path) -> Vec<Value> {
    let script = r#"
import json, mailbox, sys
out = []
for m in mailbox.Maildir(sys.argv[1], create=False):
    atts = []
    for part in m.walk():
        if part.get_content_disposition() == 'attachment':
            body = part.get_payload(decode=True)
            atts.append({"filename": part.get_filename(), "type": part.get_content_type(),
                         "size": len(body), "text": body.decode('utf-8', 'replace')})
    text = [p.get_payload(decode=True).decode() for p in m.walk()
            if p.get_content_type() == 'text/plain' and p.get_content_disposition() != 'attachment']
    out.append({"subject": m['subject'], "to": m['to'], "message_id": m['message-id'],
                "body": text[0] if text else "", "attachments": atts})
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) async fn wait_mail(maildir: &Path, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mail = if maildir.join("new").exists() {
            read_mail(maildir)
        } else {
            Vec::new()
        };
        if mail.len() >= n {
            return mail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} messages expected, got {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_report_is_delivered_by_smtp_with_its_file_and_csv_and_failures_are_mailed() {
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("Maildir");
    let (_smtp, port) = smtp_sink(&maildir).await;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("smtp://127.0.0.1:{port}");
    let s = TestServer::start_full(
        &tmp.path().join("data"),
        &[],
        &[
            ("VITRINE_SMTP_URL", &url),
            ("VITRINE_MAIL_FROM", "Vitrine <reports@example.com>"),
        ],
    )
    .await;
    let f = fleet_with(s, 2, 0, &["P02"]).await;
    let s = &f.s;
    let (p1, _) = &f.projects[0];
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Morning report",
            "trigger": {"cron": "30 7 * * 1-5", "timeZone": "America/New_York"},
            "target": {"projectId": p1},
            "actions": [
                {"kind": "REFRESH"},
                {"kind": "DELIVER", "report": "Sales", "recipients": ["ops@example.com", "cfo@example.com"], "csv": true, "subject": "Daily sales"}
            ],
        }),
    )
    .await;
    let run = run_now(s, &f.eddy, &task).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let got = wait_mail(&maildir, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["subject"], "Daily sales");
    let to = m["to"].as_str().unwrap();
    assert!(
        to.contains("ops@example.com") && to.contains("cfo@example.com"),
        "{to}"
    );
    assert!(m["message_id"].as_str().unwrap().contains(&run), "{m}");
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 3, "{atts:?}");
    let html = &atts[0];
    assert_eq!(html["type"], "text/html");
    assert!(html["filename"].as_str().unwrap().ends_with(".html"));
    let page = html["text"].as_str().unwrap();
    assert!(
        page.contains("<html") && page.contains("Sales by region"),
        "report file"
    );
    let csv: Vec<&Value> = atts.iter().filter(|a| a["type"] == "text/csv").collect();
    assert_eq!(csv.len(), 2);
    let by_region = csv
        .iter()
        .find(|a| a["text"].as_str().unwrap().starts_with("region,sales"))
        .expect("the by-region tile as CSV");
    // Header plus one line per region of the file.
    let regions = crate::data::sales_by_region().len();
    assert_eq!(
        by_region["text"].as_str().unwrap().trim().lines().count(),
        regions + 1
    );

    // A folder task with a failing project mails its notice list.
    let failing = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Fleet refresh",
            "target": {"folderId": f.folder},
            "trigger": {},
            "actions": [{"kind": "REFRESH"}],
            "maxAttempts": 1,
            "notify": {"emails": ["oncall@example.com"]},
        }),
    )
    .await;
    let run = run_now(s, &f.eddy, &failing).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "partial", "{done}");
    let got = wait_mail(&maildir, 2).await;
    let notice = got
        .iter()
        .find(|m| m["to"] == "oncall@example.com")
        .expect("a failure notice");
    assert!(
        notice["subject"]
            .as_str()
            .unwrap()
            .starts_with("Task \"Fleet refresh\" partial"),
        "{notice}"
    );
    assert!(
        notice["body"].as_str().unwrap().contains("P02: refresh"),
        "{notice}"
    );
}

#[tokio::test]
async fn a_delivery_without_an_smtp_server_fails_with_a_clear_error() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let (p1, _) = &f.projects[0];
    data(
        &s.gql(&f.admin.auth, crate::data::RUN, json!({"p": p1}))
            .await,
    );
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Nowhere",
            "trigger": {},
            "target": {"projectId": p1},
            "actions": [{"kind": "DELIVER", "report": "Sales", "recipients": ["ops@example.com"]}],
            "maxAttempts": 1,
        }),
    )
    .await;
    let run = run_now(s, &f.eddy, &task).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed", "{done}");
    let e = done["projects"][0]["error"].as_str().unwrap();
    assert!(e.contains("no SMTP server is configured"), "{e}");
}

#[tokio::test]
async fn tasks_run_on_the_redis_backend() {
    let redis = crate::servers::start_redis().await;
    let (port, url) = (redis.port, redis.url.clone());
    let tmp = tempfile::tempdir().unwrap();
    let s = TestServer::start_full(
        &tmp.path().join("data"),
        &[],
        &[
            ("VITRINE_QUEUE_BACKEND", "redis"),
            ("VITRINE_QUEUE_REDIS_URL", &url),
        ],
    )
    .await;
    let f = fleet_with(s, 3, 1, &[]).await;
    let s = &f.s;
    let task = create_task(
        s,
        &f.eddy,
        json!({
            "name": "Fleet over redis",
            "trigger": {"cron": "*/2 * * * * *"},
            "target": {"folderId": f.folder, "recursive": true},
            "actions": [{"kind": "REFRESH"}, {"kind": "WARM_UP"}],
        }),
    )
    .await;
    let runs = wait_runs(s, &f.eddy, &task, Duration::from_secs(60), |r| {
        r.iter().any(|r| r["status"] == "succeeded")
    })
    .await;
    let ok = runs.iter().find(|r| r["status"] == "succeeded").unwrap();
    assert_eq!(ok["succeeded"], 3, "{ok}");
    // The jobs went through this Redis.
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--scan",
            "--pattern",
            "vitrine-jobs*",
        ])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(keys.lines().count() > 0, "no queue keys in redis");
    // A second server on the same queue and a bad Redis URL are told apart clearly.
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["worker", "--data-dir"])
        .arg(tmp.path().join("other"))
        .env("VITRINE_QUEUE_BACKEND", "redis")
        .env(
            "VITRINE_QUEUE_REDIS_URL",
            format!("redis://127.0.0.1:{}/0", free_port()),
        )
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cannot open the job queue"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
