//! Bringing a bundle in: reading and checking the file, then installing its content into
//! a new project (an import) or an existing one (a working copy's push from another
//! instance), with the datasets made while the rest is written.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::Instrument;

use vitrine_authz::Action;
use vitrine_core::{AuditAction, ErrorCode, RevisionContent};
use vitrine_engine::Engine;
use vitrine_storage::{DatasetRecord, ProjectRecord, new_uid, now_ms};

use super::format::{self, Bundle, BundleData, BundleDataset, BundleLimits, BundleRevision};
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
        let (datasets, pinned) = make_datasets(
            &self.engine,
            Feeds::of(&b.head),
            &b.manifest.datasets,
            &b.data,
        )
        .await?;
        Ok((
            Payload {
                datasets,
                ..history(b.head.clone(), b.revisions.clone())
            },
            pinned,
        ))
    }

    /// Starts making a checked bundle's datasets on a task of their own (see [`Making`]).
    /// The bundle's data entries move to the task.
    pub(crate) fn start_datasets(&self, bundle: &mut Bundle) -> ApiResult<Making> {
        datasets_have_blocks(bundle)?;
        let engine = self.engine.clone();
        let feeds = Feeds::of(&bundle.head);
        let described = bundle.manifest.datasets.clone();
        let data = std::mem::take(&mut bundle.data);
        let task = tokio::spawn(
            async move { make_datasets(&engine, feeds, &described, &data).await }.in_current_span(),
        );
        Ok(Making {
            task: Some(task),
            datasets: self.engine.datasets.clone(),
        })
    }

    /// Installs a checked bundle's content into `target` (see
    /// [`install_while`](Self::install_while)): its datasets, being made by `making`
    /// (from [`start_datasets`](Self::start_datasets)), go in last, before the commit,
    /// while the rest is written in an open transaction; their hashes stay pinned until
    /// then. The bundle's history moves into the install, and is freed off the request's
    /// path once written (a thousand revisions took milliseconds to free).
    pub(crate) async fn install_bundle(
        &self,
        target: &Authorized<ProjectRecord, Edit>,
        bundle: Bundle,
        mut making: Making,
        how: Install,
        author: (Option<&str>, &str),
    ) -> ApiResult<Installed> {
        let payload = history(bundle.head, bundle.revisions);
        let made = parking_lot::Mutex::new((Vec::new(), std::time::Duration::ZERO));
        let started = std::time::Instant::now();
        let datasets = async {
            let (records, pinned) = making.finish().await?;
            *made.lock() = (pinned, started.elapsed());
            Ok(records)
        };
        let installed = self
            .install_while(target, &payload, how, author, Some(Box::pin(datasets)))
            .await;
        tokio::task::spawn_blocking(move || drop(payload));
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
        let mut bundle = self.read_bundle(source).await?;
        let read = started.elapsed();
        // The datasets are made from here on, while the project is checked and planned
        // and its history written; nothing refers to them before the commit.
        let making = self.start_datasets(&mut bundle)?;
        // The workflow must be runnable here before anything is written.
        self.restorable(&bundle.head, "the bundle's content")
            .await?;
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
        let revisions = bundle.revisions.len();
        let installed = self
            .install_bundle(
                &target,
                bundle,
                making,
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
            revisions,
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
fn history(head: RevisionContent, revisions: Vec<BundleRevision>) -> Payload {
    Payload {
        head,
        revisions,
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

/// A bundle's datasets as they are made: decoded, checked and stored on a task of their
/// own from the moment the bundle is read, so that what an import checks, plans and
/// writes meanwhile does not come before them. Dropped before it is finished (an import
/// refused after all, a request given up), the task still runs out and its pins are
/// released then; on an error the task has released them itself.
pub(crate) struct Making {
    task: Option<tokio::task::JoinHandle<ApiResult<Made>>>,
    datasets: Arc<vitrine_engine::Datasets>,
}

/// Datasets made: their records (no project's yet) and the hashes pinned for them.
type Made = (Vec<DatasetRecord>, Vec<String>);

impl Making {
    /// The datasets, once made. Taken once; given up half-way, the drop cleans up.
    async fn finish(&mut self) -> ApiResult<Made> {
        let task = self
            .task
            .as_mut()
            .ok_or_else(|| ApiError::internal("bundle datasets", "already taken"))?;
        let made = task.await;
        self.task = None;
        made.map_err(|e| ApiError::internal("bundle datasets", e))?
    }
}

impl Drop for Making {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            let datasets = self.datasets.clone();
            tokio::spawn(async move {
                if let Ok(Ok((_, pinned))) = task.await {
                    datasets.unpin(&pinned);
                }
            });
        }
    }
}

/// What tells which connections feed a bundle's datasets: its workflow and project
/// parameters. Datasets read through a data connection stay under its connection roles
/// here: the connection the workflow names on this instance (the bundle's rows came from
/// the exporter's; whoever may not see this one's does not see those).
struct Feeds {
    workflow: vitrine_engine::workflow::Workflow,
    parameters: std::collections::BTreeMap<String, String>,
}

impl Feeds {
    fn of(head: &RevisionContent) -> Feeds {
        Feeds {
            workflow: serde_json::from_value(head.workflow.clone()).unwrap_or_default(),
            parameters: crate::versions::revisions::parameter_strings(head),
        }
    }
}

/// A checked bundle's datasets (described in its manifest, their bytes in `data`),
/// decoded, checked and stored as artifacts, as records (not yet any project's), with
/// the hashes pinned until the caller unpins them. On an error nothing stays pinned.
async fn make_datasets(
    engine: &Engine,
    feeds: Feeds,
    described: &[BundleDataset],
    data: &[BundleData],
) -> ApiResult<Made> {
    let now = now_ms();
    let Feeds {
        workflow: wf,
        parameters,
    } = feeds;
    let params = engine.parameters(parameters).await?;
    let mut datasets = Vec::new();
    let mut pinned = Vec::new();
    let made = async {
        for (d, entry) in described.iter().zip(data) {
            // One dataset in memory at a time, read from where the bundle keeps it.
            let bytes = entry
                .load()
                .map_err(|e| ApiError::internal("bundle reader", e))?;
            let (hash, rows, size) = engine.datasets.put_ipc(bytes).await.map_err(|e| {
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
                connections: vitrine_engine::workflow::connections_feeding(&wf, &d.name, &params)
                    .into_iter()
                    .collect(),
            });
        }
        Ok(())
    };
    if let Err(e) = made.await {
        engine.datasets.unpin(&pinned);
        return Err(e);
    }
    Ok((datasets, pinned))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use vitrine_engine::Datasets;
    use vitrine_storage::{ArtifactConfig, Store};

    use super::*;

    /// A making whose task pins `hash` once `go` fires (or at once without one).
    fn making(
        datasets: &Arc<Datasets>,
        hash: &str,
        go: Option<tokio::sync::oneshot::Receiver<()>>,
        pinned: Arc<AtomicBool>,
    ) -> Making {
        let (d, hash) = (datasets.clone(), hash.to_owned());
        let task = tokio::spawn(async move {
            if let Some(go) = go {
                go.await.ok();
            }
            d.pin(&hash);
            pinned.store(true, Ordering::SeqCst);
            Ok((Vec::new(), vec![hash]))
        });
        Making {
            task: Some(task),
            datasets: datasets.clone(),
        }
    }

    #[tokio::test]
    async fn datasets_given_up_before_they_are_made_are_unpinned_when_made() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("surrealkv://{}", dir.path().join("db").display());
        let store = Store::open(&url, &ArtifactConfig::in_data_dir(dir.path()))
            .await
            .unwrap();
        let datasets = Arc::new(Datasets::new(store, 1 << 20));

        // Given up while its task still runs (an import refused after the read): the pin
        // the task takes afterwards is released once it ends.
        let (go, wait) = tokio::sync::oneshot::channel();
        let pinned = Arc::new(AtomicBool::new(false));
        drop(making(&datasets, "a", Some(wait), pinned.clone()));
        go.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !pinned.load(Ordering::SeqCst) || datasets.pins_of("a") > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the pin was never released"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        // Finished: the pins are the caller's to release, and dropping changes nothing.
        let mut m = making(&datasets, "b", None, Arc::new(AtomicBool::new(false)));
        let (_, pins) = m.finish().await.unwrap();
        assert_eq!(pins, ["b"]);
        drop(m);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(datasets.pins_of("b"), 1);
        // Taken once only.
        let mut m = making(&datasets, "c", None, Arc::new(AtomicBool::new(false)));
        m.finish().await.unwrap();
        assert!(m.finish().await.is_err());
    }
}
