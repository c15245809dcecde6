//! Share-link routes: the token URL that becomes a cookie, the viewer page and the small
//! JSON API its script calls, CSV downloads and QR codes. Every decision is the service
//! layer's; these handlers read cookies and turn answers into HTTP.
//!
//! Tokens never stay in a URL: `GET /s/TOKEN` sets a session cookie scoped to the link's
//! path and redirects (303) to `/s/v/LINK`, keeping only the query string (the viewer's
//! filter state). Pages send `Referrer-Policy: no-referrer` besides.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;
use vitrine_api::graphql::AuthState;
use vitrine_api::services::FilterState;
use vitrine_api::services::{ShareAccess, SharePage, link_path};
use vitrine_api::{ApiError, Caller, RequestMeta};
use vitrine_core::ErrorCode;

use super::graphql::{authenticate, body_error, execute_json, not_json};
use super::viewer::{gone_page, viewer_page};
use super::{error_response, json_response, request_meta};
use crate::AppState;

/// The share session cookie; its `Path` is the link's page, so each link has its own.
pub const SHARE_COOKIE: &str = "vitrine_share";

/// Header every state-changing share request must carry. Browsers cannot send a custom
/// header cross-origin without a preflight, which is never granted: a CSRF guard that
/// needs no token in the page.
pub const SHARE_WRITE_HEADER: &str = "x-vitrine-share";

pub(super) fn share_cookie(req: &Request) -> Option<String> {
    super::cookie_value(req, SHARE_COOKIE)
}

pub(super) fn set_share_cookie(resp: &mut Response, link_uid: &str, value: &str, secure: bool) {
    let max_age = if value.is_empty() { 0 } else { 12 * 3600 };
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SHARE_COOKIE}={value}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        link_path(link_uid)
    );
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().append("set-cookie", v);
    }
}

/// Headers of every share response: never cached, never a referrer.
fn private(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("cache-control", "no-store".parse().expect("static header"));
    h.insert(
        "referrer-policy",
        "no-referrer".parse().expect("static header"),
    );
    h.insert(
        "x-content-type-options",
        "nosniff".parse().expect("static header"),
    );
    resp
}

async fn user_of(state: &AppState, req: &Request, meta: &RequestMeta) -> Option<Caller> {
    match authenticate(&state.services, req, meta).await {
        AuthState::Caller(c) => Some(*c),
        _ => None,
    }
}

async fn page_for(state: &AppState, req: &Request, link: &str) -> Result<SharePage, ApiError> {
    let meta = request_meta(req);
    let user = user_of(state, req, &meta).await;
    state
        .services
        .sharing()
        .share_page(link, share_cookie(req).as_deref(), user.as_ref(), &meta)
        .await
}

/// Resolves a request to a visitor who may see the link, or the answer to give instead.
async fn access(state: &AppState, req: &Request, link: &str) -> Result<ShareAccess, Response> {
    match page_for(state, req, link).await {
        Ok(SharePage::Ready(a)) => Ok(*a),
        Ok(other) => Err(fail(
            &other.refusal().unwrap_or_else(ApiError::unauthenticated),
        )),
        Err(e) => Err(fail(&e)),
    }
}

/// `GET /s/TOKEN`: a public link or a recipient's invitation. The token moves into a
/// cookie and the browser goes on to the link's page without it.
#[handler]
pub async fn open(
    req: &Request,
    Path(token): Path<String>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let meta = request_meta(req);
    match state
        .services
        .sharing()
        .open_share_token(&token, &meta)
        .await
    {
        Ok(opened) => {
            let mut target = link_path(&opened.link_uid);
            if let Some(q) = req.uri().query() {
                target.push('?');
                target.push_str(q);
            }
            let mut resp = Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header("location", target)
                .finish();
            set_share_cookie(
                &mut resp,
                &opened.link_uid,
                &opened.session_token,
                state.config.secure_cookies(),
            );
            private(resp)
        }
        Err(e) if e.code == ErrorCode::LinkNotValid => private(gone_page("revoked")),
        Err(e) => private(error_response(&e)),
    }
}

/// `GET /s/v/LINK`: the viewer page. Revoked, expired and paused links get the "no longer
/// valid" page; everything else gets the page, whose script asks what to show.
#[handler]
pub async fn page(
    req: &Request,
    Path(link): Path<String>,
    state: Data<&Arc<AppState>>,
) -> Response {
    match page_for(&state, req, &link).await {
        Ok(SharePage::Gone { reason }) => private(gone_page(reason)),
        _ => {
            let embeddable = state
                .services
                .sharing()
                .share_link_embeddable(&link)
                .await
                .unwrap_or(false);
            private(viewer_page(embeddable))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DownloadParams {
    report: Option<String>,
    tile: Option<String>,
    filters: Option<String>,
}

fn filters_of(raw: Option<&str>) -> Result<FilterState, ApiError> {
    match raw {
        Some(f) if !f.is_empty() => serde_json::from_str(f).map_err(|e| {
            ApiError::invalid(format!("filters: not a JSON object of value lists: {e}"))
        }),
        _ => Ok(FilterState::new()),
    }
}

pub(super) fn ok(body: Value) -> Response {
    private(json_response(StatusCode::OK, &body))
}

pub(super) fn fail(e: &ApiError) -> Response {
    private(error_response(e))
}

/// `GET /s/v/LINK/download?report=ID&tile=ID&filters=JSON`: a tile as CSV, when the link
/// grants downloads.
#[handler]
pub async fn download(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<DownloadParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let result = async {
        let tile = p
            .tile
            .as_deref()
            .ok_or_else(|| ApiError::invalid("tile: required"))?;
        let filters = filters_of(p.filters.as_deref())?;
        let d = state
            .services
            .sharing()
            .share_download(&a, p.report.as_deref(), tile, &filters)
            .await?;
        let bytes = d.result.csv().map_err(ApiError::from)?;
        Ok::<_, ApiError>(
            Response::builder()
                .status(StatusCode::OK)
                .content_type("text/csv; charset=utf-8")
                .header(
                    "content-disposition",
                    format!("attachment; filename=\"{}.csv\"", d.filename),
                )
                .body(bytes),
        )
    }
    .await;
    result.map(private).unwrap_or_else(|e| fail(&e))
}

#[derive(Debug, Deserialize)]
pub struct FileParams {
    report: String,
}

/// `GET /s/v/LINK/file?report=ID`: a delivered file of a link sharing projects'
/// delivered files, made as the link's audience sees the report.
#[handler]
pub async fn delivered_file(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<FileParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let sharing = state.services.sharing();
    match sharing.share_delivered_file(&a, &p.report).await {
        Ok(f) => private(
            Response::builder()
                .status(StatusCode::OK)
                .content_type("text/html; charset=utf-8")
                .header(
                    "content-disposition",
                    format!("attachment; filename=\"{}\"", f.filename),
                )
                .body(f.html),
        ),
        Err(e) => fail(&e),
    }
}

pub(super) fn require_write_header(req: &Request) -> Result<(), ApiError> {
    if req.header(SHARE_WRITE_HEADER) == Some("1") {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfRejected,
            "share requests that change something need the X-Vitrine-Share: 1 header",
        ))
    }
}

/// A share write's JSON body, once the write header is there (no cross-site form can
/// send it); `shape` tells the sender what the body must look like.
pub(super) fn write_body<T>(
    req: &Request,
    body: Result<Json<T>, poem::Error>,
    shape: &str,
) -> Result<T, ApiError> {
    require_write_header(req)?;
    body.map(|Json(b)| b)
        .map_err(|_| ApiError::invalid(format!("the body must be JSON {shape}")))
}

/// `POST /s/v/LINK/graphql`: the viewer's API, GraphQL run as the link's visit (see
/// `vitrine_api::graphql`'s link module). The visit is resolved from the cookies before the
/// body is read; every request must carry the share write header, so no cross-site page
/// can read or change through a visitor's session.
#[handler]
pub async fn graphql(
    req: &Request,
    Path(link): Path<String>,
    body: Body,
    state: Data<&Arc<AppState>>,
) -> Response {
    if let Err(e) = require_write_header(req) {
        return private(body_error(e.code, e.message));
    }
    if let Some(refused) = not_json(req) {
        return private(refused);
    }
    let visit = match page_for(&state, req, &link).await {
        Ok(p) => p,
        Err(e) => return private(body_error(e.code, e.message)),
    };
    let auth = AuthState::Link(Box::new(visit));
    private(execute_json(req, body, auth, &state).await)
}

fn qr_response(url: &str, png: bool) -> Response {
    if png {
        match vitrine_api::qr::png(url, 8) {
            Ok(bytes) => private(Response::builder().content_type("image/png").body(bytes)),
            Err(e) => fail(&e),
        }
    } else {
        private(
            Response::builder()
                .content_type("image/svg+xml")
                .body(vitrine_api::qr::svg(url)),
        )
    }
}

fn base(state: &AppState) -> &str {
    state.public_url.trim_end_matches('/')
}

/// `GET /s/TOKEN/qr.svg|png`: the QR code of a token URL, for whoever holds the token.
#[handler]
pub async fn token_qr(
    Path((token, file)): Path<(String, String)>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let png = match file.as_str() {
        "qr.png" => true,
        "qr.svg" => false,
        _ => return fail(&ApiError::not_found("file")),
    };
    match state.services.sharing().share_token_valid(&token).await {
        Ok(true) => qr_response(&format!("{}/s/{token}", base(&state)), png),
        Ok(false) => private(gone_page("revoked")),
        Err(e) => fail(&e),
    }
}

/// `GET /s/v/LINK/qr.svg|png`: the QR code of a link's page (no secret in it).
#[handler]
pub async fn link_qr(
    Path((link, file)): Path<(String, String)>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let png = match file.as_str() {
        "qr.png" => true,
        "qr.svg" => false,
        _ => return fail(&ApiError::not_found("file")),
    };
    qr_response(&format!("{}{}", base(&state), link_path(&link)), png)
}
