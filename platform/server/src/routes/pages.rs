//! Minimal HTML pages: the landing page, the first-administrator setup form and the
//! invited user's password form.

use std::sync::Arc;

use poem::handler;
use poem::web::{Data, Html};

use crate::AppState;

#[handler]
pub async fn index(state: Data<&Arc<AppState>>) -> Html<String> {
    let notice = if state.services.identity().setup_required() {
        "<p>This instance has no administrator yet: open the setup URL printed in the server log.</p>"
    } else {
        ""
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Vitrine</title></head><body>\
         <h1>Vitrine</h1>{notice}<p>The API is at <a href=\"/graphql\">/graphql</a> (GraphiQL in a browser).</p></body></html>"
    ))
}

/// The setup form. The token arrives in the URL fragment (never sent to the server by
/// the browser); the script posts it with the new administrator's name and password.
#[handler]
pub async fn setup(state: Data<&Arc<AppState>>) -> Html<String> {
    if !state.services.identity().setup_required() {
        return Html("<!doctype html><html><body><h1>Setup is closed</h1><p>This instance has an administrator.</p></body></html>".into());
    }
    Html(SETUP_PAGE.to_owned())
}

const SETUP_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Vitrine setup</title></head>
<body>
<h1>Create the first administrator</h1>
<form id="f">
  <label>Username <input name="username" required minlength="3"></label><br>
  <label>Password (12 characters or more) <input name="password" type="password" required minlength="12"></label><br>
  <button>Create</button>
</form>
<p id="out"></p>
<script src="/assets/setup.js"></script>
</body></html>"#;

/// An invited user's form to choose their password. The token arrives in the URL
/// fragment; the script posts it to `/auth/invitation`.
#[handler]
pub async fn invite() -> Html<&'static str> {
    Html(INVITE_PAGE)
}

const INVITE_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Vitrine: choose your password</title>
<meta name="referrer" content="no-referrer"></head>
<body>
<h1>Choose your Vitrine password</h1>
<form id="f">
  <label>Password (12 characters or more) <input name="password" type="password" autocomplete="new-password" required minlength="12"></label><br>
  <button>Save</button>
</form>
<p id="out" role="status"></p>
<script src="/assets/invite.js"></script>
</body></html>"#;
