//! An app-wide (instance) parameter may hold a connection: it overrides the project's own
//! value of the same name, the run reads the connection it names, and the connection
//! roles checked are those of the connection actually read, not of the one the
//! project's text names.

use serde_json::{Value, json};

use super::World;
use super::connections::{
    PASSWORD, ROLE, block_error, connection_input, create, orders, orders_db, run, run_succeeds,
    save_workflow, table, workflow,
};
use crate::support::*;

const SET: &str =
    "mutation($v:[ParameterInput!]!){setInstanceParameters(parameters:$v){name value}}";

async fn set_instance(s: &TestServer, admin: &Actor, values: Value) -> Value {
    s.gql(&admin.auth, SET, json!({"v": values})).await
}

#[tokio::test]
async fn an_app_wide_parameter_chooses_the_connection_and_its_roles_are_the_ones_checked() {
    let w = World::start().await;
    orders_db(&w, "sales", 6).await;
    orders_db(&w, "archive", 4).await;
    let s = TestServer::start().await;
    let admin = s.admin().await;
    create(
        &s,
        &admin,
        connection_input(&w, "sales_db", "sales", PASSWORD),
    )
    .await;
    let archive = create(
        &s,
        &admin,
        connection_input(&w, "archive_db", "archive", PASSWORD),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let folder = s.folder(&admin, None, "Data").await;
    let (project, _) = s.project(&admin, &folder, "Orders").await;
    let editor = s.user(&admin, "eddie").await;
    data(
        &s.grant(
            &admin,
            &format!("user:{}", editor.id),
            &format!("project:{project}"),
            "EDITOR",
        )
        .await,
    );
    data(&save_workflow(&s, &admin, &project, &workflow(table()), "sales_db").await);
    run_succeeds(&s, &editor, &project).await;
    assert_eq!(orders(&s, &admin, &project).await["rows"], 6);

    // Only admins set app-wide parameters.
    let r = set_instance(&s, &editor, json!([{"name": "db", "value": "archive_db"}])).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // The app-wide `db` wins over the project's: the run reads the archive.
    data(&set_instance(&s, &admin, json!([{"name": "db", "value": "archive_db"}])).await);
    run_succeeds(&s, &editor, &project).await;
    let d = orders(&s, &admin, &project).await;
    assert_eq!(
        (d["rows"].clone(), d["connections"].clone()),
        (json!(4), json!(["archive_db"]))
    );

    // No access on the archive: the editor may neither run nor save, though the
    // project's own text still names `sales_db`, where their role is unchanged.
    data(
        &s.gql(
            &admin.auth,
            ROLE,
            json!({"id": archive, "u": editor.id, "r": "NO_ACCESS"}),
        )
        .await,
    );
    let r = run(&s, &editor, &project).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("archive_db"), "{r}");
    let r = save_workflow(&s, &editor, &project, &workflow(table()), "sales_db").await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(orders(&s, &admin, &project).await["rows"], 4);

    // An app-wide value naming no connection fails the run clearly; what was published stays.
    data(&set_instance(&s, &admin, json!([{"name": "db", "value": "gone_db"}])).await);
    let r = run(&s, &admin, &project).await;
    assert_eq!(code(&r), "INVALID_WORKFLOW", "{r}");
    assert!(message(&r).contains("gone_db"), "{r}");
    assert_eq!(orders(&s, &admin, &project).await["rows"], 4);

    // Without the app-wide value the project's own choice applies again.
    data(&set_instance(&s, &admin, json!([])).await);
    let r = run_succeeds(&s, &editor, &project).await;
    assert_eq!(block_error(&r), "");
    let d = orders(&s, &admin, &project).await;
    assert_eq!(
        (d["rows"].clone(), d["connections"].clone()),
        (json!(6), json!(["sales_db"]))
    );
}
