//! Sign-in through OpenID Connect providers. `/signin` lists them (and the password form
//! when local accounts are on); `/auth/oidc/NAME/start` sends the browser to the provider
//! with a state that also goes into a short-lived cookie; `/auth/oidc/NAME/callback`
//! takes the browser back, refuses a state that is not the cookie's (a callback forced
//! into someone else's browser), lets the identity service check the answer, and sets
//! the session cookie.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use vitrine_api::ApiError;
use vitrine_api::services::SESSION_TTL;
use vitrine_core::ErrorCode;

use super::{cookie_value, request_meta};
use crate::AppState;

const STATE_COOKIE: &str = "vitrine_oidc_state";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(format!(
            "<!doctype html><html><head><meta charset=utf-8><title>{t}</title></head>\
             <body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

/// A refused sign-in, said in the page and with its stable code.
fn refusal(e: &ApiError) -> Response {
    page(
        super::status_of(e),
        "Sign-in failed",
        &format!(
            "<p id=\"error\" data-code=\"{}\">{}</p><p><a href=\"/signin\">Try again</a></p>",
            e.code.as_str(),
            escape(&e.message)
        ),
    )
}

fn state_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    // Lax: the provider's redirect back is a cross-site top-level navigation.
    format!(
        "{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// `GET /signin`: the providers, and the password form when local accounts are on.
#[handler]
pub async fn sign_in_page(Query(q): Query<StartQuery>, state: Data<&Arc<AppState>>) -> Response {
    let identity = state.services.identity();
    let back = q.return_to.unwrap_or_else(|| "/".into());
    let mut body = String::from("<ul id=\"providers\">");
    for p in identity.auth_providers() {
        let href = format!(
            "{}?return_to={}",
            p.start_path,
            form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        body.push_str(&format!(
            "<li><a class=\"provider\" data-name=\"{}\" href=\"{}\">{}</a></li>",
            escape(&p.name),
            escape(&href),
            escape(&p.label)
        ));
    }
    body.push_str("</ul>");
    if identity.local_accounts() {
        body.push_str(&format!(
            "<form id=\"local\" data-return-to=\"{}\"><label>Username <input name=\"username\" required></label> \
             <label>Password <input name=\"password\" type=\"password\" required></label> \
             <button>Sign in</button></form><p id=\"out\"></p><script src=\"/assets/signin.js\"></script>",
            escape(&back)
        ));
    }
    page(StatusCode::OK, "Sign in to Vitrine", &body)
}

/// `GET /auth/oidc/NAME/start?return_to=/path` → the provider's sign-in page.
#[handler]
pub async fn start(
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let started = state
        .services
        .identity()
        .oidc_start(&name, &state.public_url, q.return_to.as_deref())
        .await;
    match started {
        Ok(s) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", s.redirect_url)
            .header(
                "set-cookie",
                state_cookie(&s.state, 600, state.config.secure_cookies()),
            )
            .header("cache-control", "no-store")
            .finish(),
        Err(e) => refusal(&e),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/NAME/callback?code=…&state=…` → signed in, or why not.
#[handler]
pub async fn callback(
    req: &Request,
    Path(name): Path<String>,
    Query(q): Query<CallbackQuery>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let secure = state.config.secure_cookies();
    let mut resp = finish(req, &name, q, &state).await;
    // The state cookie has done its work, whatever the outcome.
    if let Ok(v) = state_cookie("", 0, secure).parse() {
        resp.headers_mut().append("set-cookie", v);
    }
    resp
}

async fn finish(req: &Request, name: &str, q: CallbackQuery, state: &AppState) -> Response {
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or_default();
        return refusal(&ApiError::new(
            ErrorCode::SignInRefused,
            format!("the identity provider did not sign you in ({error}) {why}"),
        ));
    }
    let (Some(code), Some(sent)) = (q.code, q.state) else {
        return refusal(&ApiError::new(
            ErrorCode::SignInRefused,
            "the provider's answer has no code or no state",
        ));
    };
    let kept = cookie_value(req, STATE_COOKIE).unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        kept.as_bytes(),
        sent.as_bytes(),
    )) {
        return refusal(&ApiError::new(
            ErrorCode::SignInRefused,
            "this sign-in was not started in this browser; start it again",
        ));
    }
    let finished = state
        .services
        .identity()
        .oidc_finish(name, &state.public_url, &code, &sent, &request_meta(req))
        .await;
    match finished {
        Ok(done) => {
            // A page, not a redirect: the session cookie is SameSite=Strict, and a
            // redirect chain that began at the provider would not send it yet.
            let target = escape(&done.return_to);
            let mut resp = page(
                StatusCode::OK,
                "Signed in",
                &format!(
                    "<meta http-equiv=\"refresh\" content=\"0;url={target}\">\
                     <p id=\"signed-in\">Signed in as {}. <a href=\"{target}\">Continue</a></p>",
                    escape(&done.login.user.username)
                ),
            );
            let cookie = super::auth::cookie(
                &done.login.session_token,
                SESSION_TTL.as_secs(),
                state.config.secure_cookies(),
            );
            if let Ok(v) = cookie.parse() {
                resp.headers_mut().append("set-cookie", v);
            }
            resp
        }
        Err(e) => refusal(&e),
    }
}
