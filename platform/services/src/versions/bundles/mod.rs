//! Project bundles: one file with a project's head content, its history and its
//! datasets, exported by the project's managers and imported as a new project. The file
//! format and every check on it are in [`format`]; this module packs bundles (and data
//! files) from the store, and `import` brings them in. Secrets never travel: resource
//! locations (where credentials live) are referred to by name and must exist on the
//! importing instance.

pub mod format;
mod import;
mod security;

use sha2::{Digest, Sha256};
use vitrine_core::AuditAction;

use vitrine_authz::Action;
use vitrine_storage::{Artifact, DatasetRecord, ExportRecord, ProjectRecord, new_uid, now_ms};

use self::format::{
    Bundle, BundleData, BundleDataset, BundleProject, FORMAT, Manifest, VERSION, dataset_entry,
};
use super::Versions;
use crate::caller::Caller;
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
