//! Project bundles: one file with a project's head content, its history and its
//! datasets, exported by the project's managers and imported as a new project. The file
//! format and every check on it are in [`format`]; this module moves bundles between
//! the file and the store. Secrets never travel: resource locations (where credentials
//! live) are referred to by name and must exist on the importing instance.

pub mod format;
mod security;

use sha2::{Digest, Sha256};
use std::collections::HashSet;
use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_core::ErrorCode;
use vitrine_storage::{Artifact, DatasetRecord, ExportRecord, ProjectRecord, new_uid, now_ms};

use self::format::{
    Bundle, BundleData, BundleDataset, BundleLimits, BundleProject, FORMAT, Manifest, VERSION,
    dataset_entry,
};
use super::Versions;
use super::install::{Install, Payload};
use crate::Audit;
use crate::caller::Caller;
use crate::directory::Creation;
use crate::directory::ProjectView;
use crate::{ApiError, ApiResult};

/// Where a bundle file is: small ones (an origin's answer) in memory, uploads and request
/// bodies in a temporary file.
#[derive(Debug)]
pub enum BundleSource {
    Memory(bytes::Bytes),
    File(std::fs::File),
}

/// How long an exported file waits to be downloaded.
pub const EXPORT_TTL_MS: i64 = 60 * 60 * 1000;

impl Versions {
    /// A project as a bundle: its head, its revisions numbered above `since` (0: the
    /// whole history; the head revision is always included) and its datasets.
    pub(crate) async fn bundle_of(&self, project: &ProjectRecord, since: i64) -> ApiResult<Bundle> {
        // The datasets are packed while the history is read from the database, not after
        // it; one after the other, as each takes every core and its artifact's memory.
        let records = self.store.datasets(&project.uid).await?;
        let packing = async {
            let mut packed = Vec::with_capacity(records.len());
            for (i, d) in records.iter().enumerate() {
                packed.push(self.pack_dataset(i, d).await?);
            }
            Ok::<_, ApiError>(packed)
        };
        let history = async {
            let latest = self.store.latest_revision(&project.uid).await?;
            let head = latest.as_ref().map_or(0, |l| l.number);
            let since = since.min((head - 1).max(0));
            Ok::<_, ApiError>((head, since, self.history_of(&project.uid, since).await?))
        };
        let ((head, since, (current, revisions)), packed) = tokio::try_join!(history, packing)?;
        let (datasets, data) = packed.into_iter().unzip();
        // A project saved before history existed has content but no revision yet.
        let head_content = match revisions.last() {
            Some(r) => r.content.clone(),
            None => current,
        };
        Ok(Bundle {
            manifest: Manifest {
                format: FORMAT.into(),
                version: VERSION,
                made_by: format!("vitrine {}", env!("CARGO_PKG_VERSION")),
                created_ms: now_ms(),
                project: BundleProject {
                    name: project.name.clone(),
                    slug: project.slug.clone(),
                    description: project.description.clone(),
                    uid: Some(project.uid.clone().into()),
                },
                head,
                history_from: if head == 0 { 0 } else { since + 1 },
                datasets,
                security: Some(self.security_of(project).await?),
            },
            head: head_content,
            revisions,
            data,
        })
    }

    /// One dataset as a bundle carries it: its artifact with zstd-compressed buffers,
    /// about as small as `tar | zstd -3` of the artifact, while the zip entry stays
    /// stored as is (no deflate over it).
    async fn pack_dataset(
        &self,
        i: usize,
        d: &DatasetRecord,
    ) -> ApiResult<(BundleDataset, BundleData)> {
        let started = std::time::Instant::now();
        let bytes = self
            .store
            .artifacts()
            .get_bytes(Artifact::Dataset(&d.content_hash))
            .await?;
        let read_ms = started.elapsed().as_millis() as u64;
        let (bytes, sha256) = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let packed = vitrine_engine::blocks::compress_ipc(bytes)?;
            let packed_at = started.elapsed();
            let sha256 = hex::encode(Sha256::digest(&packed));
            tracing::debug!(
                read_ms,
                compress_ms = packed_at.as_millis() as u64,
                hash_ms = (started.elapsed() - packed_at).as_millis() as u64,
                bytes = packed.len(),
                "dataset packed for a bundle"
            );
            Ok::<_, vitrine_engine::EngineError>((bytes::Bytes::from(packed), sha256))
        })
        .await
        .map_err(|e| ApiError::internal("bundle writer", e))??;
        let dataset = BundleDataset {
            name: d.name.clone(),
            block_id: d.block_id.clone(),
            entry: dataset_entry(i),
            sha256,
            rows: d.rows,
            bytes: d.bytes,
            schema: d.schema.clone(),
        };
        Ok((dataset, BundleData::Memory(bytes)))
    }

    /// Packs a project into a bundle file kept for an hour for the caller to download
    /// ([`export_file`](Self::export_file)). Managers only: a bundle holds every row of
    /// every dataset, before any access filter.
    pub async fn export_bundle(
        &self,
        caller: &Caller,
        project_uid: &str,
    ) -> ApiResult<ExportRecord> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let project = self
            .directory
            .project_for(caller, project_uid, Action::Manage)
            .await?;
        self.data
            .require_rows_of(caller, &self.store.datasets(project_uid).await?)
            .await?;
        let started = std::time::Instant::now();
        let bundle = self.bundle_of(&project.record, 0).await?;
        let gathered = started.elapsed();
        let bytes = tokio::task::spawn_blocking(move || format::write(&bundle))
            .await
            .map_err(|e| ApiError::internal("bundle writer", e))??;
        let written = started.elapsed();
        let filename = format!("{}.vitrine", project.record.slug);
        let record = self
            .keep_export(caller, project_uid, &filename, "application/zip", bytes)
            .await?;
        // Where an export's time goes: the bundle bench shows it with
        // `VITRINE_BENCH_LOG=vitrine_services=debug`.
        tracing::debug!(
            gather_ms = gathered.as_millis() as u64,
            zip_ms = (written - gathered).as_millis() as u64,
            keep_ms = (started.elapsed() - written).as_millis() as u64,
            bytes = record.bytes,
            "bundle exported"
        );
        self.audit
            .record(
                caller,
                AuditAction::BundleExport,
                &format!("project:{project_uid}"),
                "ok",
                &format!("{} bytes", record.bytes),
            )
            .await?;
        Ok(record)
    }

    /// Stores an exported file for its requester and clears out expired ones.
    pub(crate) async fn keep_export(
        &self,
        caller: &Caller,
        project_uid: &vitrine_core::ProjectId,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> ApiResult<ExportRecord> {
        let started = std::time::Instant::now();
        let now = now_ms();
        for old in self.store.take_expired_exports(now).await? {
            if let Err(e) = self
                .store
                .artifacts()
                .delete(Artifact::Export(&old.uid))
                .await
            {
                tracing::warn!(path = %old.path, error = %e, "expired export not deleted");
            }
        }
        let uid = new_uid();
        let record = ExportRecord {
            path: Artifact::Export(&uid).path(),
            uid: uid.into(),
            project_uid: project_uid.into(),
            requested_by: caller.uid().into(),
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            bytes: bytes.len() as i64,
            created_ms: now,
            expires_ms: now + EXPORT_TTL_MS,
        };
        let cleared = started.elapsed();
        // Made again on request, so not forced to disk before the answer.
        self.store
            .artifacts()
            .put_transient(Artifact::Export(&record.uid), bytes)
            .await?;
        let written = started.elapsed();
        self.store.insert_export(&record).await?;
        tracing::debug!(
            clear_ms = cleared.as_millis() as u64,
            write_ms = (written - cleared).as_millis() as u64,
            record_ms = (started.elapsed() - written).as_millis() as u64,
            "export kept"
        );
        Ok(record)
    }

    /// An exported file, for the user who asked for it, until it expires.
    pub async fn export_file(
        &self,
        caller: &Caller,
        uid: &str,
    ) -> ApiResult<(ExportRecord, bytes::Bytes)> {
        let uid = &vitrine_core::ExportId::from(uid);
        let record = self
            .store
            .export(uid)
            .await?
            .filter(|r| r.requested_by == caller.uid() && r.expires_ms > now_ms())
            // A scoped token of the same user fetches only its scope's exports.
            .filter(|r| {
                let project = crate::directory::project_obj(&r.project_uid);
                self.directory.visible(caller, &project) >= Some(vitrine_core::Role::Viewer)
            })
            .ok_or_else(|| ApiError::not_found("export"))?;
        let bytes = self
            .store
            .artifacts()
            .get_bytes(Artifact::Export(&record.uid))
            .await?;
        Ok((record, bytes))
    }

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
                head: b.head.clone(),
                revisions: b.revisions.clone(),
                datasets,
                block_states: Vec::new(),
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
            .parameters(super::revisions::parameter_strings(&b.head))
            .await?;
        let mut datasets = Vec::new();
        let mut pinned = Vec::new();
        for (d, entry) in b.manifest.datasets.iter().zip(&b.data) {
            // One dataset in memory at a time, read from its temporary file.
            let bytes = match entry.load() {
                Ok(b) => b,
                Err(e) => {
                    self.engine.datasets.unpin(&pinned);
                    return Err(ApiError::internal("bundle reader", e));
                }
            };
            let stored = self.engine.datasets.put_ipc(bytes).await;
            let (hash, rows, size) = match stored {
                Ok(x) => x,
                Err(e) => {
                    self.engine.datasets.unpin(&pinned);
                    return Err(ApiError::new(
                        ErrorCode::InvalidBundle,
                        format!("dataset `{}`: {e}", d.name),
                    ));
                }
            };
            pinned.push(hash.clone());
            if rows as i64 != d.rows {
                self.engine.datasets.unpin(&pinned);
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
        Ok((datasets, pinned))
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
        let payload = Payload {
            head: bundle.head.clone(),
            revisions: bundle.revisions.clone(),
            datasets: Vec::new(),
            block_states: Vec::new(),
        };
        // The datasets are inflated, checked and stored while the project and its history
        // are written in an open transaction; their records go in last, before the commit
        // (see `Store::replace_project_while`). Their hashes stay pinned until then.
        let made = parking_lot::Mutex::new((Vec::new(), std::time::Duration::ZERO));
        let datasets = async {
            let (records, pinned) = self.bundle_datasets(&bundle).await?;
            *made.lock() = (pinned, started.elapsed());
            Ok(records)
        };
        let installed = self
            .install_while(
                &target,
                &payload,
                how,
                (Some(caller.uid()), &caller.user().username),
                Some(Box::pin(datasets)),
            )
            .await;
        let (pinned, stored) = made.into_inner();
        self.engine.datasets.unpin(&pinned);
        installed?;
        // Where an import's time goes: the bundle bench shows it with
        // `VITRINE_BENCH_LOG=vitrine_services=debug`. The datasets are made while the
        // install writes, so the two overlap.
        tracing::debug!(
            read_ms = read.as_millis() as u64,
            datasets_done_ms = stored.as_millis() as u64,
            install_ms = (started.elapsed() - read).as_millis() as u64,
            revisions = payload.revisions.len(),
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

impl Versions {
    /// One dataset as a file to download: Arrow IPC (the stored artifact as is), CSV or
    /// Parquet; any of them reads back through a source block. For the project's editors,
    /// who see its data unfiltered; viewers download tiles, under their access filters.
    pub async fn export_dataset(
        &self,
        caller: &Caller,
        project_uid: &str,
        dataset: &str,
        format: vitrine_engine::FileFormat,
    ) -> ApiResult<ExportRecord> {
        let project_uid = &vitrine_core::ProjectId::from(project_uid);
        let project = self
            .directory
            .project_for(caller, project_uid, Action::Edit)
            .await?;
        let d = self
            .store
            .dataset(project_uid, dataset)
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("dataset `{dataset}`")))?;
        self.data
            .require_rows_of(caller, std::slice::from_ref(&d))
            .await?;
        let (bytes, ext, mime) = match format {
            vitrine_engine::FileFormat::Arrow => (
                self.store
                    .artifacts()
                    .get(Artifact::Dataset(&d.content_hash))
                    .await?,
                "arrow",
                "application/vnd.apache.arrow.file",
            ),
            other => {
                let table = self.engine.datasets.get(&d.content_hash).await?;
                let bytes = tokio::task::spawn_blocking(move || {
                    vitrine_engine::blocks::encode_file(other, &table.schema, &table.batches)
                })
                .await
                .map_err(|e| ApiError::internal("dataset encoder", e))??;
                match other {
                    vitrine_engine::FileFormat::Parquet => {
                        (bytes, "parquet", "application/vnd.apache.parquet")
                    }
                    vitrine_engine::FileFormat::Jsonl => (bytes, "jsonl", "application/x-ndjson"),
                    _ => (bytes, "csv", "text/csv; charset=utf-8"),
                }
            }
        };
        let filename = format!("{}-{}.{ext}", project.record.slug, safe_name(&d.name));
        let record = self
            .keep_export(caller, project_uid, &filename, mime, bytes)
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::DatasetExport,
                &format!("project:{project_uid}"),
                "ok",
                &format!("{} as {ext}", d.name),
            )
            .await?;
        Ok(record)
    }
}

/// A name safe inside a file name and a Content-Disposition header.
pub(crate) fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What an import's or a copy's audit event says when its filters read attributes no user
/// here carries.
pub(crate) fn unknown_attributes_warning(unknown: &[String]) -> String {
    format!(
        "; warning: access filters read {}, which no user here carries: those rows show to nobody until users are given values",
        unknown.join(", ")
    )
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
