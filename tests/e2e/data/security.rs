//! Access filters, connection roles, access boost, drill-down, downloads, audit of views and warm-up.

use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test]
async fn access_filters_connection_roles_and_boost() {
    let w = data_world().await;
    let s = &w.s;
    data(
        &s.gql(
            &w.editor.auth,
            SAVE,
            json!({"p": w.project, "w": pipeline(0.0), "v": 0}),
        )
        .await,
    );
    assert_eq!(
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"]["status"],
        "succeeded"
    );
    let report = data(
        &s.gql(
            &w.editor.auth,
            REPORT,
            json!({"p": w.project, "d": report_definition()}),
        )
        .await,
    )["createReport"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set_filter = "mutation($p:ID!){setAccessFilter(projectId:$p,dataset:\"orders\",rules:[{column:\"region\",attribute:\"region\"}]){dataset}}";
    // Only managers set access filters.
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, set_filter, json!({"p": w.project}))
                .await
        ),
        "FORBIDDEN"
    );
    data(
        &s.gql(&w.admin.auth, set_filter, json!({"p": w.project}))
            .await,
    );

    let tile = |who: &Actor, t: &str| {
        let who = who.auth.clone();
        let t = t.to_owned();
        let report = report.clone();
        async move { s.gql(&who, TILE, json!({"r": report, "t": t})).await }
    };
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    assert_eq!(
        regions_of(&data(&tile(&w.east, "by_region").await)["tileResult"]),
        ["East"]
    );
    assert_eq!(
        regions_of(&data(&tile(&w.editor, "by_region").await)["tileResult"]).len(),
        4
    );
    let west_rows = data(&tile(&w.west, "rows").await)["tileResult"]["rows"].clone();
    assert!(
        west_rows.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{west_rows}"
    );

    // A viewer with no attribute sees no rows at all.
    let nobody = s.user(&w.admin, "nora").await;
    data(
        &s.grant(
            &w.admin,
            &format!("user:{}", nobody.id),
            &format!("project:{}", w.project),
            "VIEWER",
        )
        .await,
    );
    assert_eq!(
        data(&tile(&nobody, "by_region").await)["tileResult"]["rowCount"],
        0
    );

    // Connection roles: viewer sees aggregates only; no access sees nothing.
    let set_role = "mutation($u:ID!,$r:ConnectionRole){setConnectionRole(userId:$u,role:$r)}";
    data(
        &s.gql(
            &w.admin.auth,
            set_role,
            json!({"u": w.west.id, "r": "VIEWER"}),
        )
        .await,
    );
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    assert_eq!(code(&tile(&w.west, "rows").await), "FORBIDDEN");
    data(
        &s.gql(
            &w.admin.auth,
            set_role,
            json!({"u": w.west.id, "r": "NO_ACCESS"}),
        )
        .await,
    );
    assert_eq!(code(&tile(&w.west, "by_region").await), "FORBIDDEN");
    // Only admins set connection roles.
    assert_eq!(
        code(
            &s.gql(
                &w.editor.auth,
                set_role,
                json!({"u": w.east.id, "r": "QUERIER"})
            )
            .await
        ),
        "FORBIDDEN"
    );

    // Boost opens the report's tiles without widening the rows, once an admin allows it
    // and a manager switches it on (the model's details are tested in `data::boost`).
    let boost = "mutation($p:ID,$on:Boolean){setAccessBoost(scope:PROJECT,id:$p,enabled:$on){boostedProjects}}";
    assert_eq!(
        code(
            &s.gql(&w.editor.auth, boost, json!({"p": w.project, "on": true}))
                .await
        ),
        "FORBIDDEN"
    );
    let allow = "mutation{setAccessBoost(scope:INSTANCE,enabled:true){instanceBoost}}";
    data(&s.gql(&w.admin.auth, allow, json!({})).await);
    data(
        &s.gql(&w.admin.auth, boost, json!({"p": w.project, "on": true}))
            .await,
    );
    assert_eq!(
        regions_of(&data(&tile(&w.west, "by_region").await)["tileResult"]),
        ["West"]
    );
    let rows = data(&tile(&w.west, "rows").await)["tileResult"]["rows"].clone();
    assert!(
        rows.as_array().unwrap().iter().all(|r| r[1] == "West"),
        "{rows}"
    );
    // Boost does not cover drill-down, which needs a row-level connection role.
    let drill = "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount rows}}";
    assert_eq!(
        code(&s.gql(&w.west.auth, drill, json!({"r": report})).await),
        "FORBIDDEN"
    );
    // East (default role: querier) drills, still only into East's rows.
    let east_drill = s
        .gql(&w.east.auth, "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"West\"}]){rowCount}}", json!({"r": report}))
        .await;
    assert_eq!(data(&east_drill)["drillDown"]["rowCount"], 0);
    let east_own = s
        .gql(&w.east.auth, "query($r:ID!){drillDown(reportId:$r,tileId:\"by_region\",values:[{column:\"region\",value:\"East\"}]){rowCount}}", json!({"r": report}))
        .await;
    let east_count = SUPERSTORE
        .lines()
        .filter(|l| l.split(',').nth(4) == Some("East"))
        .count();
    assert_eq!(
        data(&east_own)["drillDown"]["rowCount"],
        east_count.min(1000)
    );
    // With the drill ability off, nobody drills.
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:DRILL,enabled:false){id}}",
            json!({"p": w.project}),
        )
        .await,
    );
    assert_eq!(
        code(&s.gql(&w.east.auth, drill, json!({"r": report})).await),
        "FORBIDDEN"
    );

    // Downloads follow the download ability and the access filter.
    let url = |fmt: &str| {
        format!(
            "{}/download/tile?report={report}&tile=by_region&format={fmt}",
            s.url
        )
    };
    let Auth::Bearer(east_token) = &w.east.auth else {
        panic!()
    };
    let resp = reqwest::Client::new()
        .get(url("csv"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("region,sales\nEast,"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
    let arrow = reqwest::Client::new()
        .get(url("arrow"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert!(arrow.bytes().await.unwrap().starts_with(b"ARROW1"));
    let anonymous = reqwest::Client::new().get(url("csv")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($p:ID!){setProjectAbility(id:$p,ability:DOWNLOAD,enabled:false){id}}",
            json!({"p": w.project}),
        )
        .await,
    );
    let refused = reqwest::Client::new()
        .get(url("csv"))
        .bearer_auth(east_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Who saw what: every tile view is an audit event naming the viewer and the tile.
    let mut seen = Vec::new();
    for _ in 0..50 {
        let r = s
            .gql(&w.admin.auth, "query($a:ID){auditEvents(filter:{actionPrefix:\"tile.view\",actorId:$a},first:50){edges{node{actorName object}}}}", json!({"a": w.east.id}))
            .await;
        seen = data(&r)["auditEvents"]["edges"].as_array().unwrap().clone();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|e| e["node"]["actorName"] == "earl"
            && e["node"]["object"] == format!("report:{report}"))
    );

    // Outsiders learn nothing.
    let outsider = s.user(&w.admin, "otto").await;
    assert_eq!(code(&tile(&outsider, "by_region").await), "NOT_FOUND");

    // Warm-up computes every tile per viewer scope; the views then come from the cache.
    let warm = s
        .gql(
            &w.editor.auth,
            "mutation($p:ID!){warmUpReports(projectId:$p){tiles entries scopes failures}}",
            json!({"p": w.project}),
        )
        .await;
    let warm = &data(&warm)["warmUpReports"];
    assert_eq!(warm["tiles"], 3);
    assert_eq!(warm["failures"], json!([]));
    // Unrestricted, West, East, and the attribute-less viewer.
    assert_eq!(warm["scopes"], 4, "{warm}");
    assert_eq!(
        code(
            &s.gql(
                &w.west.auth,
                "mutation($p:ID!){warmUpReports(projectId:$p){tiles}}",
                json!({"p": w.project})
            )
            .await
        ),
        "FORBIDDEN"
    );
}
