//! Data connections through the real server: an admin defines one (its password sealed,
//! never answered), workflows read it with a `database_source` block, connection roles
//! per connection decide who writes, runs and sees what, bad reads fail the run without
//! losing what was published, and a working copy on a second instance reads its own
//! database through the same parameter while a push keeps each side's choice.

use serde_json::{Value, json};

use super::World;
use crate::bundles::download;
use crate::copies::{PULL, PUSH, working_copy};
use crate::support::*;

pub(super) const PASSWORD: &str = "reader-pw";
pub(super) const CREATE: &str = "mutation($i:DataConnectionInput!){createDataConnection(input:$i){id name host port database user tls hasPassword grants{subjectKind subjectId role}}}";
const UPDATE: &str = "mutation($id:ID!,$i:DataConnectionInput!){updateDataConnection(id:$id,input:$i){id hasPassword}}";
const TEST: &str = "mutation($id:ID!){testDataConnection(id:$id){version tls}}";
pub(super) const ROLE: &str = "mutation($id:ID!,$u:ID!,$r:ConnectionRole){setDataConnectionRole(id:$id,subjectKind:USER,subjectId:$u,role:$r){grants{subjectId role}}}";
pub(super) const SAVE: &str = "mutation($p:ID!,$w:JSON!,$db:String!){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"db\",value:$db}]){version}}";
pub(super) const RUN: &str = "mutation($p:ID!){runWorkflow(projectId:$p,wait:true){status blocks{block status rows error{code message}}}}";
pub(super) const DATASETS: &str = "query($p:ID!){datasets(projectId:$p){name rows connections}}";
const WORKFLOW: &str = "query($p:ID!){workflow(projectId:$p){parameters{name value}}}";
pub(super) const REPORT: &str =
    "mutation($p:ID!,$d:JSON!){createReport(projectId:$p,name:\"Orders\",definition:$d){id}}";
/// Everything at debug level but the embedded database's own storage engine.
const DEBUG_LOG: &str = "debug,surrealdb=warn,surrealkv=warn,surrealdb_core=warn";
pub(super) const TILE: &str = "query($r:ID!,$t:String!){tileResult(reportId:$r,tileId:$t){rows}}";

/// A `shop`-like database `name` with `orders` of `rows` rows (region East or West).
pub(super) async fn orders_db(w: &World, name: &str, rows: u32) {
    w.sql("postgres", &format!("CREATE DATABASE {name}")).await;
    w.sql(
        name,
        &format!(
            "CREATE TABLE orders (order_id int PRIMARY KEY, region text, sales numeric(10,2));
             INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'East' ELSE 'West' END, g * 1.5
               FROM generate_series(1, {rows}) g;
             GRANT CONNECT ON DATABASE {name} TO reader;
             GRANT SELECT ON orders TO reader;"
        ),
    )
    .await;
}

pub(super) fn connection_input(w: &World, name: &str, database: &str, password: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": w.pg.port, "database": database,
           "user": "reader", "password": password, "tls": "disable"})
}

pub(super) async fn create(s: &TestServer, admin: &Actor, input: Value) -> Value {
    let r = s.gql(&admin.auth, CREATE, json!({"i": input})).await;
    data(&r)["createDataConnection"].clone()
}

/// A workflow reading `orders` through the connection parameter `db`, by table or by
/// query, and publishing it.
pub(super) fn workflow(read: Value) -> Value {
    let mut config = json!({"connection": "${db}"});
    config
        .as_object_mut()
        .unwrap()
        .extend(read.as_object().unwrap().clone());
    json!({"blocks": [
        {"id": "src", "kind": "database_source", "config": config},
        {"id": "out", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "src"}},
    ]})
}

pub(super) fn table() -> Value {
    json!({"table": "public.orders"})
}

pub(super) fn report() -> Value {
    json!({"tabs": [{"id": "t", "title": "Orders", "tiles": [
        {"id": "by_region", "title": "By region", "kind": "bar",
         "query": {"dataset": "orders", "dimensions": ["region"], "measures": [{"column": "sales", "function": "sum", "name": "sales"}]}},
        {"id": "rows", "title": "Rows", "kind": "table",
         "query": {"dataset": "orders", "dimensions": ["order_id", "region"], "limit": 5}}
    ]}]})
}

pub(super) async fn orders(s: &TestServer, who: &Actor, project: &str) -> Value {
    let r = s.gql(&who.auth, DATASETS, json!({"p": project})).await;
    data(&r)["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "orders")
        .cloned()
        .unwrap_or(Value::Null)
}

pub(super) async fn run(s: &TestServer, who: &Actor, project: &str) -> Value {
    s.gql(&who.auth, RUN, json!({"p": project})).await
}

/// Runs the project's workflow, which must succeed; the whole answer.
pub(super) async fn run_succeeds(s: &TestServer, who: &Actor, project: &str) -> Value {
    let r = run(s, who, project).await;
    assert_eq!(data(&r)["runWorkflow"]["status"], "succeeded", "{r}");
    r
}

/// Saves `wf` with the connection parameter `db`; the whole answer.
pub(super) async fn save_workflow(
    s: &TestServer,
    who: &Actor,
    project: &str,
    wf: &Value,
    db: &str,
) -> Value {
    s.gql(&who.auth, SAVE, json!({"p": project, "w": wf, "db": db}))
        .await
}

pub(super) fn block_error(run: &Value) -> String {
    data(run)["runWorkflow"]["blocks"][0]["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn connection_roles_decide_who_writes_runs_and_sees_and_the_password_never_shows() {
    let w = World::start().await;
    orders_db(&w, "sales", 6).await;
    // At debug level, so the log check below covers what is logged in detail too.
    let s = TestServer::start_env(&[("VITRINE_LOG", DEBUG_LOG)]).await;
    let admin = s.admin().await;
    let folder = s.folder(&admin, None, "Data").await;
    let (project, _) = s.project(&admin, &folder, "Orders").await;
    let editor = s.user(&admin, "eddie").await;
    let viewer = s.user(&admin, "vera").await;
    for (who, role) in [(&editor, "EDITOR"), (&viewer, "VIEWER")] {
        data(
            &s.grant(
                &admin,
                &format!("user:{}", who.id),
                &format!("project:{project}"),
                role,
            )
            .await,
        );
    }

    // Bad settings are refused with what is wrong, and nothing is stored.
    for (field, bad) in [
        ("kind", json!("mysql")),
        ("tls", json!("sometimes")),
        ("host", json!("")),
    ] {
        let mut input = connection_input(&w, "bad", "sales", PASSWORD);
        input[field] = bad;
        let r = s.gql(&admin.auth, CREATE, json!({"i": input})).await;
        assert_eq!(code(&r), "INVALID_INPUT", "{field}: {r}");
    }
    let r = s
        .gql(
            &editor.auth,
            CREATE,
            json!({"i": connection_input(&w, "mine", "sales", PASSWORD)}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    let c = create(
        &s,
        &admin,
        connection_input(&w, "sales_db", "sales", PASSWORD),
    )
    .await;
    assert_eq!(c["hasPassword"], true);
    assert_eq!(c["tls"], "disable");
    let id = c["id"].as_str().unwrap().to_owned();
    let t = s.gql(&admin.auth, TEST, json!({"id": id})).await;
    assert!(
        data(&t)["testDataConnection"]["version"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL "),
        "{t}"
    );
    assert_eq!(
        code(&s.gql(&editor.auth, TEST, json!({"id": id})).await),
        "FORBIDDEN"
    );
    // A wrong password: a clear error naming the user, never a password.
    let wrong = create(
        &s,
        &admin,
        connection_input(&w, "wrong_db", "sales", "not-the-password"),
    )
    .await;
    let t = s.gql(&admin.auth, TEST, json!({"id": wrong["id"]})).await;
    assert_eq!(code(&t), "SOURCE_CONNECT_FAILED", "{t}");
    assert!(message(&t).contains("reader") && !message(&t).contains("not-the-password"));

    // Writing a source block takes a connection role on its connection.
    let role = |who: &Actor, r: Option<&str>| {
        let vars = json!({"id": id, "u": who.id, "r": r});
        let s = &s;
        let admin = &admin;
        async move { data(&s.gql(&admin.auth, ROLE, vars).await).clone() }
    };
    let save = |read: Value| {
        let (s, editor, project) = (&s, &editor, &project);
        async move { save_workflow(s, editor, project, &workflow(read), "sales_db").await }
    };
    role(&editor, Some("VIEWER")).await;
    let r = save(table()).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("RESTRICTED_QUERIER"), "{r}");
    role(&editor, Some("RESTRICTED_QUERIER")).await;
    data(&save(table()).await);
    let free_sql = json!({"query": "SELECT * FROM orders WHERE sales > 0"});
    let r = save(free_sql.clone()).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("free SQL"), "{r}");
    let r = save_workflow(&s, &editor, &project, &workflow(table()), "no_such_db").await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    role(&editor, Some("QUERIER")).await;
    data(&save(free_sql).await);
    run_succeeds(&s, &editor, &project).await;
    let d = orders(&s, &admin, &project).await;
    assert_eq!(d["rows"], 6);
    assert_eq!(d["connections"], json!(["sales_db"]));
    let report = data(
        &s.gql(&editor.auth, REPORT, json!({"p": project, "d": report()}))
            .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A lowered role stops the next run.
    role(&editor, Some("RESTRICTED_QUERIER")).await;
    assert_eq!(code(&run(&s, &editor, &project).await), "FORBIDDEN");

    // Viewing: the viewer's role on the connection the dataset was read through.
    let tile = |who: &Actor, t: &str| {
        let vars = json!({"r": report, "t": t});
        let s = &s;
        let auth = who.auth.clone();
        async move { s.gql(&auth, TILE, vars).await }
    };
    assert_eq!(
        data(&tile(&viewer, "rows").await)["tileResult"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    role(&viewer, Some("VIEWER")).await;
    data(&tile(&viewer, "by_region").await);
    assert_eq!(code(&tile(&viewer, "rows").await), "FORBIDDEN");
    role(&viewer, Some("NO_ACCESS")).await;
    assert_eq!(code(&tile(&viewer, "by_region").await), "FORBIDDEN");
    // No access hides the data from editors too; removing the grant restores the
    // instance-wide role (QUERIER by default).
    role(&editor, Some("NO_ACCESS")).await;
    assert_eq!(code(&tile(&editor, "by_region").await), "FORBIDDEN");
    let granted = role(&editor, None).await;
    assert!(
        !granted["setDataConnectionRole"]["grants"]
            .to_string()
            .contains(&editor.id)
    );
    data(&tile(&editor, "rows").await);
    role(&viewer, None).await;

    // Bad reads fail the run with their own code; what was published stays.
    let bad_reads = [
        (
            json!({"query": "SELECT * FROM no_such_table"}),
            "SOURCE_QUERY_FAILED",
        ),
        (
            json!({"query": "SELECT point(1, 2) AS p"}),
            "SOURCE_TYPE_UNSUPPORTED",
        ),
    ];
    for (read, expected) in bad_reads {
        data(&save(read).await);
        let r = run(&s, &editor, &project).await;
        assert_eq!(data(&r)["runWorkflow"]["status"], "failed", "{r}");
        assert_eq!(block_error(&r), expected, "{r}");
        assert_eq!(orders(&s, &admin, &project).await["rows"], 6);
    }
    data(&save(table()).await);
    for (host, port, password, expected) in [
        (
            "127.0.0.1",
            w.pg.port,
            "wrong-password-1",
            "SOURCE_CONNECT_FAILED",
        ),
        ("127.0.0.1", 1, PASSWORD, "SOURCE_CONNECT_FAILED"),
    ] {
        let mut input = connection_input(&w, "sales_db", "sales", password);
        input["host"] = json!(host);
        input["port"] = json!(port);
        data(
            &s.gql(&admin.auth, UPDATE, json!({"id": id, "i": input}))
                .await,
        );
        let r = run(&s, &editor, &project).await;
        assert_eq!(block_error(&r), expected, "{r}");
        assert!(!r.to_string().contains("wrong-password-1"), "{r}");
        assert_eq!(orders(&s, &admin, &project).await["rows"], 6);
    }
    // Without `password` an update keeps the stored one.
    let mut input = connection_input(&w, "sales_db", "sales", PASSWORD);
    data(
        &s.gql(&admin.auth, UPDATE, json!({"id": id, "i": input.clone()}))
            .await,
    );
    input.as_object_mut().unwrap().remove("password");
    let r = s
        .gql(&admin.auth, UPDATE, json!({"id": id, "i": input}))
        .await;
    assert_eq!(data(&r)["updateDataConnection"]["hasPassword"], true);
    run_succeeds(&s, &editor, &project).await;

    // The password is nowhere a client, an auditor or a bundle sees.
    let listed = s
        .gql(
            &admin.auth,
            "{dataConnections{name hasPassword}}",
            json!({}),
        )
        .await;
    let audit = s
        .gql(
            &admin.auth,
            "{auditEvents(first:100){edges{node{action object detail}}}}",
            json!({}),
        )
        .await;
    assert!(audit.to_string().contains("CONNECTION_CREATE"), "{audit}");
    let r = s
        .gql(
            &admin.auth,
            "mutation($p:ID!){exportProjectBundle(projectId:$p){url}}",
            json!({"p": project}),
        )
        .await;
    let url = data(&r)["exportProjectBundle"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, bundle) = download(&s, &admin.auth, &url).await;
    assert_eq!(status, 200);
    for (what, text) in [
        ("the API", listed.to_string()),
        ("the audit trail", audit.to_string()),
        ("the bundle", String::from_utf8_lossy(&bundle).into_owned()),
    ] {
        assert!(!text.contains(PASSWORD), "{what} shows the password");
    }
    // Nor the server's log, at debug level, where the failed reads above were logged
    // with the connection's user and host.
    let log = s.log();
    assert!(
        log.contains("block failed") && log.contains("reader"),
        "the failed reads were not logged:\n{log}"
    );
    for password in [PASSWORD, "not-the-password", "wrong-password-1"] {
        assert!(
            !log.contains(password),
            "the log shows a password ({password})"
        );
    }
    // Nor the data directory: the database keeps it sealed.
    let (_, dir) = s.stop().await;
    let dir = dir.expect("the test server's data directory");
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|x| x == PASSWORD.as_bytes()),
            "{} holds the password in the clear",
            file.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn parameter(r: &Value, name: &str) -> String {
    data(r)["workflow"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_working_copy_on_a_second_instance_reads_its_own_database_and_push_keeps_each_choice() {
    let w = World::start().await;
    orders_db(&w, "prod", 8).await;
    orders_db(&w, "test", 3).await;
    // Production: its connection, a project reading it through `db`.
    let a = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let a_admin = a.admin().await;
    create(
        &a,
        &a_admin,
        connection_input(&w, "prod_db", "prod", PASSWORD),
    )
    .await;
    let folder = a.folder(&a_admin, None, "Sales").await;
    let (project, _) = a.project(&a_admin, &folder, "Orders").await;
    let wf = workflow(table());
    data(&save_workflow(&a, &a_admin, &project, &wf, "prod_db").await);
    run_succeeds(&a, &a_admin, &project).await;
    assert_eq!(orders(&a, &a_admin, &project).await["rows"], 8);

    // Test instance: its own connection to the test database, a working copy.
    let b = TestServer::start_env(&[("VITRINE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let b_admin = b.admin().await;
    create(
        &b,
        &b_admin,
        connection_input(&w, "test_db", "test", PASSWORD),
    )
    .await;
    let b_folder = b.folder(&b_admin, None, "Staging").await;
    let r = a
        .gql(
            &a_admin.auth,
            "mutation($p:ID!){createWorkingCopyLink(projectId:$p,expiresInHours:2,allowPush:true){url}}",
            json!({"p": project}),
        )
        .await;
    let link = data(&r)["createWorkingCopyLink"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let copy = working_copy(
        &b,
        &b_admin,
        json!({"l": link, "f": b_folder, "n": "Orders (test)"}),
    )
    .await;
    // The copy chooses the test database, and changes the workflow.
    let changed = workflow(json!({"query": "SELECT * FROM orders WHERE sales > 2"}));
    data(&save_workflow(&b, &b_admin, &copy, &changed, "test_db").await);
    run_succeeds(&b, &b_admin, &copy).await;
    let d = orders(&b, &b_admin, &copy).await;
    assert_eq!(
        (d["rows"].clone(), d["connections"].clone()),
        (json!(2), json!(["test_db"]))
    );

    // Push: production takes the workflow, keeps its connection and its own rows.
    let r = b.gql(&b_admin.auth, PUSH, json!({"p": copy})).await;
    assert!(
        data(&r)["pushWorkingCopy"]["revisions"].as_i64().unwrap() >= 1,
        "{r}"
    );
    let params = a.gql(&a_admin.auth, WORKFLOW, json!({"p": project})).await;
    assert_eq!(parameter(&params, "db"), "prod_db");
    let d = orders(&a, &a_admin, &project).await;
    assert_eq!(
        (d["rows"].clone(), d["connections"].clone()),
        (json!(8), json!(["prod_db"]))
    );
    // Its next run reads production with the pushed query (sales > 2 leaves 7 of 8).
    run_succeeds(&a, &a_admin, &project).await;
    assert_eq!(orders(&a, &a_admin, &project).await["rows"], 7);

    // Pull: the copy takes production's latest and keeps the test database.
    data(&save_workflow(&a, &a_admin, &project, &wf, "prod_db").await);
    let r = b.gql(&b_admin.auth, PULL, json!({"p": copy})).await;
    data(&r);
    let params = b.gql(&b_admin.auth, WORKFLOW, json!({"p": copy})).await;
    assert_eq!(parameter(&params, "db"), "test_db");
    run_succeeds(&b, &b_admin, &copy).await;
    assert_eq!(orders(&b, &b_admin, &copy).await["rows"], 3);
}
