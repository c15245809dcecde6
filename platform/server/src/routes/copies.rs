//! Routes for portable files and working copies beside GraphQL:
//!
//! - `GET /download/export/ID`: a file exported through GraphQL (bundle, dataset,
//!   report file), for the user who asked for it;
//! - `POST /api/bundles/import?folder=ID&name=…&slug=…`: a bundle file as the raw body,
//!   for bundles beyond GraphQL's upload limit (up to the bundle limit, 2 GiB);
//! - `GET /wc/api/head`, `GET /wc/api/bundle`, `POST /wc/api/push?base=N&force=B`: the
//!   origin's side of working copies on other instances, authenticated by the
//!   working-copy link's token as a bearer token; `project=ID` names the project of a
//!   folder's link.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use vitrine_api::ApiError;
use vitrine_api::services::LinkUse;
use vitrine_api::services::bundles::BundleSource;
use vitrine_api::services::bundles::format::BundleLimits;
use vitrine_core::ErrorCode;

use super::data::caller_of;
use super::{error_response, json_response, request_meta};
use crate::AppState;

#[handler]
pub async fn export_download(
    req: &Request,
    Path(uid): Path<String>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let caller = caller_of(&state, req).await?;
        let (record, bytes) = state.services.versions().export_file(&caller, &uid).await?;
        Ok::<_, ApiError>(
            Response::builder()
                .status(StatusCode::OK)
                .content_type(record.content_type.as_str())
                .header(
                    "content-disposition",
                    format!("attachment; filename=\"{}\"", record.filename),
                )
                .header("cache-control", "no-store")
                .body(bytes),
        )
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Debug, Deserialize)]
pub struct ImportParams {
    folder: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slug: Option<String>,
}

/// Streams a bundle body into a temporary file, up to the bundle size limit: a bundle is
/// never whole in memory. Called only once the caller may import or push.
async fn bundle_body(body: Body) -> Result<BundleSource, ApiError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let max = BundleLimits::default().max_bytes;
    let too_large = || {
        ApiError::new(
            ErrorCode::InvalidBundle,
            format!("the bundle exceeds {max} bytes"),
        )
    };
    let spool = |e: std::io::Error| ApiError::internal("bundle upload: temporary file", e);
    let file = tempfile::tempfile().map_err(spool)?;
    let mut out = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    let mut stream = body.into_bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if crate::guard::is_too_large(&e) {
                too_large()
            } else {
                ApiError::invalid(format!("cannot read the request body: {e}"))
            }
        })?;
        written += chunk.len() as u64;
        if written > max {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(spool)?;
    }
    out.flush().await.map_err(spool)?;
    Ok(BundleSource::File(out.into_std().await))
}

#[handler]
pub async fn import_bundle(
    req: &Request,
    body: Body,
    Query(p): Query<ImportParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let caller = caller_of(&state, req).await?;
        let project = state
            .services
            .versions()
            .import_bundle(
                &caller,
                bundle_body(body),
                &p.folder,
                p.name.as_deref(),
                p.slug.as_deref(),
            )
            .await?;
        Ok::<_, ApiError>(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "id": project.record.uid,
                "name": project.record.name,
                "slug": project.record.slug,
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

/// The link's token (as a bearer token), the caller's address and the project a folder's
/// link names (`?project=ID`).
fn link_use(req: &Request, project: Option<String>) -> Result<LinkUse, ApiError> {
    let token = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::LinkNotValid,
                "send the working-copy link's token as `Authorization: Bearer TOKEN`",
            )
        })?;
    Ok(LinkUse {
        token,
        address: request_meta(req).address,
        project,
    })
}

/// The project a request through a folder's link is about.
#[derive(Debug, Deserialize)]
pub struct LinkProject {
    project: Option<String>,
}

#[handler]
pub async fn head(
    req: &Request,
    Query(p): Query<LinkProject>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let link_use = link_use(req, p.project)?;
        let head = state.services.versions().origin_head(&link_use).await?;
        Ok::<_, ApiError>(json_response(
            StatusCode::OK,
            &serde_json::to_value(head).unwrap_or_default(),
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

#[handler]
pub async fn bundle(
    req: &Request,
    Query(p): Query<LinkProject>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let link_use = link_use(req, p.project)?;
        let bytes = state.services.versions().origin_bundle(&link_use).await?;
        Ok::<_, ApiError>(
            Response::builder()
                .content_type("application/zip")
                .header("cache-control", "no-store")
                .body(bytes),
        )
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

#[derive(Debug, Deserialize)]
pub struct PushParams {
    base: i64,
    #[serde(default)]
    force: bool,
    project: Option<String>,
}

#[handler]
pub async fn push(
    req: &Request,
    body: Body,
    Query(p): Query<PushParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let link_use = link_use(req, p.project)?;
        let instance = (link_use.address.clone()).map(|a| format!("instance at {a}"));
        let outcome = state
            .services
            .versions()
            .origin_push(&link_use, bundle_body(body), p.base, p.force, instance)
            .await?;
        Ok::<_, ApiError>(json_response(
            StatusCode::OK,
            &serde_json::json!({ "head": outcome.head, "revisions": outcome.revisions }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}
