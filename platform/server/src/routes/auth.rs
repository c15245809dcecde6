//! Sign-in and sign-out with a session cookie. Sessions are for browsers; API clients
//! use tokens (`Authorization: Bearer`).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{Request, Response, handler};
use serde::Deserialize;
use vitrine_api::ApiError;
use vitrine_api::services::SESSION_TTL;

use super::{error_response, json_response, request_meta, session_cookie};
use crate::{AppState, SESSION_COOKIE};

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

pub(super) fn cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// `POST /auth/login {"username", "password"}` → session cookie, and the CSRF token that
/// cookie-authenticated mutations must send as `X-CSRF-Token`.
#[handler]
pub async fn login(
    req: &Request,
    body: Result<Json<LoginBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error_response(&ApiError::invalid(
            "the body must be JSON {\"username\": …, \"password\": …}",
        ));
    };
    let meta = request_meta(req);
    match state
        .services
        .identity()
        .login(&body.username, &body.password, &meta)
        .await
    {
        Ok(out) => {
            let mut resp = json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "user": { "id": out.user.uid, "username": out.user.username },
                    "csrfToken": out.csrf_token,
                }),
            );
            if let Ok(v) = cookie(
                &out.session_token,
                SESSION_TTL.as_secs(),
                state.config.secure_cookies(),
            )
            .parse()
            {
                resp.headers_mut().insert("set-cookie", v);
            }
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// `GET /auth/csrf` → `{"csrfToken"}` of the session cookie, for the instance's own
/// pages (GraphiQL) to send with mutations.
#[handler]
pub async fn csrf(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let Some(token) = session_cookie(req) else {
        return error_response(&vitrine_api::ApiError::unauthenticated());
    };
    match state
        .services
        .identity()
        .session_csrf(&token, &request_meta(req))
        .await
    {
        Ok(t) => {
            let mut resp = json_response(StatusCode::OK, &serde_json::json!({ "csrfToken": t }));
            resp.headers_mut().insert(
                "cache-control",
                poem::http::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// `POST /auth/logout` ends the session and clears the cookie.
#[handler]
pub async fn logout(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let mut provider_logout = None;
    if let Some(token) = session_cookie(req) {
        match state
            .services
            .identity()
            .logout(&token, &request_meta(req))
            .await
        {
            Ok(url) => provider_logout = url,
            Err(e) => return error_response(&e),
        }
    }
    // A session from an identity provider that offers RP-initiated logout names where
    // the browser goes next to end the provider's session too.
    let mut resp = json_response(
        StatusCode::OK,
        &serde_json::json!({ "ok": true, "providerLogoutUrl": provider_logout }),
    );
    if let Ok(v) = cookie("", 0, state.config.secure_cookies()).parse() {
        resp.headers_mut().insert("set-cookie", v);
    }
    resp
}

#[derive(Debug, Deserialize)]
pub struct InvitationBody {
    token: String,
    password: String,
}

/// `POST /auth/invitation {"token", "password"}`: an invited user chooses their password
/// (the token came in their mail, in the `/invite` page's fragment). Answers the
/// username to sign in with.
#[handler]
pub async fn accept_invitation(
    req: &Request,
    body: Result<Json<InvitationBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error_response(&ApiError::invalid(
            "the body must be JSON {\"token\": …, \"password\": …}",
        ));
    };
    let meta = request_meta(req);
    let identity = state.services.identity();
    match identity
        .accept_user_invitation(&body.token, &body.password, &meta)
        .await
    {
        Ok(username) => json_response(
            StatusCode::OK,
            &serde_json::json!({ "ok": true, "username": username }),
        ),
        Err(e) => error_response(&e),
    }
}
