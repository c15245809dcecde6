//! Working copies and portable files in GraphQL: create, push, pull and detach working
//! copies (on this instance or from another instance's working-copy link), issue and
//! revoke such links, export a project bundle, a dataset or a report file for download,
//! and import a bundle as a new project.

use crate::services::records::{ExportRecord, WorkingCopyLinkRecord};
use async_graphql::{Context, Enum, ID, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::types::{Project, time};
use super::{member, on};
use crate::services::{Services, SyncOutcome, WorkingCopyStatus};
use crate::{ApiError, GqlResult};

type R<T> = async_graphql::Result<T>;

/// A project's link to the origin it was copied from.
#[derive(SimpleObject)]
pub struct WorkingCopy {
    /// The copy.
    pub project_id: ID,
    pub origin_id: ID,
    pub origin_name: String,
    /// The origin's instance, when it is another one.
    pub origin_url: Option<String>,
    /// The origin's revision the copy was last in step with.
    pub base_origin_revision: i64,
    /// The copy's revision at that moment.
    pub base_copy_revision: i64,
    /// Revisions of the copy not pushed yet.
    pub ahead: i64,
    /// Revisions of the origin not pulled yet; null when the origin cannot be reached.
    pub behind: Option<i64>,
    pub synced_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<WorkingCopyStatus> for WorkingCopy {
    fn from(v: WorkingCopyStatus) -> Self {
        let r = v.record;
        WorkingCopy {
            project_id: ID(r.copy_uid.into()),
            origin_id: ID(r.origin_project_uid.into()),
            origin_name: r.origin_name,
            origin_url: r.origin_url,
            base_origin_revision: r.base_origin_number,
            base_copy_revision: r.base_copy_number,
            ahead: v.ahead,
            behind: v.behind,
            synced_at: time(r.synced_ms),
            created_at: time(r.created_ms),
        }
    }
}

/// A working copy of a project on this instance, as the origin's managers see it.
#[derive(SimpleObject)]
pub struct WorkingCopyOf {
    pub project_id: ID,
    /// The copy's name; null when it is hidden from the caller.
    pub name: Option<String>,
    pub base_origin_revision: i64,
    pub synced_at: DateTime<Utc>,
}

/// A working-copy link of a project, or of a folder's projects (the token is shown once,
/// at creation). Exactly one of `projectId` and `folderId` is set.
#[derive(SimpleObject)]
pub struct WorkingCopyLink {
    pub id: ID,
    pub project_id: Option<ID>,
    pub folder_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The copy may push its revisions here.
    pub allow_push: bool,
    /// The copy may force a push past changes made here meanwhile.
    pub allow_force: bool,
    /// The service account the link acts as; null: its creator.
    pub service_account_id: Option<ID>,
}

impl From<WorkingCopyLinkRecord> for WorkingCopyLink {
    fn from(l: WorkingCopyLinkRecord) -> Self {
        WorkingCopyLink {
            id: ID(l.uid.into()),
            project_id: l.folder_uid.is_none().then(|| ID(l.project_uid.into())),
            folder_id: l.folder_uid.map(|f| ID(f.into())),
            created_at: time(l.created_ms),
            expires_at: time(l.expires_ms),
            revoked: l.revoked,
            last_used_at: l.last_used_ms.map(time),
            allow_push: l.allow_push,
            allow_force: l.allow_force,
            service_account_id: l.acts_as.map(|u| ID(u.into())),
        }
    }
}

/// A new working-copy link: give `url` to the other instance.
#[derive(SimpleObject)]
pub struct CreatedWorkingCopyLink {
    pub link: WorkingCopyLink,
    /// `BASE/wc/TOKEN`. Shown once; only its hash is kept.
    pub url: String,
}

/// What a push or pull did.
#[derive(SimpleObject)]
pub struct SyncResult {
    /// The written project's latest revision number afterwards.
    pub head: i64,
    /// Revisions added to its history (0: nothing to do).
    pub revisions: i32,
}

impl From<SyncOutcome> for SyncResult {
    fn from(o: SyncOutcome) -> Self {
        SyncResult {
            head: o.head,
            revisions: o.revisions as i32,
        }
    }
}

/// A file ready to download from `url` with the same credentials, until `expiresAt`.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ExportFile {
    pub id: ID,
    pub filename: String,
    pub bytes: i64,
    pub expires_at: DateTime<Utc>,
}

#[async_graphql::ComplexObject]
impl ExportFile {
    /// Where to download it: an absolute URL, built from the server's public URL.
    async fn url(&self, ctx: &Context<'_>) -> String {
        super::sharing_types::url(ctx, &format!("/download/export/{}", self.id.as_str()))
    }
}

impl From<ExportRecord> for ExportFile {
    fn from(e: ExportRecord) -> Self {
        ExportFile {
            id: ID(e.uid.into()),
            filename: e.filename,
            bytes: e.bytes,
            expires_at: time(e.expires_ms),
        }
    }
}

/// Formats a dataset can be exported in.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DataFileFormat {
    /// Arrow IPC file: exact types, readable by an `arrow_source` block.
    Arrow,
    Csv,
    Parquet,
}

#[derive(Default)]
pub struct CopyQuery;

#[Object]
impl CopyQuery {
    /// The project's link to its origin, if it is a working copy (editors).
    async fn working_copy(&self, ctx: &Context<'_>, project_id: ID) -> R<Option<WorkingCopy>> {
        let (s, c) = on(ctx, Services::versions)?;
        let status = s.working_copy_status(c, &project_id).await.gql()?;
        Ok(status.map(WorkingCopy::from))
    }

    /// Working copies of the project on this instance (its managers).
    async fn working_copies(&self, ctx: &Context<'_>, project_id: ID) -> R<Vec<WorkingCopyOf>> {
        let (s, c) = member(ctx)?;
        let list = s.versions().working_copies_of(c, &project_id).await.gql()?;
        Ok(list
            .into_iter()
            .map(|(w, p)| WorkingCopyOf {
                project_id: ID(w.copy_uid.into()),
                name: p.map(|p| p.name),
                base_origin_revision: w.base_origin_number,
                synced_at: time(w.synced_ms),
            })
            .collect())
    }

    /// The working-copy links of a project, or of a folder (its managers).
    async fn working_copy_links(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        folder_id: Option<ID>,
    ) -> R<Vec<WorkingCopyLink>> {
        let ((s, c), on) = (member(ctx)?, link_scope(project_id, folder_id)?);
        let list = s.versions().working_copy_links(c, &on).await.gql()?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct CopyMutation;

#[Object]
impl CopyMutation {
    /// A working copy in `folderId` of project `projectId` on this instance (its
    /// managers), or of the project behind `link`, another instance's working-copy
    /// link. Give exactly one of the two. `revisionId` (same instance only) copies what
    /// that revision of the project held instead of its latest content.
    #[allow(clippy::too_many_arguments)]
    async fn create_working_copy(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        link: Option<String>,
        folder_id: ID,
        name: String,
        slug: Option<String>,
        revision_id: Option<ID>,
    ) -> R<Project> {
        let (s, c) = member(ctx)?;
        let revision = revision_id.as_ref().map(|r| r.as_str());
        let p = match (project_id, link) {
            (Some(p), None) => {
                s.versions()
                    .create_working_copy(c, &p, &folder_id, &name, slug.as_deref(), revision)
                    .await
            }
            (None, Some(_)) if revision.is_some() => Err(ApiError::invalid(
                "revisionId: a copy from another instance starts from the origin's latest revision",
            )),
            (None, Some(l)) => {
                s.versions()
                    .create_working_copy_from_link(c, &l, &folder_id, &name, slug.as_deref())
                    .await
            }
            _ => Err(ApiError::invalid(
                "projectId, link: give exactly one (a project here, or another instance's link)",
            )),
        };
        Ok(Project::from(p.gql()?))
    }

    /// Replaces the origin with the working copy `projectId` and appends the copy's new
    /// revisions to the origin's history. Refused with ORIGIN_MOVED when the origin
    /// changed since the copy last synced, unless `force`.
    async fn push_working_copy(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        force: Option<bool>,
    ) -> R<SyncResult> {
        let (s, c) = member(ctx)?;
        let o = s
            .versions()
            .push_working_copy(c, &project_id, force.unwrap_or(false))
            .await
            .gql()?;
        Ok(o.into())
    }

    /// Brings the origin's latest into the working copy. Refused with UNPUSHED_CHANGES
    /// when the copy has revisions not pushed, unless `discardChanges` reverts them.
    async fn pull_working_copy(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        discard_changes: Option<bool>,
    ) -> R<SyncResult> {
        let (s, c) = on(ctx, Services::versions)?;
        let o = s
            .pull_working_copy(c, &project_id, discard_changes.unwrap_or(false))
            .await
            .gql()?;
        Ok(o.into())
    }

    /// Cuts the link between a working copy and its origin; the copy stays as an
    /// ordinary project.
    async fn detach_working_copy(&self, ctx: &Context<'_>, project_id: ID) -> R<bool> {
        let (s, c) = on(ctx, Services::versions)?;
        s.detach_working_copy(c, &project_id).await.gql()?;
        Ok(true)
    }

    /// A link another instance uses to make and sync a working copy of project
    /// `projectId`, or of any project inside folder `folderId` that the link's identity
    /// may reach (the copy names it: `URL?project=ID`), for their managers. Valid
    /// `expiresInHours` (1 to 2160). It reads only, unless
    /// `allowPush` (and `allowForce`, for pushes past changes made here meanwhile). With
    /// `serviceAccountId` it acts as that service account, with its roles (disable the
    /// account to stop every copy using it); otherwise as you.
    #[allow(clippy::too_many_arguments)]
    async fn create_working_copy_link(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        folder_id: Option<ID>,
        #[graphql(default = 24)] expires_in_hours: i64,
        #[graphql(default = false)] allow_push: bool,
        #[graphql(default = false)] allow_force: bool,
        service_account_id: Option<ID>,
    ) -> R<CreatedWorkingCopyLink> {
        let (s, c) = on(ctx, Services::versions)?;
        let base = super::sharing_types::url(ctx, "");
        let rights = crate::services::CopyLinkRights::new(allow_push, allow_force);
        let (on, who) = (link_scope(project_id, folder_id)?, service_account_id);
        let who = who.as_ref().map(|i| i.as_str());
        let l = s.create_working_copy_link(c, on, expires_in_hours, &base, rights, who);
        let l = l.await.gql()?;
        Ok(CreatedWorkingCopyLink {
            link: l.record.into(),
            url: l.url,
        })
    }

    /// Revokes link `id` of project `projectId` or folder `folderId`.
    async fn revoke_working_copy_link(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        folder_id: Option<ID>,
        id: ID,
    ) -> R<bool> {
        let ((s, c), on) = (member(ctx)?, link_scope(project_id, folder_id)?);
        let done = s.versions().revoke_working_copy_link(c, &on, &id).await;
        done.gql().map(|()| true)
    }

    /// Packs the project — head content, whole history, datasets, parameters, never
    /// secrets — into a bundle file to download (the project's managers).
    async fn export_project_bundle(&self, ctx: &Context<'_>, project_id: ID) -> R<ExportFile> {
        let (s, c) = member(ctx)?;
        let e = s.versions().export_bundle(c, &project_id).await.gql()?;
        Ok(e.into())
    }

    /// One dataset as a file to download (the project's editors): Arrow IPC keeps exact
    /// types; every format reads back through a source block (`arrow_source`,
    /// `csv_source`, `parquet_source`).
    async fn export_dataset(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        dataset: String,
        #[graphql(default_with = "DataFileFormat::Arrow")] format: DataFileFormat,
    ) -> R<ExportFile> {
        let (s, c) = member(ctx)?;
        let format = match format {
            DataFileFormat::Arrow => crate::services::values::FileFormat::Arrow,
            DataFileFormat::Csv => crate::services::values::FileFormat::Csv,
            DataFileFormat::Parquet => crate::services::values::FileFormat::Parquet,
        };
        let e = s
            .versions()
            .export_dataset(c, &project_id, &dataset, format)
            .await
            .gql()?;
        Ok(e.into())
    }

    /// One report as a single HTML file that opens in a browser with no server: its
    /// tiles as you see them (your access filters, report filters at their defaults).
    /// With `password` (at least 12 characters) the data is encrypted and the file asks
    /// for it. Needs the project's download ability.
    async fn export_report_file(
        &self,
        ctx: &Context<'_>,
        report_id: ID,
        password: Option<String>,
    ) -> R<ExportFile> {
        let (s, c) = on(ctx, Services::versions)?;
        let e = s
            .export_report_file(c, &report_id, password.as_deref())
            .await
            .gql()?;
        Ok(e.into())
    }

    /// A new project in `folderId` from a bundle file. The bundle is checked whole
    /// before anything is written; a refused bundle (INVALID_BUNDLE) changes nothing.
    async fn import_project_bundle(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        file: Upload,
        name: Option<String>,
        slug: Option<String>,
    ) -> R<Project> {
        let (s, c) = on(ctx, Services::versions)?;
        let value = file.value(ctx)?;
        // The upload is a temporary file, read only once the import is allowed.
        let body = async move { Ok(crate::services::bundles::BundleSource::File(value.content)) };
        let p = s
            .import_bundle(c, body, &folder_id, name.as_deref(), slug.as_deref())
            .await
            .gql()?;
        Ok(Project::from(p))
    }
}

/// The project or folder a working-copy link is for: exactly one of the two.
fn link_scope(project: Option<ID>, folder: Option<ID>) -> R<vitrine_core::TokenScope> {
    crate::services::copy_link_scope(project.map(|i| i.0), folder.map(|i| i.0)).gql()
}
