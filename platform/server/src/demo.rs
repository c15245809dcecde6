//! `vitrine serve --demo`: an example project so a newcomer sees a real shared report
//! within a minute. A folder "Demo" with the project "Superstore demo" (the sample orders
//! uploaded, a workflow that publishes them, a report of several tiles on two tabs,
//! warmed up), owned by a `demo-owner` account nobody can sign in as (its password is
//! random and never shown). Every run prints a fresh public link; earlier demo links are
//! revoked so they do not pile up.
//!
//! Seeding goes through the service layer as the demo owner, through an audited system
//! caller: the instance makes the "Demo" root folder for it (creating a root folder
//! otherwise needs an administrator, and the demo must not create one; the setup URL
//! stays the way to the first administrator).

use std::sync::Arc;

use serde_json::{Value, json};
use vitrine_api::services::{LinkOp, NewCoverage, NewShareLink, PageRequest};
use vitrine_api::{ApiError, Caller, Services};
use vitrine_core::{LinkKind, LinkRights};

use crate::ServerError;

const OWNER: &str = "demo-owner";
const SLUG: &str = "superstore-demo";
const ORDERS: &str = include_str!("../../../examples/data/superstore.csv");

fn workflow(upload: &str) -> Value {
    json!({"blocks": [
        {"id": "orders", "kind": "upload_source", "config": {"upload": upload, "format": "csv"}},
        {"id": "publish_orders", "kind": "publish", "config": {"dataset": "orders"}, "inputs": {"in": "orders"}},
    ]})
}

fn report() -> Value {
    let sum = |c: &str| json!([{"column": c, "function": "sum", "name": c}]);
    json!({
        "tabs": [
            {"id": "overview", "title": "Overview", "tiles": [
                {"id": "sales", "title": "Sales", "kind": "kpi", "query": {"dataset": "orders", "measures": sum("sales")}},
                {"id": "orders", "title": "Orders", "kind": "kpi", "query": {"dataset": "orders", "measures": [{"function": "count", "name": "orders"}]}},
                {"id": "by_region", "title": "Sales by region", "kind": "bar", "query": {"dataset": "orders", "dimensions": ["region"], "measures": sum("sales"), "sort": [{"column": "sales", "descending": true}]}},
                {"id": "by_segment", "title": "Sales by segment", "kind": "pie", "query": {"dataset": "orders", "dimensions": ["segment"], "measures": sum("sales")}},
                {"id": "by_month", "title": "Sales by order date", "kind": "line", "query": {"dataset": "orders", "dimensions": ["order_date"], "measures": sum("sales"), "sort": [{"column": "order_date"}]}}
            ]},
            {"id": "products", "title": "Products", "tiles": [
                {"id": "by_category", "title": "Profit by category", "kind": "bar", "query": {"dataset": "orders", "dimensions": ["category"], "measures": sum("profit")}},
                {"id": "top", "title": "Largest orders", "kind": "table", "query": {"dataset": "orders", "dimensions": ["order_id", "region", "sub_category", "sales"], "sort": [{"column": "sales", "descending": true}], "limit": 10}}
            ]}
        ],
        "filters": [
            {"id": "region", "label": "Region", "column": "region", "default": []},
            {"id": "segment", "label": "Segment", "column": "segment", "default": []}
        ]
    })
}

fn fail(step: &str, e: ApiError) -> ServerError {
    ServerError::Demo(format!("cannot {step}: {}: {}", e.code, e.message))
}

/// Seeds the demo project when it is missing and returns the path of a fresh public link
/// to its report (`/s/TOKEN`).
pub async fn prepare(services: &Arc<Services>) -> Result<String, ServerError> {
    let owner = services
        .identity()
        .instance_user(OWNER, "Demo owner", "owner of the demo project")
        .await
        .map_err(|e| fail("create the demo owner", e))?;
    let caller = services
        .identity()
        .system_caller(&owner.uid, "seed the demo project")
        .await
        .map_err(|e| fail("act as the demo owner", e))?;
    let project = match services.directory().project_by_slug(&caller, SLUG).await {
        Ok(p) => p.record.uid.into_string(),
        Err(e) if e.code == vitrine_core::ErrorCode::NotFound => seed(services, &caller).await?,
        Err(e) => return Err(fail("read projects", e)),
    };
    let report = services
        .data()
        .reports(&caller, &project)
        .await
        .map_err(|e| fail("read reports", e))?
        .into_iter()
        .next()
        .ok_or_else(|| ServerError::Demo("the demo project has no report".into()))?;
    // Earlier demo links are revoked: one printed URL works at a time.
    let (links, _) = services
        .sharing()
        .share_ledger(
            &caller,
            Some(&project),
            &PageRequest {
                after: None,
                first: 100,
            },
        )
        .await
        .map_err(|e| fail("list demo links", e))?;
    for l in links.iter().filter(|l| l.revoked_ms.is_none()) {
        services
            .sharing()
            .set_share_link_state(&caller, &l.uid, LinkOp::Revoke)
            .await
            .map_err(|e| fail("revoke an old demo link", e))?;
    }
    let created = services
        .sharing()
        .create_share_link(
            &caller,
            NewShareLink {
                attributes: None,
                coverage: NewCoverage::Project(project),
                content: None,
                report_uid: Some(report.uid.into()),
                tab: None,
                kind: LinkKind::Public,
                label: Some("Demo".into()),
                rights: LinkRights {
                    download: true,
                    drill: true,
                    ..Default::default()
                },
                expires_ms: None,
                recipients: Vec::new(),
                pinned: false,
                pinned_revision: None,
            },
        )
        .await
        .map_err(|e| fail("create the public link", e))?;
    Ok(created.path)
}

async fn seed(services: &Arc<Services>, caller: &Caller) -> Result<String, ServerError> {
    let folder = services
        .directory()
        .create_instance_folder(caller, "Demo")
        .await
        .map_err(|e| fail("create the demo folder", e))?
        .record;
    let project = services
        .directory()
        .create_project(caller, &folder.uid, "Superstore demo", Some(SLUG))
        .await
        .map_err(|e| fail("create the demo project", e))?
        .record
        .uid;
    let upload = services
        .data()
        .upload_file(
            caller,
            &project,
            "superstore.csv",
            ORDERS.as_bytes().to_vec(),
        )
        .await
        .map_err(|e| fail("upload the sample orders", e))?;
    services
        .data()
        .save_workflow(caller, &project, workflow(&upload.uid), None, Some(0), None)
        .await
        .map_err(|e| fail("save the workflow", e))?;
    let run = services
        .data()
        .run_workflow(caller, &project, None, false, true)
        .await
        .map_err(|e| fail("run the workflow", e))?;
    if run.status != vitrine_core::RunStatus::Succeeded {
        return Err(ServerError::Demo(format!(
            "the workflow run ended {}",
            run.status
        )));
    }
    services
        .data()
        .create_report(caller, &project, "Superstore sales", report())
        .await
        .map_err(|e| fail("create the report", e))?;
    services
        .data()
        .warm_up(caller, &project)
        .await
        .map_err(|e| fail("warm up the report", e))?;
    Ok(project.into())
}
