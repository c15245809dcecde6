//! `vitrine-storage`: where Vitrine's state lives.
//!
//! SurrealDB holds every record (embedded SurrealKV by default, a remote cluster over
//! `ws://` when scaled out); opendal holds artifacts (local files by default). This crate
//! sits just above `vitrine-core`: repositories speak domain types and know nothing about
//! permissions, HTTP or GraphQL — callers check authorization first.

mod artifacts;
mod audit;
mod cache;
mod connections;
mod content;
mod copies;
mod data;
mod database;
mod db;
mod deliveries;
mod error;
mod folders;
mod identity;
mod invitations;
mod migrations;
mod oidc;
mod plugins;
mod policies;
mod records;
mod replace;
mod revisions;
mod run_projects;
mod settings;
mod sharing;
mod tasks;
#[cfg(test)]
mod testing;
mod user_invitations;

pub use artifacts::{
    Artifact, ArtifactBackend, ArtifactConfig, ArtifactKind, ArtifactStore, NodeCache, S3Artifacts,
};
pub use audit::{AuditFilter, NewAuditEvent};
pub use connections::{ConnectionGrant, ConnectionRecord};
pub use content::{ContentCommit, ContentWrite};
pub use copies::{ExportRecord, WorkingCopyLinkRecord, WorkingCopyRecord};
pub use data::{
    AccessFilterRecord, BlockStateRecord, DatasetRecord, LocationGrant, LocationRecord,
    PortStateRecord, ReportRecord, RunRecord, UploadRecord, WorkflowRecord,
};
pub use database::{AuthLevel, DatabaseConfig, DatabaseCredentials};
pub use db::Store;
pub use error::{StorageError, StorageResult};
pub use folders::NewProject;
pub use invitations::InvitationLog;
pub use oidc::OidcLoginRecord;
pub use plugins::PluginRecord;
pub use policies::PolicyLine;
pub use records::{
    ApiTokenRecord, AuditRecord, FolderRecord, GroupRecord, ProjectRecord, SessionRecord,
    TemplateOrigin, UserKind, UserRecord, VirtualRootRecord,
};
pub use replace::Replacement;
pub use revisions::{PushedFrom, RevisionRecord};
pub use run_projects::{RunCounts, RunLogLine, TaskRunProjectRecord};
pub use sharing::{
    LinkFolder, PinnedReport, ShareCopyRecord, ShareLinkRecord, ShareRecipientRecord,
    ShareSessionRecord, ShareWarning,
};
pub use tasks::{TaskRecord, TaskRunRecord};
pub use user_invitations::UserInvitationRecord;

/// A page request over a uid-ordered table: up to `first` rows after the `after` uid.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub first: usize,
}

/// A new time-ordered id. Time order makes uid order equal creation order, which is what
/// cursor pagination sorts on.
pub fn new_uid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Milliseconds since the Unix epoch; every timestamp is stored this way so comparisons in
/// SurrealQL are numeric.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
