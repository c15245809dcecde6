//! `vitrine`: the command at the top of the dependency graph.
//!
//! `vitrine serve` runs the server (and, by default, the job workers and the cron clock);
//! `vitrine worker` runs only the job workers and the clock; `vitrine admin …` manages
//! users, administrators, locked links and the setup link from the shell (see [`admin`]); `vitrine schema`
//! prints the GraphQL SDL that schema/graphql/vitrine.graphql holds, `vitrine errors` the
//! error-code catalogue of docs/errors.md; `vitrine plugin
//! check|run` tries a plugin block on local files; `vitrine bundle export|import|inspect`
//! moves projects as bundle files.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

mod admin;
mod allocator;
mod bundle;
mod plugin;

use vitrine_server::Config;

/// Vitrine's own events at info; the embedded database only when something is wrong.
const DEFAULT_LOG: &str =
    "info,surrealdb=warn,surrealkv=warn,surrealdb_core=warn,apalis_core=warn,sqlx=warn";

#[derive(Parser)]
#[command(
    name = "vitrine",
    version,
    about = "Self-hosted platform for sharing and deploying analytics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub(crate) struct Common {
    /// Configuration file (see deploy/vitrine.toml).
    #[arg(long, env = "VITRINE_CONFIG")]
    config: Option<PathBuf>,
    /// Directory holding the embedded database and artifacts.
    #[arg(long, env = "VITRINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (port 0 picks one; the log says which).
        #[arg(long, env = "VITRINE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Load an example project (sample data, a report, a public link) and print the
        /// link's URL. Safe to repeat: the project is created once, the link renewed.
        #[arg(long)]
        demo: bool,
    },
    /// Work on scheduled jobs without serving HTTP. Several workers (and servers) share
    /// one queue when it is Redis and the database is a shared SurrealDB server.
    Worker {
        #[command(flatten)]
        common: Common,
    },
    /// Administration from the shell.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print the error-code catalogue as Markdown (docs/errors.md).
    Errors,
    /// Try a plugin block without a server.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Export, import or check project bundles.
    Bundle {
        #[command(subcommand)]
        command: bundle::BundleCommand,
    },
}

pub(crate) fn load_config(common: &Common) -> anyhow::Result<Config> {
    let mut config = Config::load(common.config.as_deref())?;
    if let Some(d) = &common.data_dir {
        config.storage.data_dir = d.clone();
    }
    // Plugin compiles run in a child of this very binary, so a deadline can stop them.
    config.plugins.compiler = std::env::current_exe().ok();
    Ok(config)
}

/// Flips to true on Ctrl-C or SIGTERM (or when the sender is used); the server and the
/// workers both watch it.
fn stop_on_signal() -> (
    std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    tokio::sync::watch::Receiver<bool>,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let tx = std::sync::Arc::new(tx);
    let on_signal = tx.clone();
    tokio::spawn(async move {
        vitrine_server::shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    (tx, rx)
}

/// Resolves once `stop` turns true; boxed, as `vitrine_server::run` and `App::run_jobs` take it.
fn until(
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
}

/// Stack of every runtime thread. Query planning and evaluation recurse over the shape of
/// what they plan; definitions are bounded on the way in, and this leaves a wide margin
/// under those bounds (the default 2 MiB does not, in unoptimised builds). Untouched stack
/// pages cost no memory.
const THREAD_STACK_BYTES: usize = 16 << 20;

fn main() -> anyhow::Result<()> {
    allocator::tune();
    // A plugin compiler child (see `vitrine_plugins::compiler_main`): no runtime, no log.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == vitrine_plugins::COMPILE_ARG)
    {
        std::process::exit(vitrine_plugins::compiler_main());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_cli())
}

/// The log on standard output: `VITRINE_LOG` filters it, `VITRINE_LOG_FORMAT` picks
/// `text` (the default, for people) or `json` (one object per line, for log shippers).
/// Set before any configuration file is read, so the file's own errors are logged too.
fn init_log() -> anyhow::Result<()> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("VITRINE_LOG")
            .unwrap_or_else(|_| DEFAULT_LOG.into())
    };
    match std::env::var("VITRINE_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter())
            .init(),
        Ok("text") | Ok("") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter()).init(),
        Ok(other) => anyhow::bail!("VITRINE_LOG_FORMAT: `{other}` is neither `text` nor `json`"),
    }
    Ok(())
}

async fn run_cli() -> anyhow::Result<()> {
    init_log()?;
    match Cli::parse().command {
        Command::Serve {
            common,
            listen,
            demo,
        } => {
            let mut config = load_config(&common)?;
            if let Some(l) = listen {
                config.server.listen = l;
            }
            let app = vitrine_server::open_app(&config).await.with_context(|| {
                format!(
                    "cannot open the data directory {}",
                    config.storage.data_dir.display()
                )
            })?;
            let services = app.services.clone();
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            let public = config
                .server
                .public_url
                .clone()
                .unwrap_or(format!("http://{}", listener.local_addr()?));
            if demo {
                let path = vitrine_server::demo::prepare(&services).await?;
                tracing::info!(url = %format!("{public}{path}"), "demo report ready");
                println!("demo: open {public}{path} to see the example report");
            } else if services.identity().setup_required() {
                println!(
                    "tip: `vitrine serve --demo` loads an example project and prints a link to its report"
                );
            }
            let (stop_tx, stop) = stop_on_signal();
            let workers = config.queue.workers;
            // Side by side on this task (apalis worker futures are not `Send` across
            // every lifetime, so they are not spawned).
            let jobs = async {
                if workers {
                    app.run_jobs(until(stop.clone()))
                        .await
                        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
                } else {
                    Ok(())
                }
            };
            let http = async {
                let r =
                    vitrine_server::run(listener, services.clone(), config, until(stop.clone()))
                        .await;
                // The server stopped (or failed): the workers stop too.
                let _ = stop_tx.send(true);
                r
            };
            let (http, jobs) = tokio::join!(http, jobs);
            http?;
            jobs?;
        }
        Command::Worker { common } => {
            let config = load_config(&common)?;
            let app = vitrine_server::open_app(&config).await.with_context(|| {
                format!(
                    "cannot open the database at {} (an embedded database belongs to one process: with `vitrine serve` running, give workers a shared database with storage.database_url)",
                    config.database_url()
                )
            })?;
            println!(
                "worker: working on {} jobs; ctrl-c stops",
                app.queue.backend_name()
            );
            app.run_jobs(until(stop_on_signal().1))
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
        }
        Command::Admin { command } => admin::run(command).await?,
        Command::Schema => print!("{}", vitrine_api::graphql::sdl()),
        Command::Errors => print!("{}", error_catalogue()),
        // Blocks may call WASI, whose blocking calls drive the runtime from the calling
        // thread: run them on a thread that may block, as the server does.
        Command::Plugin { command } => tokio::task::spawn_blocking(move || plugin::run(command))
            .await
            .context("the plugin command stopped")??,
        Command::Bundle { command } => bundle::run(command).await?,
    }
    Ok(())
}

/// The error codes as docs/errors.md lists them: code, HTTP status, meaning.
fn error_catalogue() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Every error Vitrine answers carries one of these stable codes: `extensions.code` of a\n\
         GraphQL error (the `ErrorCode` enum of the schema lists them too), `code` of the JSON\n\
         body of an HTTP route, which answers with the status shown. Messages are for people\n\
         and may change; codes do not. Generated by `vitrine errors`; a test keeps it current.\n\n\
         | code | HTTP | meaning |\n|---|---|---|\n",
    );
    for code in vitrine_core::ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.http_status(),
            code.description().replace('|', "\\|")
        ));
    }
    out
}
