//! `vitrine bundle export|import|inspect`: project bundles from the shell. Export and
//! import talk to a running server over its API (an API token stands for the user), so
//! they work against any instance and go through the same checks as the GraphQL API;
//! `inspect` checks a file offline exactly as an import would, and writes nothing.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use vitrine_api::services::bundles::format::{BundleLimits, read};

#[derive(Args, Clone)]
pub struct Remote {
    /// The server's base URL.
    #[arg(long, env = "VITRINE_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token of the user to act as (see `createApiToken`).
    #[arg(long, env = "VITRINE_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Export a project (content, history, datasets) to a bundle file.
    Export {
        #[command(flatten)]
        remote: Remote,
        /// The project's id.
        #[arg(long)]
        project: String,
        /// Where to write the bundle.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Import a bundle file as a new project in a folder.
    Import {
        #[command(flatten)]
        remote: Remote,
        /// The folder's id.
        #[arg(long)]
        folder: String,
        /// The new project's name (default: the bundled project's).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        slug: Option<String>,
        file: PathBuf,
    },
    /// Check a bundle file as an import would and print what it holds.
    Inspect { file: PathBuf },
}

pub async fn run(command: BundleCommand) -> anyhow::Result<()> {
    match command {
        BundleCommand::Export {
            remote,
            project,
            output,
        } => {
            let r = graphql(
                &remote,
                "mutation($p:ID!){exportProjectBundle(projectId:$p){url bytes filename}}",
                json!({"p": project}),
            )
            .await?;
            let url = r["exportProjectBundle"]["url"]
                .as_str()
                .context("the server's answer has no download url")?;
            // The answer is absolute, from the server's public URL; fetched here from the
            // address this command reached, which a proxy's public URL may not be.
            let path = url.find("/download/").map_or(url, |i| &url[i..]);
            let resp = client()?
                .get(format!("{}{path}", remote.server.trim_end_matches('/')))
                .bearer_auth(&remote.token)
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!(
                    "download refused: {}",
                    resp.text().await.unwrap_or_default()
                );
            }
            let bytes = resp.bytes().await?;
            // Written beside the target and renamed, so a failed export leaves no
            // half-written file under the real name.
            let tmp = output.with_extension("partial");
            std::fs::write(&tmp, &bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &output)
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!("exported {} bytes to {}", bytes.len(), output.display());
        }
        BundleCommand::Import {
            remote,
            folder,
            name,
            slug,
            file,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // The raw-body route takes bundles up to the bundle limit (GraphQL uploads
            // stop at the general upload limit).
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("folder", &folder);
            if let Some(n) = &name {
                query.append_pair("name", n);
            }
            if let Some(s) = &slug {
                query.append_pair("slug", s);
            }
            let resp = client()?
                .post(format!(
                    "{}/api/bundles/import?{}",
                    remote.server.trim_end_matches('/'),
                    query.finish()
                ))
                .bearer_auth(&remote.token)
                .header("content-type", "application/zip")
                .body(bytes)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", remote.server))?;
            let status = resp.status();
            let p: Value = resp.json().await.unwrap_or_default();
            if !status.is_success() {
                bail!(
                    "{}: {}",
                    p["error"]["code"].as_str().unwrap_or("ERROR"),
                    p["error"]["message"].as_str().unwrap_or_default()
                );
            }
            println!(
                "imported as project {} ({}, slug {})",
                p["id"].as_str().unwrap_or_default(),
                p["name"].as_str().unwrap_or_default(),
                p["slug"].as_str().unwrap_or_default()
            );
        }
        BundleCommand::Inspect { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let b = read(&bytes, &BundleLimits::default())
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            let m = &b.manifest;
            println!("{} format {} ({})", m.format, m.version, m.made_by);
            println!("project: {} (slug {})", m.project.name, m.project.slug);
            println!("revisions: {} to {}", m.history_from, m.head);
            println!("reports: {}", b.head.reports.len());
            for d in &m.datasets {
                println!("dataset {}: {} rows, {} bytes", d.name, d.rows, d.bytes);
            }
        }
    }
    Ok(())
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().build()?)
}

async fn graphql(remote: &Remote, query: &str, variables: Value) -> anyhow::Result<Value> {
    let resp = client()?
        .post(format!("{}/graphql", remote.server.trim_end_matches('/')))
        .bearer_auth(&remote.token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", remote.server))?;
    answer(resp.json().await?)
}

/// The `data` of a GraphQL answer, or its first error as `CODE: message`.
fn answer(r: Value) -> anyhow::Result<Value> {
    if let Some(e) = r["errors"].as_array().and_then(|e| e.first()) {
        bail!(
            "{}: {}",
            e["extensions"]["code"].as_str().unwrap_or("ERROR"),
            e["message"].as_str().unwrap_or_default()
        );
    }
    Ok(r["data"].clone())
}
