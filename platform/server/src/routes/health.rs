use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use crate::AppState;

/// The process is up.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the database answers and the artifact store is writable.
#[handler]
pub async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    match state.services.ready().await {
        Ok(()) => Response::builder().status(StatusCode::OK).body("ready"),
        Err(e) => {
            tracing::warn!(code = %e.code, error = e.message, "not ready");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body("not ready")
        }
    }
}
