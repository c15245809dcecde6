//! `POST /graphql`: the API's one route. Takes JSON only, reads the body under a size
//! limit, accepts a single operation or a bounded batch, authenticates the caller and
//! runs the schema. Uploads (multipart) are in [`super::multipart`].

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Html};
use poem::{Body, Request, Response, handler};
use vitrine_api::graphql::AuthState;
use vitrine_api::{ApiError, RequestMeta, Services};
use vitrine_core::ErrorCode;

use super::{json_response, request_meta, session_cookie};
use crate::AppState;

/// GraphiQL, served from the binary: its scripts come from this server only.
#[handler]
pub async fn graphiql() -> Html<&'static str> {
    Html(super::viewer::GRAPHIQL_HTML)
}

pub(super) fn body_error(code: ErrorCode, message: impl Into<String>) -> Response {
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
                match services.identity().authenticate_token(token, meta).await {
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
            .identity()
            .authenticate_session(&session, req.header("x-csrf-token"), meta)
            .await
        {
            Ok(c) => AuthState::Caller(Box::new(c)),
            Err(e) => AuthState::Rejected(e),
        };
    }
    AuthState::Anonymous
}

/// Only JSON is taken: `text/plain` and type-less bodies are what a cross-site form or
/// a no-cors fetch can send without a preflight.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "application/graphql-response+json"
}

#[handler]
pub async fn execute(req: &Request, body: Body, state: Data<&Arc<AppState>>) -> Response {
    let content_type = req.content_type().unwrap_or_default().to_owned();
    if content_type.starts_with("multipart/form-data") {
        return execute_multipart(req, body, &content_type, &state).await;
    }
    if let Some(refused) = not_json(req) {
        return refused;
    }
    let meta = request_meta(req);
    let auth = authenticate(&state.services, req, &meta).await;
    execute_json(req, body, auth, &state).await
}

/// The refusal of a body that is not JSON, given before anything is read.
pub(super) fn not_json(req: &Request) -> Option<Response> {
    if is_json(req.content_type().unwrap_or_default()) {
        return None;
    }
    Some(body_error(
        ErrorCode::InvalidInput,
        "send GraphQL requests as `content-type: application/json` (or multipart/form-data for uploads)",
    ))
}

/// Reads a JSON body (one operation or a bounded batch) under the size limit and runs it
/// as `auth`, who was established from the headers first.
pub(super) async fn execute_json(
    req: &Request,
    body: Body,
    auth: AuthState,
    state: &AppState,
) -> Response {
    let limits = state.config.limits();
    let bytes = match body.into_bytes_limit(limits.max_body_bytes).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            return body_error(
                ErrorCode::QueryTooLarge,
                format!("the request body exceeds {} bytes", limits.max_body_bytes),
            );
        }
        Err(e) => return unreadable(&e.to_string(), limits.max_body_bytes),
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
    run_requests(req, auth, requests, batch, state).await
}

/// A body that broke off: too large (the guard's limit, for bodies without a length) or
/// cut by the client.
/// A multipart request: the caller first, from the headers; the body only then.
async fn execute_multipart(
    req: &Request,
    body: Body,
    content_type: &str,
    state: &AppState,
) -> Response {
    let meta = request_meta(req);
    let auth = authenticate(&state.services, req, &meta).await;
    match &auth {
        AuthState::Caller(_) => {}
        AuthState::Rejected(e) => {
            return body_error(e.code, e.message.clone());
        }
        AuthState::Anonymous | AuthState::Link(_) => {
            return body_error(
                ErrorCode::Unauthenticated,
                "uploads need a signed-in caller; send a bearer token or the session cookie",
            );
        }
    }
    let limits = state.config.limits();
    match super::multipart::read(body, content_type, limits.max_body_bytes).await {
        Ok(async_graphql::BatchRequest::Single(r)) => {
            run_requests(req, auth, vec![r], false, state).await
        }
        Ok(async_graphql::BatchRequest::Batch(rs)) if rs.len() <= limits.max_batch => {
            run_requests(req, auth, rs, true, state).await
        }
        Ok(async_graphql::BatchRequest::Batch(rs)) => body_error(
            ErrorCode::QueryTooLarge,
            format!(
                "the batch has {} operations; the limit is {}",
                rs.len(),
                limits.max_batch
            ),
        ),
        Err((code, message)) => body_error(code, message),
    }
}

fn unreadable(error: &str, max: usize) -> Response {
    if crate::guard::is_too_large(&error) {
        return body_error(
            ErrorCode::QueryTooLarge,
            format!("the request body exceeds {max} bytes"),
        );
    }
    body_error(
        ErrorCode::InvalidInput,
        format!("cannot read the request body: {error}"),
    )
}

pub(super) async fn run_requests(
    req: &Request,
    auth: AuthState,
    requests: Vec<async_graphql::Request>,
    batch: bool,
    state: &AppState,
) -> Response {
    let meta = request_meta(req);
    let introspection =
        state.config.server.anonymous_introspection || matches!(auth, AuthState::Caller(_));
    let mut responses = Vec::with_capacity(requests.len());
    let last = requests.len().saturating_sub(1);
    let mut auth = Some(auth);
    for (i, r) in requests.into_iter().enumerate() {
        // The last request takes the caller; only a batch's others need copies of it.
        let auth = if i == last { auth.take() } else { auth.clone() };
        let auth = auth.unwrap_or(AuthState::Anonymous);
        let name = crate::metrics::operation_name(r.operation_name.as_deref(), &r.query)
            .map(str::to_owned);
        let started = std::time::Instant::now();
        let response = (state.graphql)
            .execute(r, auth, meta.clone(), introspection)
            .await;
        let failed = response.is_err();
        crate::metrics::graphql_operation(name.as_deref(), failed, started.elapsed());
        responses.push(response);
    }
    // Straight to bytes: a JSON value in between would copy every result once more. A
    // view of a report is tens of kilobytes: starting at 8 KiB spares the first doublings.
    let mut bytes = Vec::with_capacity(8 << 10);
    let written = if batch {
        serde_json::to_writer(&mut bytes, &responses)
    } else {
        serde_json::to_writer(&mut bytes, &responses[0])
    };
    match written {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .body(bytes),
        Err(e) => body_error(
            ErrorCode::Internal,
            format!("cannot encode the response: {e}"),
        ),
    }
}
