//! Data routes beside GraphQL: tile downloads (CSV, Arrow IPC) and the WebSocket that
//! carries GraphQL subscriptions (run progress).

use std::sync::Arc;

use async_graphql::Data as GqlData;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use poem::http::StatusCode;
use poem::web::websocket::WebSocket;
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use vitrine_api::graphql::AuthState;
use vitrine_api::services::FilterState;
use vitrine_api::{ApiError, Caller};

use super::graphql::authenticate;
use super::{error_response, request_meta};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct TileDownloadParams {
    report: String,
    tile: String,
    /// `csv` (default) or `arrow`.
    #[serde(default)]
    format: Option<String>,
    /// Report filter values as JSON: `{"region": ["West"]}`; the viewer's URL state.
    #[serde(default)]
    filters: Option<String>,
}

pub(crate) async fn caller_of(state: &AppState, req: &Request) -> Result<Caller, ApiError> {
    let meta = request_meta(req);
    match authenticate(&state.services, req, &meta).await {
        AuthState::Caller(c) => Ok(*c),
        AuthState::Rejected(e) => Err(e),
        AuthState::Anonymous | AuthState::Link(_) => Err(ApiError::unauthenticated()),
    }
}

/// `GET /download/tile?report=ID&tile=ID&format=csv|arrow&filters=JSON`: a tile's data
/// as a file, when the project's download ability allows it.
#[handler]
pub async fn tile_download(
    req: &Request,
    Query(p): Query<TileDownloadParams>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let result = async {
        let caller = caller_of(&state, req).await?;
        let filters: FilterState = match &p.filters {
            Some(f) => serde_json::from_str(f).map_err(|e| {
                ApiError::invalid(format!("filters: not a JSON object of value lists: {e}"))
            })?,
            None => FilterState::new(),
        };
        let arrow = match p.format.as_deref() {
            None | Some("csv") => false,
            Some("arrow") => true,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "format: `{other}` is not csv or arrow"
                )));
            }
        };
        let d = state
            .services
            .data()
            .tile_download(&caller, &p.report, &p.tile, &filters)
            .await?;
        let (bytes, mime, ext) = if arrow {
            (
                d.result.arrow_ipc(),
                "application/vnd.apache.arrow.file",
                "arrow",
            )
        } else {
            (d.result.csv(), "text/csv; charset=utf-8", "csv")
        };
        let bytes = bytes.map_err(ApiError::from)?;
        Ok::<_, ApiError>(
            Response::builder()
                .status(StatusCode::OK)
                .content_type(mime)
                .header(
                    "content-disposition",
                    format!("attachment; filename=\"{}.{ext}\"", d.filename),
                )
                .header("cache-control", "no-store")
                .body(bytes),
        )
    }
    .await;
    result.unwrap_or_else(|e| error_response(&e))
}

/// `GET /graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws` and
/// the legacy `graphql-ws`). Credentials come from the session cookie, an Authorization
/// header, or `{"authorization": "Bearer TOKEN"}` in the connection-init payload.
#[handler]
pub async fn subscriptions(
    req: &Request,
    protocol: GraphQLProtocol,
    ws: WebSocket,
    state: Data<&Arc<AppState>>,
) -> Response {
    let meta = request_meta(req);
    // A browser sends cookies along with a cross-site WebSocket handshake; refuse
    // cookie-authenticated upgrades from pages of other origins.
    if super::session_cookie(req).is_some()
        && let (Some(origin), Some(host)) = (req.header("origin"), req.header("host"))
        && !origin.ends_with(&format!("//{host}"))
    {
        return error_response(&ApiError::new(
            vitrine_core::ErrorCode::CsrfRejected,
            "cross-origin WebSocket refused",
        ));
    }
    let auth = authenticate(&state.services, req, &meta).await;
    let schema = state.graphql.schema().clone();
    let services = state.services.clone();
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("authorization")
                        .and_then(|v| v.as_str())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_owned);
                    let auth = match token {
                        Some(t) => match services.identity().authenticate_token(&t, &meta).await {
                            Ok(c) => AuthState::Caller(Box::new(c)),
                            Err(e) => AuthState::Rejected(e),
                        },
                        None => auth,
                    };
                    let mut data = GqlData::default();
                    data.insert(auth);
                    data.insert(meta);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}
