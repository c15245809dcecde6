//! `vitrine plugin check|run`: try a plugin block on local files, without a server,
//! through the same sandboxed host the server uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use vitrine_engine::FileFormat;
use vitrine_engine::blocks::{decode_file, encode_file};
use vitrine_plugins::{Host, HostLimits, PluginError, PortTable, RunOptions};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Check a component: print what it declares, or why Vitrine would refuse it.
    Check {
        /// The component (.wasm), e.g. target/wasm32-wasip2/release/my_block.wasm.
        file: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run a block over local files and print its first output as CSV.
    Run {
        file: PathBuf,
        /// An input file (.csv, .jsonl, .parquet, .arrow), as PORT=PATH or, for the
        /// block's first input port, just PATH. Repeat for several ports.
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
        /// The block's settings: a JSON file, or JSON text starting with `{`.
        #[arg(long)]
        config: Option<String>,
        /// Write every output port to DIR/PORT.csv instead of printing the first.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Time limit of the call, in milliseconds.
        #[arg(long, default_value_t = 60_000)]
        time_limit_ms: u64,
        /// Memory limit of the call, in MiB.
        #[arg(long, default_value_t = 512)]
        memory_mib: usize,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// Where compiled components are kept between runs: compiling a Python or JavaScript
/// block takes seconds, loading it compiled a few milliseconds.
#[derive(clap::Args)]
pub struct CacheArgs {
    /// The directory of compiled components [default: $XDG_CACHE_HOME/vitrine/plugins,
    /// else ~/.cache/vitrine/plugins].
    #[arg(long, env = "VITRINE_PLUGIN_CACHE")]
    cache_dir: Option<PathBuf>,
    /// Compile afresh and keep nothing (over any cache directory given).
    #[arg(long)]
    no_cache: bool,
}

impl CacheArgs {
    fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("vitrine").join("plugins"))
        })
    }

    /// A host keeping its compiled code in the cache directory; one that cannot be
    /// created is said and passed over, as the cache only saves time.
    fn host(&self, limits: HostLimits) -> anyhow::Result<Host> {
        if let Some(dir) = self.dir() {
            match Host::new(limits.clone(), Some(dir.clone())) {
                Ok(host) => return Ok(host),
                Err(e) => eprintln!(
                    "note: compiled components are not kept ({}: {e}); pass --cache-dir or --no-cache",
                    dir.display()
                ),
            }
        }
        Host::new(limits, None).map_err(plugin_error)
    }
}

fn plugin_error(e: PluginError) -> anyhow::Error {
    anyhow::anyhow!("{}: {e}", e.code())
}

fn format_of(path: &Path) -> anyhow::Result<FileFormat> {
    Ok(
        match path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
        {
            "csv" => FileFormat::Csv,
            "jsonl" | "ndjson" => FileFormat::Jsonl,
            "parquet" => FileFormat::Parquet,
            "arrow" | "ipc" | "feather" => FileFormat::Arrow,
            other => bail!(
                "{}: unknown file type `.{other}`; use .csv, .jsonl, .parquet or .arrow",
                path.display()
            ),
        },
    )
}

pub fn run(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Check { file, cache } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let host = cache.host(HostLimits::default())?;
            let plugin = host.load(&bytes).map_err(plugin_error)?;
            let info = serde_json::to_string_pretty(&plugin.info)?;
            println!("{info}");
            eprintln!(
                "ok: {} {} implements vitrine:block@{}",
                plugin.info.name, plugin.info.version, plugin.info.contract
            );
        }
        PluginCommand::Run {
            file,
            inputs,
            config,
            output_dir,
            time_limit_ms,
            memory_mib,
            cache,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let limits = HostLimits {
                time_limit: Duration::from_millis(time_limit_ms),
                memory_bytes: memory_mib << 20,
                ..HostLimits::default()
            };
            let host = cache.host(limits)?;
            let plugin = host.load(&bytes).map_err(plugin_error)?;
            let settings: serde_json::Value = match config {
                None => serde_json::json!({}),
                Some(c) if c.trim_start().starts_with('{') => {
                    serde_json::from_str(&c).context("--config is not JSON")?
                }
                Some(path) => serde_json::from_slice(
                    &std::fs::read(&path).with_context(|| format!("cannot read {path}"))?,
                )
                .with_context(|| format!("{path} is not JSON"))?,
            };
            let mut tables = Vec::new();
            for spec in inputs {
                let (port, path) = match spec.split_once('=') {
                    Some((p, f)) => (p.to_owned(), PathBuf::from(f)),
                    None => (
                        plugin
                            .info
                            .inputs
                            .first()
                            .map(|p| p.name.clone())
                            .context("this block takes no inputs")?,
                        PathBuf::from(spec),
                    ),
                };
                let data = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let decoded = decode_file(format_of(&path)?, bytes::Bytes::from(data), None)
                    .map_err(|e| anyhow::anyhow!("{}: {}: {e}", path.display(), e.code()))?;
                tables.push(PortTable {
                    port,
                    schema: decoded.schema,
                    batches: decoded.batches,
                });
            }
            let failure_log = vitrine_plugins::FailureLog::default();
            let out = host.run(
                &plugin,
                &settings,
                tables,
                RunOptions {
                    time_limit: None,
                    progress: Some(std::sync::Arc::new(|done, total| {
                        eprintln!("progress: {done}/{total}")
                    })),
                    failure_log: Some(failure_log.clone()),
                },
            );
            // The block's log first, then the outcome: on a failure it says why.
            let log = match &out {
                Ok(out) => out.log.clone(),
                Err(_) => failure_log.lock().clone(),
            };
            for line in &log {
                eprintln!("{}: {}", line.level.as_str(), line.message);
            }
            let out = out.map_err(plugin_error)?;
            let csv = |t: &PortTable| {
                encode_file(FileFormat::Csv, &t.schema, &t.batches)
                    .map_err(|e| anyhow::anyhow!("output `{}`: {e}", t.port))
            };
            match output_dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    for t in &out.outputs {
                        let path = dir.join(format!("{}.csv", t.port));
                        std::fs::write(&path, csv(t)?)?;
                        eprintln!("wrote {} rows to {}", t.rows(), path.display());
                    }
                }
                None => {
                    use std::io::Write;
                    let first = out.outputs.first().context("the block returned nothing")?;
                    std::io::stdout().write_all(&csv(first)?)?;
                }
            }
            eprintln!("ran in {} ms", out.elapsed.as_millis());
        }
    }
    Ok(())
}
