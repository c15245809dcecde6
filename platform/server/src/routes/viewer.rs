//! The viewer's static parts: the page shell, the "no longer valid" page, and the assets
//! compiled into the binary (the viewer script and style, Chart.js, and GraphiQL with
//! React, all from the npm registry, see the `assets/vendor/README.md` files).

use poem::http::StatusCode;
use poem::web::Path;
use poem::{Response, handler};

const VIEWER_HTML: &str = include_str!("../../assets/viewer.html");
const VIEWER_JS: &str = include_str!("../../assets/viewer.js");
// Drawing code, style and Chart.js are shared with report files, which the API crate
// builds; they live with it.
const VIEWER_CSS: &str = vitrine_api::assets::VIEWER_CSS;
const TILES_JS: &str = vitrine_api::assets::TILES_JS;
const CHART_JS: &str = vitrine_api::assets::CHART_JS;
// GraphiQL and React, pinned and served from the binary (see `assets/vendor/README.md`).
const GRAPHIQL_JS: &str = include_str!("../../assets/vendor/graphiql.min.js");
const GRAPHIQL_CSS: &str = include_str!("../../assets/vendor/graphiql.min.css");
const REACT_JS: &str = include_str!("../../assets/vendor/react.production.min.js");
const REACT_DOM_JS: &str = include_str!("../../assets/vendor/react-dom.production.min.js");
const SETUP_JS: &str = include_str!("../../assets/setup.js");
const SIGNIN_JS: &str = include_str!("../../assets/signin.js");
const INVITE_JS: &str = include_str!("../../assets/invite.js");
const GRAPHIQL_BOOT_JS: &str = include_str!("../../assets/graphiql-boot.js");
pub const GRAPHIQL_HTML: &str = include_str!("../../assets/graphiql.html");

/// Scripts and styles come from this server only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'";

/// Who may put a viewer page in a frame: any site for a link made to embed one tab,
/// only this instance for everything else (no clickjacking of sign-in and edit pages).
fn csp(embeddable: bool) -> String {
    let ancestors = if embeddable { "*" } else { "'self'" };
    format!("{CSP}; frame-ancestors {ancestors}")
}

fn html(status: StatusCode, body: String, embeddable: bool) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("content-security-policy", csp(embeddable))
        .body(body)
}

/// The page shell; its script reads the link from the path and asks what to show.
/// `embeddable`: the link shows one tab, the product's embed.
pub fn viewer_page(embeddable: bool) -> Response {
    html(StatusCode::OK, VIEWER_HTML.to_owned(), embeddable)
}

/// Revoked, expired, paused or unknown links: one page that says so, and says nothing
/// about whether the link ever existed.
pub fn gone_page(reason: &str) -> Response {
    let detail = match reason {
        "paused" => "The person who shared it has paused it for now.",
        "expired" => "It has expired.",
        "owner" => "The person who shared it no longer has access to it.",
        _ => "It may have been revoked, or it has expired.",
    };
    html(
        StatusCode::GONE,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link no longer valid</title>\
             <link rel=\"stylesheet\" href=\"/assets/viewer.css\"></head><body><div id=\"gate\">\
             <h1 id=\"gone\">This link is no longer valid</h1><p>{detail}</p>\
             <p class=\"muted\">Ask the person who shared it for a new link.</p></div></body></html>"
        ),
        // Says nothing of the link; an embedded tab that ends shows it in its frame.
        true,
    )
}

/// `GET /assets/NAME`: the viewer's script, style and Chart.js, cached for a day.
#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let (body, mime) = match name.as_str() {
        "viewer.js" => (VIEWER_JS, "text/javascript; charset=utf-8"),
        "viewer.css" => (VIEWER_CSS, "text/css; charset=utf-8"),
        "tiles.js" => (TILES_JS, "text/javascript; charset=utf-8"),
        "chart.umd.min.js" => (CHART_JS, "text/javascript; charset=utf-8"),
        "graphiql.min.js" => (GRAPHIQL_JS, "text/javascript; charset=utf-8"),
        "graphiql.min.css" => (GRAPHIQL_CSS, "text/css; charset=utf-8"),
        "react.production.min.js" => (REACT_JS, "text/javascript; charset=utf-8"),
        "react-dom.production.min.js" => (REACT_DOM_JS, "text/javascript; charset=utf-8"),
        "graphiql-boot.js" => (GRAPHIQL_BOOT_JS, "text/javascript; charset=utf-8"),
        "setup.js" => (SETUP_JS, "text/javascript; charset=utf-8"),
        "signin.js" => (SIGNIN_JS, "text/javascript; charset=utf-8"),
        "invite.js" => (INVITE_JS, "text/javascript; charset=utf-8"),
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body("not found");
        }
    };
    Response::builder()
        .content_type(mime)
        .header("cache-control", "public, max-age=86400")
        .header("x-content-type-options", "nosniff")
        .body(body)
}
