//! Routes for portable files and working copies beside GraphQL:
//!
//! - `GET /download/export/ID`: a file exported through GraphQL (bundle, dataset,
//!   report file), for the user who asked for it;
//! - `POST /api/bundles/import?folder=ID&name=…&slug=…`: a bundle file as the raw body,
//!   for bundles beyond GraphQL's upload limit (up to the bundle limit, 2 GiB);
//! - `GET /wc/api/head`, `GET /wc/api/bundle`, `POST /wc/api/push?base=N&force=B`: the
//!   origin's side of working copies on other instances, authenticated by the
//!   working-copy link's token as a bearer token.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use vitrine_api::ApiError;
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
        let (record, bytes) = state.services.export_file(&caller, &uid).await?;
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

/// Reads a bundle body up to the bundle size limit.
async fn bundle_body(body: Body) -> Result<bytes::Bytes, ApiError> {
    let max = BundleLimits::default().max_bytes as usize;
    body.into_bytes_limit(max).await.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => ApiError::new(
            ErrorCode::InvalidBundle,
            format!("the bundle exceeds {max} bytes"),
        ),
        other if other.to_string().contains("exceeds") => ApiError::new(
            ErrorCode::InvalidBundle,
            format!("the bundle exceeds {max} bytes"),
        ),
        other => ApiError::invalid(format!("cannot read the request body: {other}")),
    })
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

fn link_token(req: &Request) -> Result<String, ApiError> {
    req.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::LinkNotValid,
                "send the working-copy link's token as `Authorization: Bearer TOKEN`",
            )
        })
}

#[handler]
pub async fn head(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let result = async {
        let token = link_token(req)?;
        let head = state
            .services
            .origin_head(&token, request_meta(req).address)
            .await?;
        Ok::<_, ApiError>(json_response(
            StatusCode::OK,
            &serde_json::to_value(head).unwrap_or_default(),
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

#[handler]
pub async fn bundle(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let result = async {
        let token = link_token(req)?;
        let bytes = state
            .services
            .origin_bundle(&token, request_meta(req).address)
            .await?;
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
}

#[handler]
pub async fn push(
    req: &Request,
    body: Body,
    Query(p): Query<PushParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let token = link_token(req)?;
        let meta = request_meta(req);
        let instance = meta.address.clone().map(|a| format!("instance at {a}"));
        let outcome = state
            .services
            .origin_push(
                &token,
                meta.address,
                bundle_body(body),
                p.base,
                p.force,
                instance,
            )
            .await?;
        Ok::<_, ApiError>(json_response(
            StatusCode::OK,
            &serde_json::json!({ "head": outcome.head, "revisions": outcome.revisions }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}
