//! The access-boost model (governance issue, item 6): an admin allows boost without
//! boosting anything; managers switch it on or off for folders and projects (the project
//! wins, then the nearest folder); where nothing is switched, a resource location's
//! default decides for the datasets read from it; an admin stops every boost at once.
//! Boost shows a report's tiles only: never drill-down, never past access filters.

use serde_json::{Value, json};

use super::*;
use crate::support::*;

const BOOST: &str = "mutation($s:BoostScope!,$id:ID,$on:Boolean){setAccessBoost(scope:$s,id:$id,enabled:$on){instanceBoost boostedProjects unboostedProjects boostedFolders boostedLocations}}";
const DRILL: &str = "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount}}";

#[tokio::test]
async fn boost_is_allowed_by_admins_switched_by_managers_and_defaulted_by_locations() {
    let w = data_world().await;
    let s = &w.s;
    let report = publish(s, &w.editor, &w.project).await;
    let filter = "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}";
    data(&s.gql(&w.admin.auth, filter, json!({"p": w.project})).await);
    let role = "mutation($u:ID!){setConnectionRole(userId:$u,role:VIEWER)}";
    data(&s.gql(&w.admin.auth, role, json!({"u": w.west.id})).await);
    // A manager of the project who is no admin.
    let mgr = s.user(&w.admin, "maggie").await;
    let subject = format!("user:{}", mgr.id);
    data(
        &s.grant(
            &w.admin,
            &subject,
            &format!("project:{}", w.project),
            "MANAGER",
        )
        .await,
    );

    let rows = || async {
        let r = s
            .gql(&w.west.auth, TILE, json!({"r": report, "t": "rows"}))
            .await;
        if r["errors"].is_array() {
            return Err(code(&r));
        }
        Ok(data(&r)["tileResult"]["rows"].clone())
    };
    let set = |who: &Actor, scope: &str, id: Option<&str>, on: Value| {
        let vars = json!({"s": scope, "id": id, "on": on});
        let auth = who.auth.clone();
        async move { s.gql(&auth, BOOST, vars).await }
    };
    let project = Some(w.project.as_str());
    // The row-level tile is above West's connection role.
    assert_eq!(rows().await.unwrap_err(), "FORBIDDEN");

    // Not allowed yet: no manager switches it on, and only admins allow it.
    let r = set(&mgr, "PROJECT", project, json!(true)).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(message(&r).contains("not allowed"), "{r}");
    let r = set(&mgr, "INSTANCE", None, json!(true)).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = set(&w.admin, "INSTANCE", None, json!(true)).await;
    assert_eq!(data(&r)["setAccessBoost"]["instanceBoost"], true);
    // Allowing boosts nothing by itself.
    assert_eq!(rows().await.unwrap_err(), "FORBIDDEN");

    // The manager switches it on: West sees the tile, and still only West's rows.
    let r = set(&w.editor, "PROJECT", project, json!(true)).await;
    assert_eq!(code(&r), "FORBIDDEN", "editors do not switch boost: {r}");
    let r = set(&mgr, "PROJECT", project, json!(true)).await;
    assert_eq!(
        data(&r)["setAccessBoost"]["boostedProjects"],
        json!([w.project])
    );
    let seen = rows().await.unwrap();
    assert!(!seen.as_array().unwrap().is_empty());
    assert!(
        seen.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{seen}"
    );
    // Drill-down is a row-level query, never boosted.
    let r = s.gql(&w.west.auth, DRILL, json!({"r": report})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");

    // An admin stops every boost at the next request; the switches stay for later.
    let r = set(&w.admin, "INSTANCE", None, json!(false)).await;
    assert_eq!(
        data(&r)["setAccessBoost"]["boostedProjects"],
        json!([w.project])
    );
    assert_eq!(rows().await.unwrap_err(), "FORBIDDEN");
    data(&set(&w.admin, "INSTANCE", None, json!(true)).await);
    assert!(rows().await.is_ok());

    // Cleared, the project inherits: from a folder's switch, then a location's default.
    data(&set(&mgr, "PROJECT", project, Value::Null).await);
    assert_eq!(rows().await.unwrap_err(), "FORBIDDEN");
    let folder = Some(w.folder.as_str());
    data(&set(&w.admin, "FOLDER", folder, json!(true)).await);
    assert!(rows().await.is_ok());
    data(&set(&w.admin, "FOLDER", folder, Value::Null).await);
    let r = set(&mgr, "LOCATION", Some("files"), json!(true)).await;
    assert_eq!(
        code(&r),
        "FORBIDDEN",
        "only admins set a location's default: {r}"
    );
    let r = set(&w.admin, "LOCATION", Some("nowhere"), json!(true)).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    let r = set(&w.admin, "LOCATION", Some("files"), Value::Null).await;
    assert_eq!(code(&r), "INVALID_INPUT", "{r}");
    let r = set(&w.admin, "LOCATION", Some("files"), json!(true)).await;
    assert_eq!(
        data(&r)["setAccessBoost"]["boostedLocations"],
        json!(["files"])
    );
    let seen = rows().await.unwrap();
    assert!(
        seen.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{seen}"
    );
    // The project's own "off" wins over the location's default.
    let r = set(&mgr, "PROJECT", project, json!(false)).await;
    assert_eq!(
        data(&r)["setAccessBoost"]["unboostedProjects"],
        json!([w.project])
    );
    assert_eq!(rows().await.unwrap_err(), "FORBIDDEN");

    // Each change is audited with what it did.
    let q = "{auditEvents(first:3,filter:{actionPrefix:\"access_boost\"}){nodes{object detail}}}";
    let r = s.gql(&w.admin.auth, q, json!({})).await;
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][0],
        json!({"object": format!("project:{}", w.project), "detail": "off"})
    );
    assert_eq!(
        data(&r)["auditEvents"]["nodes"][1],
        json!({"object": "location:files", "detail": "on"})
    );
}
