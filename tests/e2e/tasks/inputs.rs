//! Saving tasks: every malformed or misfitting field is refused with a stable code and
//! a message naming the field, and nothing is stored; who may create, see and run
//! tasks; tasks that run as a service account, and stop when its token is revoked or
//! the owner is disabled.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::support::*;

fn base(project: &str) -> Value {
    json!({
        "name": "Refresh",
        "trigger": {"cron": "0 6 * * 1-5", "timeZone": "Europe/Paris"},
        "target": {"projectId": project},
        "actions": [{"kind": "REFRESH"}],
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[tokio::test]
async fn malformed_and_misfitting_tasks_are_refused_by_field_and_nothing_is_stored() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let (p, _) = &f.projects[0];
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(base(p), "trigger", json!({"cron": "0 61 * * *"})),
            "INVALID_INPUT",
            "trigger: cron:",
        ),
        (
            with(base(p), "trigger", json!({"cron": "0 6 * *"})),
            "INVALID_INPUT",
            "trigger: cron: `0 6 * *` has 4 fields",
        ),
        (
            with(
                base(p),
                "trigger",
                json!({"cron": "0 6 * * *", "timeZone": "Mars/Olympus"}),
            ),
            "INVALID_INPUT",
            "trigger: timeZone:",
        ),
        (
            with(
                base(p),
                "trigger",
                json!({"cron": "0 6 * * *", "event": "PROJECT_PUSHED"}),
            ),
            "INVALID_INPUT",
            "trigger: give either cron or event",
        ),
        (
            with(base(p), "trigger", json!({"cron": "${when}"})),
            "INVALID_INPUT",
            "trigger: schedules cannot use app parameters",
        ),
        (
            with(base(p), "trigger", json!({"event": "TASK_FINISHED"})),
            "INVALID_INPUT",
            "trigger.taskId:",
        ),
        (
            with(
                base(p),
                "target",
                json!({"projectId": p, "folderId": f.folder}),
            ),
            "INVALID_INPUT",
            "target: give exactly one",
        ),
        (
            with(base(p), "target", json!({"folderId": "${publishing}"})),
            "INVALID_INPUT",
            "target.folder: `${publishing}` is not an app parameter",
        ),
        (
            with(base(p), "target", json!({"projectId": "no-such-project"})),
            "NOT_FOUND",
            "target.project:",
        ),
        (
            with(base(p), "actions", json!([])),
            "INVALID_INPUT",
            "actions: a task needs at least one action",
        ),
        (
            with(base(p), "actions", json!([{"kind": "PUSH"}])),
            "INVALID_INPUT",
            "actions[0]: push needs a working copy",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "REFRESH", "location": "files"}]),
            ),
            "INVALID_INPUT",
            "actions[0].location: a Refresh action takes no location",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "WARM_UP"}, {"kind": "DELIVER", "report": "Sales", "recipients": ["not an address"]}]),
            ),
            "INVALID_INPUT",
            "actions[1].recipients:",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "DELIVER", "report": "Nope", "recipients": ["a@example.com"]}]),
            ),
            "INVALID_INPUT",
            "actions[0].report: `P01` has no report `Nope`",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "BACKUP", "location": "attic", "path": "x.vitrine"}]),
            ),
            "INVALID_INPUT",
            "actions[0].location: no resource location named `attic`",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "BACKUP", "location": "files", "path": "../x"}]),
            ),
            "INVALID_INPUT",
            "actions[0].path:",
        ),
        (
            with(
                base(p),
                "actions",
                json!([{"kind": "RUN_TASK", "taskId": "nope"}]),
            ),
            "INVALID_INPUT",
            "actions[0].task: no task `nope`",
        ),
        (
            with(base(p), "maxAttempts", json!(0)),
            "INVALID_INPUT",
            "maxAttempts:",
        ),
        (
            with(base(p), "concurrency", json!(0)),
            "INVALID_INPUT",
            "concurrency:",
        ),
        (
            with(base(p), "notify", json!({"webhook": "ftp://example.com/x"})),
            "INVALID_INPUT",
            "notify.webhook:",
        ),
        (
            with(base(p), "notify", json!({"emails": ["ops@"]})),
            "INVALID_INPUT",
            "notify.emails:",
        ),
        (
            with(base(p), "runAsToken", json!("vt_not_a_token")),
            "INVALID_INPUT",
            "runAsToken: not a valid API token",
        ),
        (with(base(p), "name", json!("")), "INVALID_INPUT", "name:"),
    ];
    for (input, want_code, want_message) in cases {
        let r = f.s.gql(&f.eddy.auth, CREATE, json!({"i": input})).await;
        assert_eq!(code(&r), want_code, "{input}: {r}");
        assert!(
            message(&r).starts_with(want_message),
            "{input}: expected `{want_message}`, got {r}"
        );
        // A validation error names its field for clients too, as the message does.
        let field = want_message.split(':').next().unwrap();
        let path = &r["errors"][0]["extensions"]["path"];
        if want_code == "INVALID_INPUT" && !field.contains(' ') {
            assert_eq!(path, field, "{input}: {r}");
        }
    }
    // A kind GraphQL does not know is refused by the schema itself.
    let r = s
        .gql(
            &f.eddy.auth,
            CREATE,
            json!({"i": with(base(p), "actions", json!([{"kind": "EXPLODE"}]))}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT");
    // A person's token cannot be a task's identity.
    let eddy_session = s.session("eddy", PASSWORD).await;
    let r = s
        .gql(
            &eddy_session,
            "mutation{createApiToken(name:\"mine\"){token}}",
            json!({}),
        )
        .await;
    let mine = data(&r)["createApiToken"]["token"].clone();
    let r = s
        .gql(
            &f.eddy.auth,
            CREATE,
            json!({"i": with(base(p), "runAsToken", mine)}),
        )
        .await;
    assert!(
        message(&r).starts_with("runAsToken: the token belongs to a person"),
        "{r}"
    );
    // Nothing was stored.
    let r = s
        .gql(&f.admin.auth, "{tasks{edges{node{id}}}}", json!({}))
        .await;
    assert_eq!(data(&r)["tasks"]["edges"], json!([]));
    // The valid one is stored, once per name.
    create_task(s, &f.eddy, base(p)).await;
    let r = s.gql(&f.eddy.auth, CREATE, json!({"i": base(p)})).await;
    assert_eq!(code(&r), "CONFLICT");
}

#[tokio::test]
async fn only_editors_schedule_and_tasks_are_private_to_their_owner() {
    let f = fleet(1, 0, &[]).await;
    let s = &f.s;
    let (p, _) = &f.projects[0];
    let vic = s.user(&f.admin, "vic").await;
    data(
        &s.grant(
            &f.admin,
            &format!("user:{}", vic.id),
            &format!("folder:{}", f.folder),
            "VIEWER",
        )
        .await,
    );
    // A viewer may not schedule a refresh of the project, nor anything over the folder.
    let r = s.gql(&vic.auth, CREATE, json!({"i": base(p)})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("refresh needs the EDITOR role"), "{r}");
    let r = s
        .gql(
            &vic.auth,
            CREATE,
            json!({"i": with(base(p), "target", json!({"folderId": f.folder}))}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    // The schedule ability switched off refuses even the editor.
    let ability =
        "mutation($p:ID!,$e:Boolean){setProjectAbility(id:$p,ability:SCHEDULE,enabled:$e){id}}";
    data(
        &s.gql(&f.admin.auth, ability, json!({"p": p, "e": false}))
            .await,
    );
    let r = s.gql(&f.eddy.auth, CREATE, json!({"i": base(p)})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("schedule ability"), "{r}");
    data(
        &s.gql(&f.admin.auth, ability, json!({"p": p, "e": null}))
            .await,
    );
    // The editor may; the task is theirs (and the admins').
    let task = create_task(s, &f.eddy, base(p)).await;
    for q in [
        "query($t:ID!){task(id:$t){id}}",
        "mutation($t:ID!){runTaskNow(id:$t){id}}",
        "mutation($t:ID!){pauseTask(id:$t){id}}",
        "mutation($t:ID!){deleteTask(id:$t)}",
    ] {
        let r = s.gql(&vic.auth, q, json!({"t": task})).await;
        assert_eq!(code(&r), "NOT_FOUND", "{q}: {r}");
    }
    let r = s
        .gql(&vic.auth, "{tasks{edges{node{id}}}}", json!({}))
        .await;
    assert_eq!(data(&r)["tasks"]["edges"], json!([]));
    let r = s
        .gql(&f.admin.auth, "{tasks{edges{node{id name}}}}", json!({}))
        .await;
    assert_eq!(data(&r)["tasks"]["edges"][0]["node"]["id"], task.as_str());
    // A read-only token cannot change tasks.
    let eddy_session = s.session("eddy", PASSWORD).await;
    let r = s
        .gql(
            &eddy_session,
            "mutation{createApiToken(name:\"ro\",readOnly:true){token}}",
            json!({}),
        )
        .await;
    let ro = Auth::Bearer(data(&r)["createApiToken"]["token"].as_str().unwrap().into());
    let r = s
        .gql(
            &ro,
            "mutation($t:ID!){runTaskNow(id:$t){id}}",
            json!({"t": task}),
        )
        .await;
    assert_eq!(code(&r), "TOKEN_REJECTED");
    let r = s
        .gql(
            &f.eddy.auth,
            "mutation($t:ID!){deleteTask(id:$t)}",
            json!({"t": task}),
        )
        .await;
    assert_eq!(data(&r)["deleteTask"], true);
    let r = s
        .gql(
            &f.eddy.auth,
            "query($t:ID!){task(id:$t){id}}",
            json!({"t": task}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND");
}

#[tokio::test]
async fn a_task_runs_as_a_service_account_until_its_token_is_revoked() {
    let f = fleet(2, 0, &[]).await;
    let s = &f.s;
    let (p1, _) = &f.projects[0];
    let (p2, _) = &f.projects[1];
    let robot = s.service_account(&f.admin, "robot").await;
    let admin_session = s.session("admin", ADMIN_PASSWORD).await;
    let r = s
        .gql(
            &admin_session,
            "mutation($u:ID){createApiToken(name:\"scheduler\",userId:$u){token apiToken{id}}}",
            json!({"u": robot}),
        )
        .await;
    let token = data(&r)["createApiToken"]["token"].clone();
    let token_id = data(&r)["createApiToken"]["apiToken"]["id"].clone();
    data(
        &s.grant(
            &f.admin,
            &format!("user:{robot}"),
            &format!("project:{p1}"),
            "EDITOR",
        )
        .await,
    );
    // The robot has no role on P02: a task for it there is refused when saved.
    let r = s
        .gql(
            &f.eddy.auth,
            CREATE,
            json!({"i": with(with(base(p2), "runAsToken", token.clone()), "name", json!("Robot P02"))}),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    assert!(message(&r).starts_with("target.project:"), "{r}");
    let r = s
        .gql(
            &f.eddy.auth,
            CREATE,
            json!({"i": with(base(p1), "runAsToken", token)}),
        )
        .await;
    assert_eq!(data(&r)["createTask"]["runsAsServiceAccount"], true);
    let task = data(&r)["createTask"]["id"].as_str().unwrap().to_owned();
    let run = run_now(s, &f.eddy, &task).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // The workflow run was requested by the robot, not by the task's owner.
    let r = s
        .gql(
            &f.admin.auth,
            "query($p:ID!){workflowRuns(projectId:$p,last:5){requestedById}}",
            json!({"p": p1}),
        )
        .await;
    assert_eq!(data(&r)["workflowRuns"][0]["requestedById"], robot.as_str());
    // Revoked: the next run does nothing and says why.
    data(
        &s.gql(
            &f.admin.auth,
            "mutation($t:ID!){revokeApiToken(id:$t){id}}",
            json!({"t": token_id}),
        )
        .await,
    );
    let run = run_now(s, &f.eddy, &task).await;
    let done = wait_run(s, &f.eddy, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "skipped", "{done}");
    assert!(
        done["message"].as_str().unwrap().contains("was revoked"),
        "{done}"
    );
    assert_eq!(refreshes(s, &f.admin, p1).await, 1);
    // A task running as its owner stops when the owner is disabled.
    let own = create_task(s, &f.eddy, with(base(p2), "name", json!("Own"))).await;
    data(
        &s.gql(
            &f.admin.auth,
            "mutation($u:ID!){setUserDisabled(id:$u,disabled:true){id}}",
            json!({"u": f.eddy.id}),
        )
        .await,
    );
    let run = run_now(s, &f.admin, &own).await;
    let done = wait_run(s, &f.admin, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "skipped", "{done}");
    assert!(
        done["message"].as_str().unwrap().contains("is disabled"),
        "{done}"
    );
}
