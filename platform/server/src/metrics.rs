//! `/metrics` in Prometheus text format, and the HTTP-level measurements: requests and
//! their latency per route (the route's pattern, never the raw path, so link tokens and
//! ids stay out of the labels), and GraphQL operations by name. Measurements deeper in
//! (tile cache, queue jobs, plugin runs, sign-ins, share-link views) are made where they
//! happen, through the `metrics` facade; this module installs the one recorder that
//! collects them all and renders it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Request, Response, handler};
use subtle::ConstantTimeEq;

use crate::AppState;

/// Latency buckets, in seconds: from a cached tile (sub-millisecond) to a long import.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Distinct GraphQL operation names kept as labels; later ones count as `other`, so a
/// client inventing names cannot grow the series without bound.
const MAX_OPERATION_NAMES: usize = 200;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use. `None` when another recorder was
/// installed first (only in tests embedding several servers): measurements then go there.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The text format, with the queue's depth read now (it lives in the backend, shared by
/// every process), and the engine caches' lookups.
async fn render(state: &AppState) -> Response {
    match state.services.queue_depth().await {
        Ok(d) => {
            metrics::gauge!("vitrine_queue_jobs", "state" => "pending").set(d.pending as f64);
            metrics::gauge!("vitrine_queue_jobs", "state" => "running").set(d.running as f64);
        }
        Err(e) => tracing::warn!(code = %e.code, error = e.message, "queue depth unknown"),
    }
    // Counted by the caches themselves (a lookup costs no recorder lookup), read now.
    for c in state.services.cache_stats() {
        for (result, n) in [("hit", c.hits), ("miss", c.misses)] {
            metrics::counter!("vitrine_cache_lookups_total", "cache" => c.name, "result" => result)
                .absolute(n);
        }
    }
    match handle() {
        Some(h) => Response::builder()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `GET /metrics` on the public listener: only with `[metrics] token`, sent as a bearer
/// token (compared in constant time); not found when no token is configured.
#[handler]
pub async fn public(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let Some(token) = &state.config.metrics.token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sent = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(token.as_bytes())) {
        render(&state).await
    } else {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Bearer")
            .body("send the metrics token as `Authorization: Bearer TOKEN`")
    }
}

/// `GET /metrics` on the metrics listener, which serves nothing else.
#[handler]
pub async fn private(state: Data<&Arc<AppState>>) -> Response {
    render(&state).await
}

/// Counts each request and times it, labelled by route pattern and status class.
pub async fn observe<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let route = route_of(req.uri().path());
    let started = Instant::now();
    let resp = ep.get_response(req).await;
    let status = match resp.status().as_u16() {
        s @ 100..=599 => ["1xx", "2xx", "3xx", "4xx", "5xx"][(s / 100 - 1) as usize],
        _ => "other",
    };
    let (count, took) = http_series(route, status);
    count.increment(1);
    took.record(started.elapsed());
    Ok(resp)
}

/// A label set's handles, made once: `counter!` with labels builds its key and looks it
/// up in the recorder's registry on every call, which every request paid for four
/// series. A handle belongs to the recorder installed when it was made; [`run`] installs
/// it before the first request, and only requests reach these.
///
/// [`run`]: crate::run
fn http_series(route: &'static str, status: &'static str) -> (Counter, Histogram) {
    type Series = HashMap<(&'static str, &'static str), (Counter, Histogram)>;
    static SERIES: RwLock<Option<Series>> = RwLock::new(None);
    let known = SERIES.read().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = known.as_ref().and_then(|m| m.get(&(route, status))) {
        return s.clone();
    }
    drop(known);
    // Routes and status classes are fixed sets: the map stays small.
    let mut series = SERIES.write().unwrap_or_else(|e| e.into_inner());
    series
        .get_or_insert_with(HashMap::new)
        .entry((route, status))
        .or_insert_with(|| {
            (
                metrics::counter!("vitrine_http_requests_total", "route" => route, "status" => status),
                metrics::histogram!("vitrine_http_request_duration_seconds", "route" => route),
            )
        })
        .clone()
}

/// The name a request runs under: its `operationName`, else the name of the document's
/// first operation (`query Tiles(…)` → `Tiles`), read without parsing the document.
pub fn operation_name<'a>(operation_name: Option<&'a str>, query: &'a str) -> Option<&'a str> {
    if operation_name.is_some() {
        return operation_name;
    }
    let mut rest = query.trim_start();
    while let Some(comment) = rest.strip_prefix('#') {
        rest = comment.split_once('\n').map_or("", |(_, r)| r).trim_start();
    }
    let rest = ["query", "mutation", "subscription"]
        .iter()
        .find_map(|k| rest.strip_prefix(k))?;
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return None; // `queryX`: not the keyword
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// One GraphQL operation: counted and timed by its name (bounded) and outcome.
pub fn graphql_operation(name: Option<&str>, failed: bool, took: Duration) {
    let series = operation_series(name);
    if failed { &series.error } else { &series.ok }.increment(1);
    series.took.record(took);
}

/// The series of one operation label, made when the label is first seen (see
/// [`http_series`] for why handles are kept).
struct OperationSeries {
    ok: Counter,
    error: Counter,
    took: Histogram,
}

impl OperationSeries {
    fn new(label: &str) -> OperationSeries {
        let counter = |outcome: &'static str| metrics::counter!("vitrine_graphql_operations_total", "operation" => label.to_owned(), "outcome" => outcome);
        OperationSeries {
            ok: counter("ok"),
            error: counter("error"),
            took: metrics::histogram!("vitrine_graphql_operation_duration_seconds", "operation" => label.to_owned()),
        }
    }
}

/// Labels that never count against [`MAX_OPERATION_NAMES`].
const ANONYMOUS: &str = "anonymous";
const OTHER: &str = "other";

fn operation_series(name: Option<&str>) -> Arc<OperationSeries> {
    // Read-locked on every operation, write-locked only for a label not seen yet.
    static SEEN: RwLock<Option<HashMap<String, Arc<OperationSeries>>>> = RwLock::new(None);
    let name = name
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .unwrap_or(ANONYMOUS);
    let known = SEEN.read().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = known.as_ref().and_then(|m| m.get(name)) {
        return s.clone();
    }
    drop(known);
    let mut seen = SEEN.write().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    if let Some(s) = seen.get(name) {
        return s.clone();
    }
    let names = seen.len()
        - usize::from(seen.contains_key(ANONYMOUS))
        - usize::from(seen.contains_key(OTHER));
    let label = if name == ANONYMOUS || names < MAX_OPERATION_NAMES {
        name
    } else {
        OTHER
    };
    seen.entry(label.to_owned())
        .or_insert_with(|| Arc::new(OperationSeries::new(label)))
        .clone()
}

/// The route pattern a path was served by (`/s/v/:link/graphql`); `other` for paths no
/// route serves, so scanners do not add series.
pub fn route_of(path: &str) -> &'static str {
    // No route has more than five segments: a fixed array spares an allocation per
    // request.
    let mut segments = [""; 6];
    let mut n = 0;
    for part in path.trim_start_matches('/').split('/') {
        if n == segments.len() {
            return "other";
        }
        segments[n] = part;
        n += 1;
    }
    match &segments[..n] {
        [""] => "/",
        ["graphql"] => "/graphql",
        ["graphql", "ws"] => "/graphql/ws",
        ["download", "tile"] => "/download/tile",
        ["download", "export", _] => "/download/export/:uid",
        ["api", "bundles", "import"] => "/api/bundles/import",
        ["wc", "api", "head"] => "/wc/api/head",
        ["wc", "api", "bundle"] => "/wc/api/bundle",
        ["wc", "api", "push"] => "/wc/api/push",
        ["auth", "login"] => "/auth/login",
        ["auth", "logout"] => "/auth/logout",
        ["auth", "csrf"] => "/auth/csrf",
        ["auth", "invitation"] => "/auth/invitation",
        ["auth", "oidc", _, "start"] => "/auth/oidc/:name/start",
        ["auth", "oidc", _, "callback"] => "/auth/oidc/:name/callback",
        ["signin"] => "/signin",
        ["setup"] => "/setup",
        ["invite"] => "/invite",
        ["assets", _] => "/assets/:name",
        ["s", "v", _] => "/s/v/:link",
        ["s", "v", _, "download"] => "/s/v/:link/download",
        ["s", "v", _, "file"] => "/s/v/:link/file",
        ["s", "v", _, "graphql"] => "/s/v/:link/graphql",
        ["s", "v", _, "api", _] => "/s/v/:link/api",
        ["s", "v", _, _] => "/s/v/:link/:file",
        ["s", _] => "/s/:token",
        ["s", _, _] => "/s/:token/:file",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["metrics"] => "/metrics",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_patterns_never_tokens() {
        assert_eq!(route_of("/s/abc123secret"), "/s/:token");
        assert_eq!(route_of("/s/v/L1/graphql"), "/s/v/:link/graphql");
        assert_eq!(route_of("/s/v/L1/qr.svg"), "/s/v/:link/:file");
        assert_eq!(route_of("/s/v/L1/api/sign-in"), "/s/v/:link/api");
        assert_eq!(route_of("/download/export/x"), "/download/export/:uid");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/wp-admin/login.php"), "other");
        assert_eq!(route_of("/s/v/a/b/c/d/e/f"), "other");
    }

    #[test]
    fn operations_are_named_by_the_request_or_the_document() {
        assert_eq!(operation_name(Some("A"), "query B { x }"), Some("A"));
        assert_eq!(
            operation_name(None, "  # c\n query Tiles($r: ID) { x }"),
            Some("Tiles")
        );
        assert_eq!(operation_name(None, "mutation Save{ x }"), Some("Save"));
        assert_eq!(operation_name(None, "query($r: ID) { x }"), None);
        assert_eq!(operation_name(None, "{ x }"), None);
        assert_eq!(operation_name(None, "queryX { x }"), None);
    }

    #[test]
    fn operation_names_are_bounded() {
        // Series are told apart by identity: the same label gives the same handles.
        let same = |a: Option<&str>, b: Option<&str>| {
            Arc::ptr_eq(&operation_series(a), &operation_series(b))
        };
        assert!(same(None, Some("anonymous")));
        assert!(same(Some("a b"), None));
        let tiles = operation_series(Some("SharedTiles"));
        assert!(!same(Some("SharedTiles"), None));
        for i in 0..MAX_OPERATION_NAMES - 1 {
            assert!(!same(Some(&format!("Op{i}")), Some("other")), "Op{i}");
        }
        assert!(same(Some("OneTooMany"), Some("other")));
        assert!(same(Some("AnotherOne"), Some("other")));
        assert!(
            Arc::ptr_eq(&tiles, &operation_series(Some("SharedTiles"))),
            "kept"
        );
    }
}
