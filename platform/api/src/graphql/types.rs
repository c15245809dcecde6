//! GraphQL object types over the service layer's records. Names follow the glossary.

use crate::services::records::{
    ApiTokenRecord, AuditRecord, GroupRecord, PolicyLine, UserRecord, VirtualRootRecord,
};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};

use super::{member, services};
use crate::GqlResult;
use crate::services::{FolderView, ProjectView};

pub fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Roles on folders and projects, lowest first.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::Role")]
pub enum Role {
    NoAccess,
    Viewer,
    Editor,
    Manager,
    Owner,
}

/// Instance-wide rights.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::ServerPermission")]
pub enum ServerPermission {
    Admin,
    ProjectPublisher,
    ProjectEditor,
    ListDirectory,
    SharedReportViewer,
    PluginPublisher,
}

/// Per-project switches.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_core::Ability")]
pub enum Ability {
    Schedule,
    Download,
    Drill,
    ViewersSeeWorkflow,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "vitrine_services::records::UserKind")]
pub enum UserKind {
    Person,
    Service,
}

/// What `explain` is asked about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccessAction {
    View,
    Edit,
    Manage,
    Delete,
}

impl AccessAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessAction::View => "view",
            AccessAction::Edit => "edit",
            AccessAction::Manage => "manage",
            AccessAction::Delete => "delete",
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct UserAttribute {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(InputObject)]
pub struct UserAttributeInput {
    pub key: String,
    pub values: Vec<String>,
}

pub struct User(pub UserRecord);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.uid.clone().into())
    }
    /// The name policies use for this user: `user:ID`.
    async fn subject(&self) -> String {
        format!("user:{}", self.0.uid)
    }
    async fn username(&self) -> &str {
        &self.0.username
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn kind(&self) -> UserKind {
        self.0.kind.into()
    }
    /// `local`, or the OpenID Connect issuer the user signs in with.
    async fn issuer(&self) -> &str {
        &self.0.issuer
    }
    async fn disabled(&self) -> bool {
        self.0.disabled
    }
    async fn attributes(&self) -> Vec<UserAttribute> {
        self.0
            .attributes
            .iter()
            .map(|(k, v)| UserAttribute {
                key: k.clone(),
                values: v.clone(),
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.created_ms)
    }
    async fn permissions(&self, ctx: &Context<'_>) -> Vec<ServerPermission> {
        services(ctx)
            .directory()
            .permissions_of(&self.0.uid)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Group>> {
        let groups = services(ctx)
            .directory()
            .group_records_of(&self.0.uid)
            .await
            .gql()?;
        Ok(groups.into_iter().map(Group).collect())
    }
}

pub struct Group(pub GroupRecord);

#[Object]
impl Group {
    async fn id(&self) -> ID {
        ID(self.0.uid.clone().into())
    }
    /// The name policies use for this group: `group:ID`.
    async fn subject(&self) -> String {
        format!("group:{}", self.0.uid)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.created_ms)
    }
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        Ok(services(ctx)
            .directory()
            .group_members(&self.0.uid)
            .await
            .gql()?
            .into_iter()
            .map(User)
            .collect())
    }
}

pub struct Folder(pub FolderView);

#[Object]
impl Folder {
    async fn id(&self) -> ID {
        ID(self.0.record.uid.clone().into())
    }
    /// The name policies use for this folder: `folder:ID`.
    async fn object(&self) -> String {
        format!("folder:{}", self.0.record.uid)
    }
    async fn name(&self) -> &str {
        &self.0.record.name
    }
    async fn parent_id(&self) -> Option<ID> {
        self.0.record.parent_uid.as_deref().map(ID::from)
    }
    /// The caller's effective role here (`NO_ACCESS` when the folder is listed only because
    /// something inside it is shared with the caller).
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.record.created_ms)
    }
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Folder>> {
        let (s, c) = member(ctx)?;
        match &self.0.record.parent_uid {
            Some(p) => Ok(s.directory().folder(c, p).await.ok().map(Folder)),
            None => Ok(None),
        }
    }
}

pub struct Project(pub ProjectView);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.record.uid.clone().into())
    }
    /// The name policies use for this project: `project:ID`.
    async fn object(&self) -> String {
        format!("project:{}", self.0.record.uid)
    }
    async fn name(&self) -> &str {
        &self.0.record.name
    }
    /// The current slug. Lookups by an old slug answer with this project.
    async fn slug(&self) -> &str {
        &self.0.record.slug
    }
    /// Earlier slugs that still redirect here and stay reserved for this project.
    async fn old_slugs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        services(ctx)
            .directory()
            .old_slugs(&self.0.record.uid)
            .await
            .gql()
    }
    async fn folder_id(&self) -> ID {
        ID(self.0.record.folder_uid.clone().into())
    }
    async fn folder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Folder>> {
        let (s, c) = member(ctx)?;
        Ok(s.directory()
            .folder(c, &self.0.record.folder_uid)
            .await
            .ok()
            .map(Folder))
    }
    /// The caller's effective role on this project.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Abilities in effect (instance defaults, the project's own values, admin switches).
    async fn abilities(&self, ctx: &Context<'_>) -> Vec<AbilityState> {
        let settings = services(ctx).policy().instance_settings();
        vitrine_core::Ability::ALL
            .iter()
            .map(|a| AbilityState {
                ability: (*a).into(),
                enabled: settings.ability(&self.0.record.abilities, *a),
                project_value: self.0.record.abilities.get(a.as_str()).copied(),
                disabled_by_admin: settings.disabled_abilities.contains(a),
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        time(self.0.record.created_ms)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        time(self.0.record.updated_ms)
    }
}

#[derive(SimpleObject)]
pub struct AbilityState {
    pub ability: Ability,
    pub enabled: bool,
    /// The project's own value; null when it follows the instance default.
    pub project_value: Option<bool>,
    pub disabled_by_admin: bool,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct VirtualRoot {
    pub id: ID,
    pub name: String,
    pub folder_id: ID,
    pub position: i64,
}

#[ComplexObject]
impl VirtualRoot {
    async fn folder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Folder>> {
        let (s, c) = member(ctx)?;
        Ok(s.directory()
            .folder(c, &self.folder_id)
            .await
            .ok()
            .map(Folder))
    }
}

impl From<VirtualRootRecord> for VirtualRoot {
    fn from(r: VirtualRootRecord) -> Self {
        VirtualRoot {
            id: ID(r.uid.into()),
            name: r.name,
            folder_id: ID(r.folder_uid.into()),
            position: r.position,
        }
    }
}

#[derive(SimpleObject)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    pub user_id: ID,
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRecord> for ApiToken {
    fn from(r: ApiTokenRecord) -> Self {
        ApiToken {
            id: ID(r.uid.into()),
            name: r.name,
            user_id: ID(r.user_uid.into()),
            read_only: r.read_only,
            created_at: time(r.created_ms),
            expires_at: r.expires_ms.map(time),
            revoked_at: r.revoked_ms.map(time),
            last_used_at: r.last_used_ms.map(time),
        }
    }
}

/// A freshly created API token. `token` is shown this once; only its hash is stored.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

/// One casbin policy line: a grant (`p`) or a membership (`g`).
#[derive(SimpleObject)]
pub struct PolicyRule {
    /// `p` for a grant, `g` for a group membership.
    pub ptype: String,
    pub subject: String,
    /// The object of a grant, or the group of a membership.
    pub object: String,
    /// The role or server permission of a grant; empty for memberships.
    pub grant: String,
}

impl From<PolicyLine> for PolicyRule {
    fn from(l: PolicyLine) -> Self {
        PolicyRule {
            ptype: l.ptype,
            subject: l.v0,
            object: l.v1,
            grant: l.v2,
        }
    }
}

#[derive(SimpleObject)]
pub struct PolicyImportResult {
    pub grants: i32,
    pub memberships: i32,
}

#[derive(SimpleObject)]
pub struct GrantContribution {
    pub subject: String,
    pub object: String,
    pub role: Role,
    /// True when the grant sits on a folder above the object (the folder floor).
    pub inherited: bool,
}

#[derive(SimpleObject)]
pub struct Explanation {
    pub allowed: bool,
    pub required_role: Role,
    pub effective_role: Role,
    pub default_role: Role,
    pub is_admin: bool,
    pub grants: Vec<GrantContribution>,
    /// casbin's own answer from the stored model, without the default role and the admin
    /// shortcut; equal to `allowed` whenever neither applies.
    pub casbin_allows: bool,
    pub reason: String,
}

impl From<crate::services::values::Explanation> for Explanation {
    fn from(e: crate::services::values::Explanation) -> Self {
        Explanation {
            allowed: e.allowed,
            required_role: e.required_role.into(),
            effective_role: e.effective_role.into(),
            default_role: e.default_role.into(),
            is_admin: e.is_admin,
            grants: e
                .grants
                .into_iter()
                .map(|c| GrantContribution {
                    subject: c.subject,
                    object: c.object,
                    role: c.role.into(),
                    inherited: c.inherited,
                })
                .collect(),
            casbin_allows: e.casbin_allows,
            reason: e.reason,
        }
    }
}

#[derive(SimpleObject)]
pub struct AbilitySetting {
    pub ability: Ability,
    pub default_enabled: bool,
    pub disabled: bool,
}

#[derive(SimpleObject)]
pub struct InstanceSettings {
    pub default_role: Role,
    pub abilities: Vec<AbilitySetting>,
}

impl From<crate::services::values::InstanceSettings> for InstanceSettings {
    fn from(s: crate::services::values::InstanceSettings) -> Self {
        InstanceSettings {
            default_role: s.default_role.into(),
            abilities: vitrine_core::Ability::ALL
                .iter()
                .map(|a| AbilitySetting {
                    ability: (*a).into(),
                    default_enabled: s.ability_defaults.get(a).copied().unwrap_or(false),
                    disabled: s.disabled_abilities.contains(a),
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject)]
pub struct AuditEvent {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub actor_id: Option<ID>,
    pub actor_name: String,
    pub action: AuditAction,
    /// The action's stored name (`share_link.create`), also for actions this version
    /// does not know (`action` is then `UNKNOWN`).
    pub action_name: String,
    pub object: String,
    /// `ok`, `failed`, `denied`, `refused`, `rate_limited`, `disabled`.
    pub outcome: String,
    pub address: Option<String>,
    pub detail: String,
}

impl From<AuditRecord> for AuditEvent {
    fn from(r: AuditRecord) -> Self {
        AuditEvent {
            id: ID(r.uid.into()),
            at: time(r.at_ms),
            actor_id: r.actor_uid.map(|u| ID(u.into())),
            actor_name: r.actor_name,
            action: vitrine_core::AuditAction::parse(&r.action).into(),
            action_name: r.action,
            object: r.object,
            outcome: r.outcome,
            address: r.address,
            detail: r.detail,
        }
    }
}

#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    pub actor_id: Option<ID>,
    /// Matches actions whose stored name starts with this text (`auth.` for every
    /// sign-in event).
    pub action_prefix: Option<String>,
    /// Matches any of these actions.
    pub actions: Option<Vec<AuditAction>>,
    pub object: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

macro_rules! audit_action_enum {
    ($($variant:ident = $name:literal,)*) => {
        /// What an audit event records; made from the same list as the stored names.
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = "vitrine_core::AuditAction")]
        pub enum AuditAction {
            $($variant,)*
        }
    };
}

vitrine_core::for_each_audit_action!(audit_action_enum);
