//! `vitrine-server`: the HTTP face of Vitrine, above `vitrine-api`.
//!
//! poem routes: `POST /graphql` (the one API route; GraphiQL on GET), `/auth/login` and
//! `/auth/logout` (session cookies), `/setup` (first administrator), `/s/…` (share links
//! and the report viewer, `/assets/…` its script), `/healthz` and `/readyz`. Authorization is not decided here: routes authenticate the caller and hand
//! it to the service layer, which checks every read and write.

pub mod config;
pub mod demo;
pub mod guard;
mod metrics;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Route, Server, get, post};
use vitrine_api::services::App;
use vitrine_api::{PreparedSchema, Services};

pub use config::{Config, ConfigError};

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "vitrine_session";

/// Everything the routes share.
pub struct AppState {
    pub services: Arc<Services>,
    /// The GraphQL schema, as requests run it: documents checked once, then executed.
    pub graphql: PreparedSchema,
    pub config: Config,
    /// The base of every URL the server hands out (share links, QR codes): the configured
    /// public URL, else the bound address. Never the request's Host header, which the
    /// client chooses.
    pub public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Open(String),
    #[error("demo: {0}")]
    Demo(String),
    #[error("server i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the instance a configuration describes (see `vitrine_services::App::open`): what
/// `serve`, `worker` and the admin commands share.
pub async fn open_app(config: &Config) -> Result<App, ServerError> {
    App::open(config.app()?)
        .await
        .map_err(|e| ServerError::Open(e.message))
}

pub fn app(state: Arc<AppState>) -> impl poem::Endpoint {
    let guard = guard::Guard {
        trusted_proxies: state.config.trusted_proxies(),
        graphql_body: state.config.limits().max_body_bytes,
        hsts: state.public_url.starts_with("https://"),
    };
    Route::new()
        .at("/", get(routes::pages::index))
        .at(
            "/graphql",
            get(routes::graphql::graphiql).post(routes::graphql::execute),
        )
        .at("/graphql/ws", get(routes::data::subscriptions))
        .at("/download/tile", get(routes::data::tile_download))
        .at(
            "/download/export/:uid",
            get(routes::copies::export_download),
        )
        .at("/api/bundles/import", post(routes::copies::import_bundle))
        .at("/wc/api/head", get(routes::copies::head))
        .at("/wc/api/bundle", get(routes::copies::bundle))
        .at("/wc/api/push", post(routes::copies::push))
        .at("/auth/login", post(routes::auth::login))
        .at("/auth/logout", post(routes::auth::logout))
        .at("/auth/csrf", get(routes::auth::csrf))
        .at("/signin", get(routes::oidc::sign_in_page))
        .at("/auth/oidc/:name/start", get(routes::oidc::start))
        .at("/auth/oidc/:name/callback", get(routes::oidc::callback))
        .at("/setup", get(routes::pages::setup))
        .at("/invite", get(routes::pages::invite))
        .at("/auth/invitation", post(routes::auth::accept_invitation))
        .at("/assets/:name", get(routes::viewer::asset))
        .at("/s/:token", get(routes::share::open))
        .at("/s/:token/:file", get(routes::share::token_qr))
        .at("/s/v/:link", get(routes::share::page))
        .at("/s/v/:link/:file", get(routes::share::link_qr))
        .at("/s/v/:link/download", get(routes::share::download))
        .at("/s/v/:link/file", get(routes::share::delivered_file))
        .at("/s/v/:link/graphql", post(routes::share::graphql))
        .at(
            "/s/v/:link/api/sign-in",
            post(routes::share_session::sign_in),
        )
        .at(
            "/s/v/:link/api/password",
            post(routes::share_session::set_password),
        )
        .at(
            "/s/v/:link/api/invitation",
            post(routes::share_session::request_invitation),
        )
        .at(
            "/s/v/:link/api/sign-out",
            post(routes::share_session::sign_out),
        )
        .at("/healthz", get(routes::health::healthz))
        .at("/readyz", get(routes::health::readyz))
        .at("/metrics", get(metrics::public))
        .data(state)
        .with(guard)
        .around(metrics::observe)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish for the
/// configured grace period. Logs `listening on http://HOST:PORT` once bound.
///
/// The future comes boxed, and `shutdown` is not generic, so that the server's request
/// loop is compiled here at full optimisation instead of in the binary that polls it: the
/// binary, the last step of every build, stays small and builds at opt-level 1.
pub fn run(
    listener: tokio::net::TcpListener,
    services: Arc<Services>,
    config: Config,
    shutdown: futures::future::BoxFuture<'static, ()>,
) -> futures::future::BoxFuture<'static, Result<(), ServerError>> {
    Box::pin(serve(listener, services, config, shutdown))
}

async fn serve(
    listener: tokio::net::TcpListener,
    services: Arc<Services>,
    config: Config,
    shutdown: futures::future::BoxFuture<'static, ()>,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    let public = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let graphql = PreparedSchema::new(services.clone(), &config.limits(), &public);
    services.mailer().set_public_url(&public);
    if let Some(token) = services.identity().setup_token() {
        // The token rides in the fragment so it never reaches access logs or referrers,
        // and it goes to the terminal only: log sinks are read by more people than the
        // one who started the server.
        let url = format!("{public}/setup#token={token}");
        tracing::warn!("no administrator yet: open the setup url printed on the terminal");
        println!(
            "setup: open {url} to create the first administrator (valid for {} hours, until one exists)",
            vitrine_api::services::SETUP_TOKEN_TTL.as_secs() / 3600
        );
        keep_setup_url(&services, &config.storage.data_dir, &url);
    } else {
        let _ = std::fs::remove_file(config.storage.data_dir.join(SETUP_URL_FILE));
    }
    let state = Arc::new(AppState {
        services,
        graphql,
        config,
        public_url: public,
    });
    metrics::handle();
    let metrics_server = match state.config.metrics.listen {
        Some(at) => Some(serve_metrics(at, state.clone()).await?),
        None => None,
    };
    tracing::info!("listening on http://{addr}");
    let served = Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app(state), shutdown, Some(grace))
        .await;
    if let Some(m) = metrics_server {
        m.abort();
    }
    served?;
    tracing::info!("server stopped");
    Ok(())
}

/// `/metrics` alone on its own address (`[metrics] listen`), until the main server stops.
async fn serve_metrics(
    at: std::net::SocketAddr,
    state: Arc<AppState>,
) -> Result<tokio::task::JoinHandle<()>, ServerError> {
    let listener = tokio::net::TcpListener::bind(at).await?;
    let bound = listener.local_addr()?;
    // Logged like the main address, so operators and tests learn a port the OS chose.
    tracing::info!("metrics on http://{bound}/metrics");
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let app = Route::new()
        .at("/metrics", get(metrics::private))
        .data(state);
    Ok(tokio::spawn(async move {
        if let Err(e) = Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    }))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        _ = term => tracing::info!("sigterm received, shutting down"),
    }
}

/// Where the server leaves the setup URL for `vitrine admin setup-link` (readable by the
/// data directory's owner only), until an administrator exists.
pub const SETUP_URL_FILE: &str = "setup-url";

/// Writes the setup URL beside the data, owner-only, and removes it once setup is done:
/// an operator who lost the terminal finds it with `vitrine admin setup-link`.
fn keep_setup_url(services: &Arc<Services>, data_dir: &std::path::Path, url: &str) {
    let path = data_dir.join(SETUP_URL_FILE);
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        open.open(&path)?.write_all(format!("{url}\n").as_bytes())
    })();
    if let Err(e) = written {
        tracing::warn!(error = %e, "setup url not written to the data directory");
        return;
    }
    let services = services.clone();
    tokio::spawn(async move {
        while services.identity().setup_required() {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let _ = std::fs::remove_file(&path);
    });
}
