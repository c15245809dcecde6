//! Instance parameters, and S3 resource locations against a real S3-compatible server.

use serde_json::json;

use super::*;
use crate::servers::start_moto;
use crate::support::*;

#[tokio::test]
async fn instance_parameters_point_a_project_at_this_instance_data() {
    let w = data_world().await;
    let s = &w.s;
    // The project's own value names staging data that this instance does not have.
    let save = "mutation($p:ID!,$w:JSON!){saveWorkflow(projectId:$p,workflow:$w,parameters:[{name:\"input\",value:\"staging/superstore.csv\"}]){version parameters{name value}}}";
    data(
        &s.gql(
            &w.editor.auth,
            save,
            json!({"p": w.project, "w": pipeline(0.0)}),
        )
        .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(statuses(&run)["orders"], "failed");
    assert_eq!(run["blocks"][0]["error"]["code"], "NOT_FOUND", "{run}");
    // Only admins set instance values; then the same, unedited project reads this
    // instance's file.
    let set = "mutation{setInstanceParameters(parameters:[{name:\"input\",value:\"in/superstore.csv\"}]){name value}}";
    assert_eq!(
        code(&s.gql(&w.editor.auth, set, json!({})).await),
        "FORBIDDEN"
    );
    data(&s.gql(&w.admin.auth, set, json!({})).await);
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "succeeded", "{run}");
    let bad = s
        .gql(
            &w.admin.auth,
            "mutation{setInstanceParameters(parameters:[{name:\"Bad Name\",value:\"x\"}]){name}}",
            json!({}),
        )
        .await;
    assert_eq!(code(&bad), "INVALID_INPUT");
}

#[tokio::test]
async fn s3_locations_are_written_and_read_through_opendal() {
    let moto = start_moto().await;
    let resp = reqwest::Client::new()
        .put(format!("{}/vitrine-data", moto.url))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "create bucket: {}",
        resp.status()
    );
    let w = data_world().await;
    let s = &w.s;
    let storage = json!({"s3": {"bucket": "vitrine-data", "endpoint": moto.url,
                     "accessKeyId": "test", "secretAccessKey": "not-a-real-secret"}});
    let r = s.gql(&w.admin.auth, "mutation($s:LocationStorageInput!){createResourceLocation(name:\"lake\",storage:$s)\
        {id definition storage{fs{root} s3{bucket endpoint region root accessKeyId hasSecretAccessKey}}}}", json!({"s": storage})).await;
    let created = &data(&r)["createResourceLocation"];
    // The secret never comes back; that one is set is said.
    assert_eq!(created["definition"]["secret_access_key"], "********");
    assert_eq!(
        created["storage"],
        json!({"fs": null, "s3": {"bucket": "vitrine-data", "endpoint": moto.url,
               "region": "us-east-1", "root": null, "accessKeyId": "test", "hasSecretAccessKey": true}})
    );
    assert!(!r.to_string().contains("not-a-real-secret"));
    data(
        &s.gql(
            &w.admin.auth,
            "mutation($l:ID!,$f:ID!){grantResourceLocation(id:$l,folderId:$f,access:WRITE){id}}",
            json!({"l": created["id"], "f": w.folder}),
        )
        .await,
    );
    let save = SAVE_WORKFLOW;
    let write = json!({"blocks": [
        {"id": "orders", "kind": "csv_source", "config": {"location": "files", "path": "in/superstore.csv"}},
        {"id": "to_lake", "kind": "write_file", "config": {"location": "lake", "path": "exports/orders.parquet", "format": "parquet"}, "inputs": {"in": "orders"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": write}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(run["status"], "succeeded", "{run}");
    let read = json!({"blocks": [
        {"id": "lake", "kind": "parquet_source", "config": {"location": "lake", "path": "exports/orders.parquet"}},
        {"id": "publish", "kind": "publish", "config": {"dataset": "from_lake"}, "inputs": {"in": "lake"}},
        {"id": "escape", "kind": "parquet_source", "config": {"location": "lake", "path": "../other-bucket/x.parquet"}},
    ]});
    data(
        &s.gql(&w.editor.auth, save, json!({"p": w.project, "w": read}))
            .await,
    );
    let run =
        data(&s.gql(&w.editor.auth, RUN, json!({"p": w.project})).await)["runWorkflow"].clone();
    assert_eq!(statuses(&run)["publish"], "succeeded", "{run}");
    assert_eq!(
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == "lake")
            .unwrap()["rows"],
        400
    );
    assert_eq!(
        run["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == "escape")
            .unwrap()["error"]["code"],
        "PATH_REFUSED"
    );
}
