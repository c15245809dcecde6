//! Bringing a bundle in: reading and checking the file, then installing its content into
//! a new project (an import) or an existing one (a working copy's push from another
//! instance), with the datasets made while the rest is written.

use std::collections::HashSet;

use vitrine_authz::Action;
use vitrine_core::{AuditAction, ErrorCode};
use vitrine_storage::{DatasetRecord, ProjectRecord, new_uid, now_ms};

use super::format::{self, Bundle, BundleLimits};
use super::{BundleSource, unknown_attributes_warning};
use crate::Audit;
use crate::caller::Caller;
use crate::directory::{Creation, ProjectView};
use crate::guard::{Authorized, Edit};
use crate::versions::Versions;
use crate::versions::install::{Install, Installed, Payload};
use crate::{ApiError, ApiResult};

impl Versions {
    /// Reads and checks a bundle file without writing anything (but temporary files).
    pub(crate) async fn read_bundle(&self, source: BundleSource) -> ApiResult<Bundle> {
        tokio::task::spawn_blocking(move || {
            let limits = BundleLimits::default();
            match source {
                BundleSource::Memory(bytes) => {
                    let len = bytes.len() as u64;
                    let archive = format::Archive::Memory(bytes.clone());
                    format::read_from(std::io::Cursor::new(&bytes[..]), len, &limits, &archive)
                }
                BundleSource::File(mut file) => {
                    use std::io::Seek;
                    let len = file
                        .seek(std::io::SeekFrom::End(0))
                        .and_then(|n| file.rewind().map(|_| n))
                        .map_err(|e| ApiError::internal("bundle reader", e))?;
                    let archive = format::Archive::File(
                        file.try_clone()
                            .map_err(|e| ApiError::internal("bundle reader", e))?,
                    );
                    format::read_from(std::io::BufReader::new(file), len, &limits, &archive)
                }
            }
        })
        .await
        .map_err(|e| ApiError::internal("bundle reader", e))?
    }

    /// A checked bundle's content as a payload. Its datasets are stored as artifacts
    /// (content-addressed, so nothing existing changes) and stay pinned against garbage
    /// collection until the returned hashes are unpinned.
    pub(crate) async fn payload_of_bundle(&self, b: &Bundle) -> ApiResult<(Payload, Vec<String>)> {
        datasets_have_blocks(b)?;
        let (datasets, pinned) = self.bundle_datasets(b).await?;
        Ok((
            Payload {
                datasets,
                ..history_of(b)
            },
            pinned,
        ))
    }

    /// A checked bundle's datasets, decoded, checked and stored as artifacts, as records
    /// (not yet any project's), with the hashes pinned until the caller unpins them. On
    /// an error nothing stays pinned.
    async fn bundle_datasets(&self, b: &Bundle) -> ApiResult<(Vec<DatasetRecord>, Vec<String>)> {
        let now = now_ms();
        // Datasets read through a data connection stay under its connection roles here:
        // the connection the workflow names on this instance (the bundle's rows came
        // from the exporter's; whoever may not see this one's does not see those).
        let wf: vitrine_engine::workflow::Workflow =
            serde_json::from_value(b.head.workflow.clone()).unwrap_or_default();
        let params = self
            .engine
            .parameters(crate::versions::revisions::parameter_strings(&b.head))
            .await?;
        let mut datasets = Vec::new();
        let mut pinned = Vec::new();
        let made = async {
            for (d, entry) in b.manifest.datasets.iter().zip(&b.data) {
                // One dataset in memory at a time, read from where the bundle keeps it.
                let bytes = entry
                    .load()
                    .map_err(|e| ApiError::internal("bundle reader", e))?;
                let (hash, rows, size) =
                    self.engine.datasets.put_ipc(bytes).await.map_err(|e| {
                        ApiError::new(
                            ErrorCode::InvalidBundle,
                            format!("dataset `{}`: {e}", d.name),
                        )
                    })?;
                pinned.push(hash.clone());
                if rows as i64 != d.rows {
                    return Err(ApiError::new(
                        ErrorCode::InvalidBundle,
                        format!(
                            "dataset `{}` holds {rows} rows; the manifest says {}",
                            d.name, d.rows
                        ),
                    ));
                }
                datasets.push(DatasetRecord {
                    uid: new_uid().into(),
                    project_uid: Default::default(),
                    name: d.name.clone(),
                    block_id: d.block_id.clone(),
                    content_hash: hash,
                    schema: d.schema.clone(),
                    rows: d.rows,
                    bytes: size as i64,
                    published_ms: now,
                    connections: vitrine_engine::workflow::connections_feeding(
                        &wf, &d.name, &params,
                    )
                    .into_iter()
                    .collect(),
                });
            }
            Ok(())
        };
        if let Err(e) = made.await {
            self.engine.datasets.unpin(&pinned);
            return Err(e);
        }
        Ok((datasets, pinned))
    }

    /// Installs a checked bundle's content into `target` (see
    /// [`install_while`](Self::install_while)): its datasets are inflated, checked and
    /// stored while the rest is written in an open transaction, their records go in last,
    /// before the commit, and their hashes stay pinned until then.
    pub(crate) async fn install_bundle(
        &self,
        target: &Authorized<ProjectRecord, Edit>,
        bundle: &Bundle,
        how: Install,
        author: (Option<&str>, &str),
    ) -> ApiResult<Installed> {
        datasets_have_blocks(bundle)?;
        let payload = history_of(bundle);
        let made = parking_lot::Mutex::new((Vec::new(), std::time::Duration::ZERO));
        let started = std::time::Instant::now();
        let datasets = async {
            let (records, pinned) = self.bundle_datasets(bundle).await?;
            *made.lock() = (pinned, started.elapsed());
            Ok(records)
        };
        let installed = self
            .install_while(target, &payload, how, author, Some(Box::pin(datasets)))
            .await;
        let (pinned, stored) = made.into_inner();
        self.engine.datasets.unpin(&pinned);
        tracing::debug!(
            datasets_ms = stored.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "bundle installed"
        );
        installed
    }

    /// A new project in `folder` from a bundle file: head content, the whole history
    /// (renumbered from 1, authors by name) and the datasets. Everything is checked
    /// before the project exists; if writing fails the new project is removed again.
    /// `body` is awaited only once the caller may import there: nobody else gets the
    /// server to read a large body.
    pub async fn import_bundle(
        &self,
        caller: &Caller,
        body: impl Future<Output = ApiResult<BundleSource>>,
        folder: &str,
        name: Option<&str>,
        slug: Option<&str>,
    ) -> ApiResult<ProjectView> {
        caller.require_write()?;
        self.directory
            .load_folder(caller, &vitrine_core::FolderId::from(folder), Action::Edit)
            .await?;
        let source = body.await?;
        let started = std::time::Instant::now();
        let bundle = self.read_bundle(source).await?;
        let read = started.elapsed();
        // The workflow must be runnable here before anything is written.
        self.restorable(&bundle.head, "the bundle's content")
            .await?;
        // Refused before a project is planned for it (checked again as it installs).
        datasets_have_blocks(&bundle)?;
        let name = name.unwrap_or(&bundle.manifest.project.name);
        // The project is born with its content: one transaction writes the project, its
        // policies, the content, the history and both audit events, so a failure leaves
        // nothing behind and nobody ever sees the project empty.
        let planned = self
            .directory
            .plan_project(caller, folder, name, slug, Creation::Published)
            .await;
        let security = bundle.manifest.security.clone().unwrap_or_default();
        let planned = match planned {
            Ok(mut p) => self
                .govern(&mut p, &security)
                .await
                .map(|unknown| (p, unknown)),
            Err(e) => Err(e),
        };
        let (plan, unknown) = planned?;
        let object = format!("project:{}", plan.record().uid);
        let mut detail = format!(
            "{} revisions, {} datasets, {} access filters",
            bundle.revisions.len(),
            bundle.manifest.datasets.len(),
            security.access_filters.len()
        );
        if bundle.manifest.security.is_none() {
            detail.push_str("; made before bundles carried access filters: set them again");
        }
        if !unknown.is_empty() {
            detail.push_str(&unknown_attributes_warning(&unknown));
            tracing::warn!(project = %plan.record().uid, attributes = ?unknown, "imported access filters read attributes no user carries");
        }
        let how = Install {
            expect_latest: Some(0),
            creating: Some(plan.new_project().clone()),
            audit: Some(Audit::event(
                caller,
                AuditAction::BundleImport,
                &object,
                &detail,
            )),
            ..Install::default()
        };
        let target = self.directory.authorize_planned(&plan);
        let installed = self
            .install_bundle(
                &target,
                &bundle,
                how,
                (Some(caller.uid()), &caller.user().username),
            )
            .await;
        installed?;
        // Where an import's time goes: the bundle bench shows it with
        // `VITRINE_BENCH_LOG=vitrine_services=debug`.
        tracing::debug!(
            read_ms = read.as_millis() as u64,
            install_ms = (started.elapsed() - read).as_millis() as u64,
            revisions = bundle.revisions.len(),
            "bundle imported"
        );
        let project = self.directory.project_planned(caller, plan).await?;
        self.events.publish(
            vitrine_core::task::EventKind::BundleImported,
            &project.record.uid,
            &project.record.uid,
            crate::events::event_chain(caller),
        );
        Ok(project)
    }
}

/// A bundle's head and history as a payload, without its data.
fn history_of(b: &Bundle) -> Payload {
    Payload {
        head: b.head.clone(),
        revisions: b.revisions.clone(),
        datasets: Vec::new(),
        block_states: Vec::new(),
    }
}

/// Every dataset of a bundle comes from a block its workflow has.
fn datasets_have_blocks(b: &Bundle) -> ApiResult<()> {
    let blocks: HashSet<&str> = b.head.workflow["blocks"]
        .as_array()
        .map(|bs| bs.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    for d in &b.manifest.datasets {
        if !blocks.contains(d.block_id.as_str()) {
            return Err(ApiError::new(
                ErrorCode::InvalidBundle,
                format!(
                    "dataset `{}` comes from block `{}`, which the workflow does not have",
                    d.name, d.block_id
                ),
            ));
        }
    }
    Ok(())
}
