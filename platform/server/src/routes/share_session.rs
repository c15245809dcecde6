//! A recipient's session on a recipients link: the first password (from the session
//! their invitation opened), signing in and out. The checks, rate limits and the lock
//! are the service layer's; these handlers move the session cookie.

use std::sync::Arc;

use poem::web::{Data, Json, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::json;
use vitrine_api::ApiError;
use vitrine_core::ErrorCode;

use super::request_meta;
use super::share::{fail, ok, require_write_header, set_share_cookie, share_cookie, write_body};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct SignInBody {
    email: String,
    password: String,
}

/// `POST /s/v/LINK/api/sign-in {email, password}`: a recipient signs in; a fresh session
/// cookie replaces the old one.
#[handler]
pub async fn sign_in(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<SignInBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(req, body, "{\"email\": …, \"password\": …}") {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let meta = request_meta(req);
    match state
        .services
        .sharing()
        .share_sign_in(
            &link,
            share_cookie(req).as_deref(),
            &b.email,
            &b.password,
            &meta,
        )
        .await
    {
        Ok(token) => {
            let mut resp = ok(json!({"ok": true}));
            set_share_cookie(&mut resp, &link, &token, state.config.secure_cookies());
            resp
        }
        Err(e) => fail(&e),
    }
}

#[derive(Debug, Deserialize)]
pub struct InvitationBody {
    email: String,
}

/// `POST /s/v/LINK/api/invitation {email}`: someone who lost their invitation (or
/// password) asks the link's managers for a new one. The answer is the same whether the
/// address is a recipient's or not.
#[handler]
pub async fn request_invitation(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<InvitationBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(req, body, "{\"email\": …}") {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let meta = request_meta(req);
    let sharing = state.services.sharing();
    match sharing.request_invitation(&link, &b.email, &meta).await {
        Ok(()) => ok(json!({"ok": true})),
        Err(e) => fail(&e),
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    password: String,
}

/// `POST /s/v/LINK/api/password {password}`: a recipient's first password, from the
/// session their invitation opened.
#[handler]
pub async fn set_password(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<PasswordBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(req, body, "{\"password\": …}") {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let Some(session) = share_cookie(req) else {
        return fail(&ApiError::new(
            ErrorCode::Unauthenticated,
            "open your invitation link to set a password",
        ));
    };
    match state
        .services
        .sharing()
        .share_set_password(&link, &session, &b.password, &request_meta(req))
        .await
    {
        Ok(()) => ok(json!({"ok": true})),
        Err(e) => fail(&e),
    }
}

/// `POST /s/v/LINK/api/sign-out`: ends the share session and clears its cookie.
#[handler]
pub async fn sign_out(
    req: &Request,
    Path(link): Path<String>,
    state: Data<&Arc<AppState>>,
) -> Response {
    if let Err(e) = require_write_header(req) {
        return fail(&e);
    }
    if let Some(s) = share_cookie(req)
        && let Err(e) = state.services.sharing().share_sign_out(&s).await
    {
        return fail(&e);
    }
    let mut resp = ok(json!({"ok": true}));
    set_share_cookie(&mut resp, &link, "", state.config.secure_cookies());
    resp
}
