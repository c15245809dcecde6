//! GraphQL object types over the service layer's records. Names follow the glossary.

use crate::services::records::{
    ApiTokenRecord, AuditRecord, GroupRecord, UserRecord, VirtualRootRecord,
};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use vitrine_core::{GroupId, ProjectId, UserId};

use super::{member, services};
use crate::GqlResult;
use crate::services::{FolderView, ProjectView};

pub use vitrine_definitions::time;

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
    /// May make working copies of the projects it edits, issue links to copy them, and
    /// push into them; managers may without it.
    ProjectPublisher,
    /// May create projects. Nobody holds it while `InstanceSettings.projectEditing` is off.
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

/// Attribute values as the services take them.
pub fn attribute_input(list: Vec<UserAttributeInput>) -> crate::services::AttributeInput {
    list.into_iter().map(|a| (a.key, a.values)).collect()
}

/// Attribute values as the API shows them, keys in order.
pub fn attribute_list(map: BTreeMap<String, Vec<String>>) -> Vec<UserAttribute> {
    let attribute = |(key, values)| UserAttribute { key, values };
    map.into_iter().map(attribute).collect()
}

/// A person or a service account.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    /// The name policies use for this user: `user:ID`.
    pub subject: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub kind: UserKind,
    /// `local`, or the OpenID Connect issuer the user signs in with.
    pub issuer: String,
    pub disabled: bool,
    pub attributes: Vec<UserAttribute>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    uid: UserId,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> Self {
        User {
            id: ID(r.uid.to_string()),
            subject: format!("user:{}", r.uid),
            username: r.username,
            display_name: r.display_name,
            email: r.email,
            kind: r.kind.into(),
            issuer: r.issuer,
            disabled: r.disabled,
            attributes: attribute_list(r.attributes),
            created_at: time(r.created_ms),
            uid: r.uid,
        }
    }
}

#[ComplexObject]
impl User {
    async fn permissions(&self, ctx: &Context<'_>) -> Vec<ServerPermission> {
        services(ctx)
            .directory()
            .permissions_of(&self.uid)
            .into_iter()
            .map(Into::into)
            .collect()
    }
    /// Their last invitation to choose a password (admins; null: never invited).
    async fn invitation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserInvitation>> {
        let (s, c) = member(ctx)?;
        let i = s.directory().user_invitation(c, &self.uid).await.gql()?;
        Ok(i.map(Into::into))
    }
    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Group>> {
        let groups = services(ctx)
            .directory()
            .group_records_of(&self.uid)
            .await
            .gql()?;
        Ok(groups.into_iter().map(Group::from).collect())
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Group {
    pub id: ID,
    /// The name policies use for this group: `group:ID`.
    pub subject: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    uid: GroupId,
}

impl From<GroupRecord> for Group {
    fn from(r: GroupRecord) -> Self {
        Group {
            id: ID(r.uid.to_string()),
            subject: format!("group:{}", r.uid),
            name: r.name,
            created_at: time(r.created_ms),
            uid: r.uid,
        }
    }
}

#[ComplexObject]
impl Group {
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        Ok(services(ctx)
            .directory()
            .group_members(&self.uid)
            .await
            .gql()?
            .into_iter()
            .map(User::from)
            .collect())
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Folder {
    pub id: ID,
    /// The name policies use for this folder: `folder:ID`.
    pub object: String,
    pub name: String,
    pub parent_id: Option<ID>,
    /// The caller's effective role here (`NO_ACCESS` when the folder is listed only because
    /// something inside it is shared with the caller).
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<FolderView> for Folder {
    fn from(v: FolderView) -> Self {
        let r = v.record;
        Folder {
            id: ID(r.uid.to_string()),
            object: format!("folder:{}", r.uid),
            name: r.name,
            parent_id: r.parent_uid.map(|p| ID(p.into())),
            role: v.role.into(),
            created_at: time(r.created_ms),
        }
    }
}

#[ComplexObject]
impl Folder {
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Folder>> {
        let (s, c) = member(ctx)?;
        match &self.parent_id {
            Some(p) => Ok(s.directory().folder(c, p).await.ok().map(Folder::from)),
            None => Ok(None),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Project {
    pub id: ID,
    /// The name policies use for this project: `project:ID`.
    pub object: String,
    pub name: String,
    /// The current slug. Lookups by an old slug answer with this project.
    pub slug: String,
    pub folder_id: ID,
    /// The caller's effective role on this project.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether others start projects from this one (`setProjectTemplate`).
    pub is_template: bool,
    /// The template this project was started from, if any.
    pub template_origin: Option<TemplateOrigin>,
    #[graphql(skip)]
    uid: ProjectId,
    #[graphql(skip)]
    abilities: BTreeMap<String, bool>,
}

impl From<ProjectView> for Project {
    fn from(v: ProjectView) -> Self {
        let r = v.record;
        Project {
            id: ID(r.uid.to_string()),
            object: format!("project:{}", r.uid),
            name: r.name,
            slug: r.slug,
            folder_id: ID(r.folder_uid.into()),
            role: v.role.into(),
            created_at: time(r.created_ms),
            updated_at: time(r.updated_ms),
            is_template: r.template,
            template_origin: r.template_origin.map(Into::into),
            uid: r.uid,
            abilities: r.abilities,
        }
    }
}

#[ComplexObject]
impl Project {
    /// The organisation's role here (what everyone signed in holds before any grant);
    /// null: the instance default.
    async fn default_role(&self, ctx: &Context<'_>) -> Option<Role> {
        let s = services(ctx).policy().instance_settings();
        s.project_default_roles
            .get(self.uid.as_str())
            .map(|r| (*r).into())
    }
    /// Earlier slugs that still redirect here and stay reserved for this project.
    async fn old_slugs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        services(ctx).directory().old_slugs(&self.uid).await.gql()
    }
    async fn folder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Folder>> {
        let (s, c) = member(ctx)?;
        Ok(s.directory()
            .folder(c, &self.folder_id)
            .await
            .ok()
            .map(Folder::from))
    }
    /// Abilities in effect (instance defaults, the project's own values, admin switches).
    async fn abilities(&self, ctx: &Context<'_>) -> Vec<AbilityState> {
        let settings = services(ctx).policy().instance_settings();
        vitrine_core::Ability::ALL
            .iter()
            .map(|a| AbilityState {
                ability: (*a).into(),
                enabled: settings.ability(&self.abilities, *a),
                project_value: self.abilities.get(a.as_str()).copied(),
                disabled_by_admin: settings.disabled_abilities.contains(a),
            })
            .collect()
    }
}

/// An OpenID Connect provider of this instance.
#[derive(SimpleObject)]
pub struct AuthProvider {
    /// The provider's name in URLs.
    pub name: String,
    /// The sign-in button's text.
    pub label: String,
    /// Open it in a browser to sign in (`?return_to=/path` to come back elsewhere).
    pub start_path: String,
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
            .map(Folder::from))
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
    /// `project:ID` or `folder:ID` for a token that reaches that part only.
    pub scope: Option<String>,
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
            scope: r.scope.map(|s| s.to_string()),
        }
    }
}

/// A freshly created API token. `token` is shown this once; only its hash is stored.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

#[derive(SimpleObject)]
#[graphql(complex)]
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

#[ComplexObject]
impl AuditEvent {
    /// `SERVICE` when a service account acted (its tokens, scheduled work, working-copy
    /// links); null for events without a known actor.
    async fn actor_kind(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserKind>> {
        let Some(id) = &self.actor_id else {
            return Ok(None);
        };
        let kind = services(ctx).directory().user_kind(id).await.gql()?;
        Ok(kind.map(Into::into))
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

macro_rules! error_code_enum {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// The stable code of an error: `extensions.code` of GraphQL errors, `code` of
        /// the JSON bodies of HTTP routes (docs/errors.md lists them).
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = "vitrine_core::ErrorCode")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[graphql(name = $code)] $variant,)*
        }
    };
}

vitrine_core::for_each_error_code!(error_code_enum);

/// The template, and its revision, a project was started from.
#[derive(SimpleObject)]
pub struct TemplateOrigin {
    /// The template project (it may since have been deleted or hidden from the caller).
    pub project_id: ID,
    pub project_name: String,
    pub revision: i64,
}

impl From<crate::services::records::TemplateOrigin> for TemplateOrigin {
    fn from(o: crate::services::records::TemplateOrigin) -> Self {
        TemplateOrigin {
            project_id: ID(o.project_uid.into()),
            project_name: o.project_name,
            revision: o.revision,
        }
    }
}

/// An invitation of a local user to choose their password.
#[derive(SimpleObject)]
pub struct UserInvitation {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was mailed; null: not (yet) sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why mailing it failed.
    pub error: Option<String>,
    /// When its owner chose their password with it.
    pub accepted_at: Option<DateTime<Utc>>,
}

impl From<crate::services::records::UserInvitationRecord> for UserInvitation {
    fn from(r: crate::services::records::UserInvitationRecord) -> Self {
        UserInvitation {
            created_at: time(r.created_ms),
            expires_at: time(r.expires_ms),
            sent_at: r.sent_ms.map(time),
            error: r.error,
            accepted_at: r.accepted_ms.map(time),
        }
    }
}
