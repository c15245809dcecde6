//! Requests the server makes on a user's behalf reach public addresses only, and tasks
//! cannot be turned into a way to reach anywhere, anyone, or forever. Traffic stays on
//! this machine: the refusals are proven with loopback names, the other private ranges
//! by the address check's unit tests.

use serde_json::{Value, json};

use crate::support::*;
use crate::tasks::{CREATE, fleet_with};

const COPY: &str =
    "mutation($l:String,$f:ID!){createWorkingCopy(link:$l,folderId:$f,name:\"X\"){id}}";

/// A listener on 127.0.0.1 that answers every request with a redirect to `to`.
async fn redirector(to: String) -> u16 {
    use poem::{EndpointExt, Response, Route, handler, http::StatusCode, web::Data};
    #[handler]
    fn go(to: Data<&String>) -> Response {
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", to.0.as_str())
            .finish()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Route::new().at("/*path", go).data(to);
    tokio::spawn(async move {
        poem::Server::new_with_acceptor(poem::listener::TcpAcceptor::from_tokio(listener).unwrap())
            .run(app)
            .await
    });
    port
}

#[tokio::test]
async fn working_copy_links_to_loopback_are_refused_unless_allowed_redirects_included() {
    let s = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "localhost")]).await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Copies").await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    for link in [
        format!("http://127.0.0.1:{port}/wc/vwc_abc"),
        format!("http://[::1]:{port}/wc/vwc_abc"),
    ] {
        let r = s
            .gql(&admin.auth, COPY, json!({"l": link, "f": folder}))
            .await;
        assert_eq!(code(&r), "OUTBOUND_REFUSED", "{link}: {r}");
        assert!(!message(&r).contains("vwc_abc"), "{r}");
    }
    // `localhost` is allowed by name; it redirects to 127.0.0.1, which is not.
    let target = format!("http://127.0.0.1:{port}/wc/api/head");
    let hop = redirector(target).await;
    let r = s
        .gql(
            &admin.auth,
            COPY,
            json!({"l": format!("http://localhost:{hop}/wc/vwc_abc"), "f": folder}),
        )
        .await;
    assert_eq!(code(&r), "OUTBOUND_REFUSED", "{r}");
}

#[tokio::test]
async fn names_that_resolve_to_loopback_are_refused() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Copies").await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let r = s
        .gql(
            &admin.auth,
            COPY,
            json!({"l": format!("http://localhost:{port}/wc/vwc_abc"), "f": folder}),
        )
        .await;
    assert_eq!(code(&r), "OUTBOUND_REFUSED", "{r}");
}

fn task(project: &str, extra: Value) -> Value {
    let mut t = json!({
        "name": "T",
        "trigger": {"cron": "0 6 * * *"},
        "target": {"projectId": project},
        "actions": [{"kind": "REFRESH"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

#[tokio::test]
async fn tasks_cannot_reach_private_hosts_strangers_or_loop_forever() {
    let s = TestServer::start_env(&[("VITRINE_MIN_TASK_INTERVAL_SECS", "60")]).await;
    let f = fleet_with(s, 1, 0, &[]).await;
    let s = &f.s;
    let (p, _) = &f.projects[0];
    let create = |who: &Actor, input: Value| {
        let auth = who.auth.clone();
        async move { s.gql(&auth, CREATE, json!({"i": input})).await }
    };
    // Webhooks to loopback are refused when the task is saved.
    let r = create(
        &f.eddy,
        task(p, json!({"notify": {"webhook": "http://127.0.0.1:9/hook"}})),
    )
    .await;
    assert_eq!(code(&r), "OUTBOUND_REFUSED", "{r}");
    // Schedules faster than the instance's floor are refused.
    let r = create(
        &f.eddy,
        task(p, json!({"trigger": {"cron": "* * * * * *"}})),
    )
    .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("at most every 60 s"), "{r}");
    let r = create(
        &f.eddy,
        task(
            p,
            json!({"name": "Five", "trigger": {"cron": "*/5 * * * *"}}),
        ),
    )
    .await;
    data(&r);

    // A viewer with the schedule ability delivers to their own address only.
    let r = s
        .gql(
            &f.admin.auth,
            "mutation($u:String!,$p:String!){createUser(username:$u,password:$p,email:\"vic@example.com\"){id}}",
            json!({"u": "vic", "p": PASSWORD}),
        )
        .await;
    let vic_id = data(&r)["createUser"]["id"].as_str().unwrap().to_owned();
    data(
        &s.grant(
            &f.admin,
            &format!("user:{vic_id}"),
            &format!("project:{p}"),
            "VIEWER",
        )
        .await,
    );
    let vic = Actor {
        id: vic_id,
        username: "vic".into(),
        auth: s.token_for("vic", PASSWORD).await,
    };
    let deliver = |to: &str| {
        task(
            p,
            json!({"name": format!("To {to}"), "actions": [{"kind": "DELIVER", "report": "Sales", "recipients": [to]}]}),
        )
    };
    let r = create(&vic, deliver("anyone@elsewhere.example")).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = create(&vic, deliver("vic@example.com")).await;
    data(&r);

    // A runs B, then B is changed to run A: refused.
    let a = data(&create(&f.eddy, task(p, json!({"name": "A"}))).await)["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = data(
        &create(
            &f.eddy,
            task(
                p,
                json!({"name": "B", "actions": [{"kind": "RUN_TASK", "taskId": a}]}),
            ),
        )
        .await,
    )["createTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .gql(
            &f.eddy.auth,
            "mutation($t:ID!,$i:TaskInput!){updateTask(id:$t,input:$i){id}}",
            json!({"t": a, "i": task(p, json!({"name": "A", "actions": [{"kind": "RUN_TASK", "taskId": b}]}))}),
        )
        .await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    assert!(message(&r).contains("cycle"), "{r}");
}
