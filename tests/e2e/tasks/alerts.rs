//! Alerts (governance issue, item 11): a task whose trigger is a tile's value crossing a
//! threshold, checked after each refresh as the task's identity; it fires once per
//! crossing and delivers like any delivery (through a real SMTP server), and a project
//! whose schedule ability is off is not checked.

use std::time::Duration;

use serde_json::{Value, json};

use super::delivery::{smtp_sink, wait_mail};
use super::*;
use crate::data::{RUN as RUN_WORKFLOW, SAVE as SAVE_WORKFLOW, pipeline};
use crate::support::*;

fn orders_above(min_sales: f64) -> usize {
    crate::data::SUPERSTORE
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(8).unwrap().parse::<f64>().unwrap() > min_sales)
        .count()
}

#[tokio::test]
async fn an_alert_fires_once_per_crossing_and_delivers_what_crossed() {
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("Maildir");
    let (_smtp, port) = smtp_sink(&maildir).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let w = crate::data::data_world_env(&[("VITRINE_SMTP_URL", &url)]).await;
    let s = &w.s;
    crate::data::publish(s, &w.editor, &w.project).await;
    // A KPI over the filtered regions: how many orders the pipeline kept.
    let kept = json!({"tabs": [{"id": "t", "title": "Watch", "tiles": [
        {"id": "kept", "title": "Kept orders", "kind": "kpi",
         "query": {"dataset": "regions", "measures": [{"column": "orders", "function": "sum", "name": "orders"}]}}]}]});
    let q =
        "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"Watch\",definition:$d){id}}";
    data(
        &s.gql(&w.editor.auth, q, json!({"p": w.project, "d": kept}))
            .await,
    );
    let (all, big) = (orders_above(0.0), orders_above(200.0));
    assert!(big < all);
    let limit = (all + big) as f64 / 2.0;
    let refresh = |min_sales: f64| {
        let (project, editor) = (w.project.clone(), w.editor.auth.clone());
        async move {
            let vars = json!({"p": project, "w": pipeline(min_sales)});
            data(&s.gql(&editor, SAVE_WORKFLOW, vars).await);
            let run = s.gql(&editor, RUN_WORKFLOW, json!({"p": project})).await;
            assert_eq!(data(&run)["runWorkflow"]["status"], "succeeded", "{run}");
        }
    };
    let alert = |trigger: Value| {
        json!({
            "name": "Orders dropped",
            "trigger": trigger,
            "target": {"projectId": w.project},
            "actions": [{"kind": "DELIVER", "report": "Watch", "recipients": ["ops@example.com"]}],
        })
    };
    let rule = json!({"report": "Watch", "tile": "kept", "column": "orders", "crossing": "BELOW", "value": limit});

    // Bad alerts are refused by field.
    let bad = [
        (json!({"threshold": rule, "cron": "@daily"}), "trigger"),
        (
            json!({"threshold": {"report": "Nope", "tile": "total", "crossing": "BELOW", "value": 1}}),
            "trigger.threshold.report",
        ),
        (
            json!({"threshold": {"report": "Sales", "tile": "nope", "crossing": "BELOW", "value": 1}}),
            "trigger.threshold.tile",
        ),
        (
            json!({"threshold": {"report": "Sales", "tile": " ", "crossing": "BELOW", "value": 1}}),
            "trigger.threshold.tile",
        ),
    ];
    for (trigger, field) in bad {
        let r = s
            .gql(&w.editor.auth, CREATE, json!({"i": alert(trigger)}))
            .await;
        assert_eq!(code(&r), "INVALID_INPUT", "{r}");
        assert!(message(&r).starts_with(field), "{field}: {r}");
    }
    let r = s
        .gql(
            &w.editor.auth,
            CREATE,
            json!({"i": alert(json!({"threshold": rule}))}),
        )
        .await;
    let task = data(&r)["createTask"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data(&r)["createTask"]["trigger"]["kind"], "threshold");
    let q = "query($t:ID!){task(id:$t){trigger{threshold{report tile column crossing value}}}}";
    let r = s.gql(&w.editor.auth, q, json!({"t": task})).await;
    assert_eq!(
        data(&r)["task"]["trigger"]["threshold"]["crossing"],
        "BELOW"
    );

    // Every order counted: not below the threshold, no alert.
    refresh(0.0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(runs_of(s, &w.editor, &task).await.is_empty());

    // Big orders only: it crossed; the delivery says what.
    refresh(200.0).await;
    let runs = wait_runs(s, &w.editor, &task, Duration::from_secs(30), |r| {
        r.first().is_some_and(|x| x["status"] == "succeeded")
    })
    .await;
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("threshold: tile `kept`"),
        "{runs:?}"
    );
    let mails = wait_mail(&maildir, 1).await;
    let body = mails[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("is {big} (below {limit}, was {all})")),
        "{body}"
    );

    // Still below: no second alert. Back above, then below again: a second one.
    refresh(201.0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(runs_of(s, &w.editor, &task).await.len(), 1);
    refresh(0.0).await;
    refresh(200.0).await;
    wait_runs(s, &w.editor, &task, Duration::from_secs(30), |r| {
        r.len() == 2
    })
    .await;

    // With the schedule ability off, the project is not checked at all.
    let ability =
        "mutation($p:ID!,$on:Boolean){setProjectAbility(id:$p,ability:SCHEDULE,enabled:$on){id}}";
    refresh(0.0).await;
    data(
        &s.gql(&w.admin.auth, ability, json!({"p": w.project, "on": false}))
            .await,
    );
    refresh(200.0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(runs_of(s, &w.editor, &task).await.len(), 2);
}
