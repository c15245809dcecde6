//! Rows as stored. Field names are the stored names; `uid` is the public id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Person,
    /// A non-human identity that only authenticates with API tokens.
    Service,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub uid: vitrine_core::UserId,
    pub username: String,
    pub display_name: String,
    pub kind: UserKind,
    /// `local` for local accounts, the issuer URL for OpenID Connect accounts.
    pub issuer: String,
    pub subject: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Argon2id PHC string; absent for service accounts and OpenID Connect users.
    #[serde(default)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// What the user may query from data; the instance default when unset.
    #[serde(default)]
    pub connection_role: Option<vitrine_core::ConnectionRole>,
    /// The groups an identity provider's groups claim put the user in at the last
    /// sign-in (so a sync can leave memberships given by hand alone).
    #[serde(default)]
    pub provider_groups: Vec<vitrine_core::GroupId>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    pub uid: vitrine_core::GroupId,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub uid: vitrine_core::SessionId,
    pub token_hash: String,
    pub user_uid: vitrine_core::UserId,
    pub csrf_token: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The identity provider's logout URL for this session's sign-in, when it has one:
    /// signing out here sends the browser there too.
    #[serde(default)]
    pub logout_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub uid: vitrine_core::TokenId,
    pub token_hash: String,
    pub user_uid: vitrine_core::UserId,
    pub name: String,
    pub read_only: bool,
    pub created_ms: i64,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub revoked_ms: Option<i64>,
    #[serde(default)]
    pub last_used_ms: Option<i64>,
    /// The one project or folder the token reaches; `None`: all its owner may.
    #[serde(default)]
    pub scope: Option<vitrine_core::TokenScope>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FolderRecord {
    pub uid: vitrine_core::FolderId,
    pub name: String,
    #[serde(default)]
    pub parent_uid: Option<vitrine_core::FolderId>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub uid: vitrine_core::ProjectId,
    pub name: String,
    pub slug: String,
    pub folder_uid: vitrine_core::FolderId,
    #[serde(default)]
    pub description: String,
    /// Abilities this project sets explicitly; the rest follow the instance defaults.
    #[serde(default)]
    pub abilities: BTreeMap<String, bool>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// A template: others start projects from its workflow, reports and parameters.
    #[serde(default)]
    pub template: bool,
    /// The template, and its revision, this project was started from.
    #[serde(default)]
    pub template_origin: Option<TemplateOrigin>,
}

/// Where a project started from a template came from; kept when the template changes,
/// moves or goes away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOrigin {
    pub project_uid: vitrine_core::ProjectId,
    pub project_name: String,
    pub revision: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VirtualRootRecord {
    pub uid: vitrine_core::VirtualRootId,
    pub name: String,
    pub folder_uid: vitrine_core::FolderId,
    pub position: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    pub uid: vitrine_core::AuditEventId,
    pub at_ms: i64,
    #[serde(default)]
    pub actor_uid: Option<vitrine_core::UserId>,
    pub actor_name: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub detail: String,
}
