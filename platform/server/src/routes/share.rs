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
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};
use vitrine_api::graphql::AuthState;
use vitrine_api::services::FilterState;
use vitrine_api::services::{ShareAccess, SharePage, link_path};
use vitrine_api::{ApiError, Caller, RequestMeta};
use vitrine_core::{ErrorCode, RecipientPassword};

use super::graphql::authenticate;
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
        .share_page(link, share_cookie(req).as_deref(), user.as_ref(), &meta)
        .await
}

fn gone_error(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::LinkNotValid,
        match reason {
            "paused" => "this link is paused; ask the person who shared it",
            _ => "this link is no longer valid",
        },
    )
}

/// Resolves a request to a visitor who may see the link, or the answer to give instead.
async fn access(state: &AppState, req: &Request, link: &str) -> Result<ShareAccess, Response> {
    let answer = |status: StatusCode, body: Value| private(json_response(status, &body));
    match page_for(state, req, link).await {
        Ok(SharePage::Ready(a)) => Ok(*a),
        Ok(SharePage::Gone { reason }) => Err(private(error_response(&gone_error(reason)))),
        Ok(SharePage::NeedsToken) => Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({"state": "needs_token", "error": {"code": "UNAUTHENTICATED",
                "message": "open the link you were given to see this report"}}),
        )),
        Ok(SharePage::SignIn { locked }) => Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({"state": "sign_in", "locked": locked, "error": {"code": "UNAUTHENTICATED",
                "message": "sign in with your e-mail address and password"}}),
        )),
        Ok(SharePage::SetPassword { name }) => Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({"state": "set_password", "name": name, "rule": RecipientPassword::RULE,
                "error": {"code": "UNAUTHENTICATED", "message": "choose a password first"}}),
        )),
        Ok(SharePage::SignInUser) => Err(answer(
            StatusCode::UNAUTHORIZED,
            json!({"state": "sign_in_user", "error": {"code": "UNAUTHENTICATED",
                "message": "sign in to Vitrine to open this link"}}),
        )),
        Err(e) => Err(private(error_response(&e))),
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
    match state.services.open_share_token(&token, &meta).await {
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
                .share_link_embeddable(&link)
                .await
                .unwrap_or(false);
            private(viewer_page(embeddable))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ViewParams {
    report: Option<String>,
    tab: Option<String>,
    filters: Option<String>,
    tile: Option<String>,
    filter: Option<String>,
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

/// `GET /s/v/LINK/api/view?report=ID`: what the page draws: report, tabs, filters, rights.
#[handler]
pub async fn view(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<ViewParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match state.services.share_view(&a, p.report.as_deref()).await {
        Ok(v) => ok(json!({"state": "ready", "view": v})),
        Err(e) => fail(&e),
    }
}

/// `GET /s/v/LINK/api/tiles?report=ID&tab=ID&filters=JSON`: one view — every tile of a
/// tab, as columns and rows.
#[handler]
pub async fn tiles(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<ViewParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let result = async {
        let filters = filters_of(p.filters.as_deref())?;
        let tiles = state
            .services
            .share_tiles(&a, p.report.as_deref(), p.tab.as_deref(), &filters)
            .await?;
        // Each cached result keeps its rows' JSON text, so a view only stitches texts.
        let mut parts = Vec::with_capacity(tiles.len());
        for (id, r) in &tiles {
            parts.push(format!(
                "{{\"id\":{},\"columns\":{},\"truncated\":{},\"rows\":{}}}",
                Value::from(id.as_str()),
                json!(r.columns()),
                r.truncated,
                r.json_rows_text().map_err(ApiError::from)?
            ));
        }
        let body = format!("{{\"tiles\":[{}]}}", parts.join(","));
        Ok::<_, ApiError>(body)
    }
    .await;
    match result {
        Ok(body) => private(
            Response::builder()
                .status(StatusCode::OK)
                .content_type("application/json")
                .body(body),
        ),
        Err(e) => fail(&e),
    }
}

/// `GET /s/v/LINK/api/filter-values?report=ID&filter=ID`: the choices of a filter control.
#[handler]
pub async fn filter_values(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<ViewParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(filter) = p.filter.as_deref() else {
        return fail(&ApiError::invalid("filter: required"));
    };
    match state
        .services
        .share_filter_values(&a, p.report.as_deref(), filter)
        .await
    {
        Ok(v) => ok(json!({ "values": v })),
        Err(e) => fail(&e),
    }
}

/// `GET /s/v/LINK/download?report=ID&tile=ID&filters=JSON`: a tile as CSV, when the link
/// grants downloads.
#[handler]
pub async fn download(
    req: &Request,
    Path(link): Path<String>,
    Query(p): Query<ViewParams>,
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

#[derive(Debug, Deserialize)]
pub struct DrillBody {
    report: Option<String>,
    tile: String,
    values: Vec<(String, Value)>,
    #[serde(default)]
    filters: FilterState,
}

/// `POST /s/v/LINK/api/drill {tile, values, filters}`: rows behind a value (drill right).
#[handler]
pub async fn drill(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<DrillBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(
        req,
        body,
        "{\"tile\": …, \"values\": [[column, value]], \"filters\": {…}}",
    ) {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let result = async {
        let r = state
            .services
            .share_drill(&a, b.report.as_deref(), &b.tile, b.values, &b.filters)
            .await?;
        Ok::<_, ApiError>(json!({
            "columns": r.columns(),
            "rows": r.json_rows().map_err(ApiError::from)?,
            "truncated": r.truncated,
        }))
    }
    .await;
    result.map(ok).unwrap_or_else(|e| fail(&e))
}

#[derive(Debug, Deserialize)]
pub struct CopyLinkBody {
    /// The viewer's query string: report, tab and filters.
    #[serde(default)]
    query: String,
}

/// `POST /s/v/LINK/api/copy-link {query}`: a URL to exactly this view that opens in a
/// fresh browser: for a public link with a newly minted token, else the link's page.
#[handler]
pub async fn copy_link(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<CopyLinkBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(req, body, "{\"query\": …}") {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match state.services.share_copy_link(&a, &b.query).await {
        Ok(path) => ok(json!({ "url": format!("{}{path}", base(&state)) })),
        Err(e) => fail(&e),
    }
}

#[derive(Debug, Deserialize)]
pub struct EditBody {
    report: Option<String>,
    definition: Value,
}

/// `PUT /s/v/LINK/api/report {definition}`: saves an edit (edit right): into the master
/// report with the sync right, else into the visitor's own copy.
#[handler]
pub async fn edit(
    req: &Request,
    Path(link): Path<String>,
    body: Result<Json<EditBody>, poem::Error>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let b = match write_body(req, body, "{\"definition\": {tabs, filters}}") {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let a = match access(&state, req, &link).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match state
        .services
        .share_save(&a, b.report.as_deref(), &b.definition)
        .await
    {
        Ok(def) => ok(json!({"ok": true, "definition": def, "synced": a.rights.sync_edits})),
        Err(e) => fail(&e),
    }
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
    match state.services.share_token_valid(&token).await {
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
