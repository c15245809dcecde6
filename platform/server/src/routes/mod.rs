pub mod auth;
pub mod copies;
pub mod data;
pub mod graphql;
pub mod health;
pub mod multipart;
pub mod oidc;
pub mod pages;
pub mod share;
pub mod share_session;
pub mod viewer;

use poem::http::StatusCode;
use poem::{Request, Response};
use vitrine_api::{ApiError, RequestMeta};

use crate::SESSION_COOKIE;

pub fn request_meta(req: &Request) -> RequestMeta {
    RequestMeta {
        // Set by the guard from the socket peer or, behind a trusted proxy, from
        // X-Forwarded-For.
        address: req
            .extensions()
            .get::<crate::guard::ClientIp>()
            .map(|c| c.0.to_string())
            .or_else(|| {
                req.remote_addr()
                    .as_socket_addr()
                    .map(|a| a.ip().to_string())
            }),
        user_agent: req
            .header("user-agent")
            .map(|s| s.chars().take(256).collect()),
    }
}

/// The session cookie's value, read from the `Cookie` header.
pub fn session_cookie(req: &Request) -> Option<String> {
    cookie_value(req, SESSION_COOKIE)
}

/// A cookie's value from the `Cookie` header; empty values count as absent.
pub fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// The one place non-GraphQL routes turn an error into an HTTP answer:
/// `{"error": {"code": …, "message": …}}` with the code's status.
pub fn error_response(e: &ApiError) -> Response {
    json_response(
        status_of(e),
        &serde_json::json!({ "error": { "code": e.code.as_str(), "message": e.message } }),
    )
}

/// The HTTP status an error's code stands for.
pub fn status_of(e: &ApiError) -> StatusCode {
    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}
