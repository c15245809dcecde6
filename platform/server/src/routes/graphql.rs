//! `POST /graphql`: the API's one route. Reads the body under a size limit, accepts a
//! single operation or a bounded batch, authenticates the caller and runs the schema.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use poem::http::StatusCode;
use poem::web::{Data, Html};
use poem::{Body, Request, Response, handler};
use vitrine_api::graphql::{AuthState, finish_response};
use vitrine_api::{ApiError, RequestMeta, Services};
use vitrine_core::ErrorCode;

use super::{json_response, request_meta, session_cookie};
use crate::AppState;

#[handler]
pub async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Vitrine GraphQL")
            .finish(),
    )
}

fn body_error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        &serde_json::json!({ "errors": [{ "message": message.into(), "extensions": { "code": code.as_str() } }] }),
    )
}

/// Resolves the request's credentials: a bearer token wins over a session cookie.
pub async fn authenticate(services: &Services, req: &Request, meta: &RequestMeta) -> AuthState {
    if let Some(h) = req.header("authorization") {
        return match h.strip_prefix("Bearer ").map(str::trim) {
            Some(token) if !token.is_empty() => {
                match services.authenticate_token(token, meta).await {
                    Ok(c) => AuthState::Caller(Box::new(c)),
                    Err(e) => AuthState::Rejected(e),
                }
            }
            _ => AuthState::Rejected(ApiError::new(
                ErrorCode::Unauthenticated,
                "the Authorization header must be `Bearer TOKEN`",
            )),
        };
    }
    if let Some(session) = session_cookie(req) {
        return match services
            .authenticate_session(&session, req.header("x-csrf-token"), meta)
            .await
        {
            Ok(c) => AuthState::Caller(Box::new(c)),
            Err(e) => AuthState::Rejected(e),
        };
    }
    AuthState::Anonymous
}

#[handler]
pub async fn execute(req: &Request, body: Body, state: Data<&Arc<AppState>>) -> Response {
    let limits = state.config.limits();
    let content_type = req.content_type().unwrap_or_default().to_owned();
    if content_type.starts_with("multipart/form-data") {
        return execute_multipart(req, body, &content_type, &state).await;
    }
    let bytes = match body.into_bytes_limit(limits.max_body_bytes).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            return body_error(
                ErrorCode::QueryTooLarge,
                format!("the request body exceeds {} bytes", limits.max_body_bytes),
            );
        }
        Err(e) => {
            return body_error(
                ErrorCode::InvalidInput,
                format!("cannot read the request body: {e}"),
            );
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return body_error(
                ErrorCode::InvalidInput,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let (batch, items) = match value {
        serde_json::Value::Array(items) => (true, items),
        single => (false, vec![single]),
    };
    if items.is_empty() {
        return body_error(ErrorCode::InvalidInput, "an empty batch");
    }
    if items.len() > limits.max_batch {
        return body_error(
            ErrorCode::QueryTooLarge,
            format!(
                "the batch has {} operations; the limit is {}",
                items.len(),
                limits.max_batch
            ),
        );
    }
    let mut requests = Vec::with_capacity(items.len());
    for item in items {
        match serde_json::from_value::<async_graphql::Request>(item) {
            Ok(r) => requests.push(r),
            Err(e) => {
                return body_error(
                    ErrorCode::InvalidInput,
                    format!("not a GraphQL request: {e}"),
                );
            }
        }
    }
    run_requests(req, requests, batch, &state).await
}

async fn run_requests(
    req: &Request,
    requests: Vec<async_graphql::Request>,
    batch: bool,
    state: &AppState,
) -> Response {
    let meta = request_meta(req);
    let auth = authenticate(&state.services, req, &meta).await;
    let mut responses = Vec::with_capacity(requests.len());
    for r in requests {
        let r = r.data(auth.clone()).data(meta.clone());
        responses.push(finish_response(state.schema.execute(r).await));
    }
    let body = if batch {
        serde_json::to_value(&responses)
    } else {
        serde_json::to_value(&responses[0])
    };
    match body {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => body_error(
            ErrorCode::Internal,
            format!("cannot encode the response: {e}"),
        ),
    }
}

/// A GraphQL multipart request (file uploads): the operations plus files, bounded by the
/// upload size limit rather than the plain body limit.
async fn execute_multipart(
    req: &Request,
    body: Body,
    content_type: &str,
    state: &AppState,
) -> Response {
    let limits = state.config.limits();
    let max = vitrine_api::services::MAX_UPLOAD_BYTES + limits.max_body_bytes;
    let bytes = match body.into_bytes_limit(max).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            return body_error(
                ErrorCode::QueryTooLarge,
                format!("the upload exceeds {max} bytes"),
            );
        }
        Err(e) => {
            return body_error(
                ErrorCode::InvalidInput,
                format!("cannot read the request body: {e}"),
            );
        }
    };
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(vitrine_api::services::MAX_UPLOAD_BYTES)
        .max_num_files(4);
    let batch = match async_graphql::http::receive_batch_body(
        Some(content_type),
        futures::io::Cursor::new(bytes.to_vec()),
        options,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => {
            return body_error(
                ErrorCode::InvalidInput,
                format!("not a GraphQL multipart request: {e}"),
            );
        }
    };
    match batch {
        async_graphql::BatchRequest::Single(r) => run_requests(req, vec![r], false, state).await,
        async_graphql::BatchRequest::Batch(rs) if rs.len() <= limits.max_batch => {
            run_requests(req, rs, true, state).await
        }
        async_graphql::BatchRequest::Batch(rs) => body_error(
            ErrorCode::QueryTooLarge,
            format!(
                "the batch has {} operations; the limit is {}",
                rs.len(),
                limits.max_batch
            ),
        ),
    }
}
