//! `vitrine-core`: the bottom of Vitrine's dependency graph.
//!
//! Domain words from the glossary as validated newtypes ([`Slug`], [`Role`], …), the one
//! [`ErrorCode`] catalogue every other crate maps its errors onto, and the pure rules that
//! need no I/O (role arithmetic, the folder-floor rule, the share-link state machine, the
//! revision diff, cron schedules). Nothing here knows about HTTP, GraphQL, SurrealDB or
//! casbin; every other crate may depend on this one.

pub mod alert;
mod audit_action;
mod error;
pub mod ids;
mod json_words;
mod names;
pub mod report;
pub mod revision;
mod roles;
pub mod schedule;
pub mod shape;
mod sharing;
mod status;
pub mod task;
pub mod task_form;
pub mod workflow;

pub use audit_action::AuditAction;
pub use error::{CoreError, ErrorCode};
pub use ids::{
    AuditEventId, ConnectionId, CopyId, CopyLinkId, DatasetId, ExportId, FolderId, GroupId, LinkId,
    LocationId, PluginId, ProjectId, RecipientId, ReportId, RevisionId, RunId, SessionId, TaskId,
    TaskRunId, TaskRunProjectId, TokenId, UploadId, UserId, VirtualRootId,
};
pub use json_words::json_words;
pub use names::{
    Ability, AttributeKey, ConnectionRole, Name, Password, ServerPermission, Slug, Username,
};
pub use revision::{Change, ChangeKind, ChangeObject, ReportContent, RevisionContent};
pub use roles::{LocationAccess, Role, TokenScope, floor_violation, may_query};
pub use sharing::{
    DeliveriesOnRevoke, LinkContent, LinkKind, LinkRights, LinkState, LinkTarget,
    RECIPIENT_PASSWORD_SPECIALS, RecipientPassword, RecipientRole, WarningKind, check_email,
    check_kind_target,
};
pub use status::{RunStatus, TaskRunStatus};

/// Upper bound on user-supplied free text (names, messages) in characters. Longer input is
/// refused rather than truncated so nothing stored differs from what was sent.
pub const MAX_TEXT_LEN: usize = 200;
