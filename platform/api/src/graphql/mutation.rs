use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::policy_types::*;
use super::types::*;
use super::{caller, member, meta, services};
use crate::GqlResult;
use crate::services::TokenRequest;

#[derive(Default)]
pub struct MutationRoot;

#[Object(name = "DirectoryMutation")]
impl MutationRoot {
    /// Creates the first administrator with the one-time token from the setup URL.
    async fn complete_setup(
        &self,
        ctx: &Context<'_>,
        token: String,
        username: String,
        password: String,
    ) -> async_graphql::Result<User> {
        let (r, m) = (services(ctx).identity(), meta(ctx));
        let r = r.complete_setup(&token, &username, &password, &m);
        Ok(r.await.gql()?.into())
    }

    /// Changes your own password; your other sessions end.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.identity()
            .change_password(c, &current_password, &new_password)
            .await
            .gql()?;
        Ok(true)
    }

    // ---- users and groups (admins) ------------------------------------------------

    /// A local user (admins). With `invite: true` (and an `email`), Vitrine mails them a
    /// link to choose their own password, and `password` may be left out; the outcome
    /// shows in `User.invitation`.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        username: String,
        display_name: Option<String>,
        password: Option<String>,
        email: Option<String>,
        invite: Option<bool>,
    ) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        let (name, pw) = (display_name.as_deref(), password.as_deref());
        let invite = invite.unwrap_or(false);
        let u = s.directory();
        let u = u.create_user(c, &username, name, pw, email, invite);
        Ok(u.await.gql()?.into())
    }

    /// Mails a local user a new invitation to choose their password (admins): the old
    /// one stops working once this one is sent; UNAVAILABLE, and nothing changed, when
    /// the mail cannot be sent.
    async fn resend_user_invitation(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<UserInvitation> {
        let (s, c) = member(ctx)?;
        let r = s.directory().resend_user_invitation(c, &user_id).await;
        Ok(r.gql()?.into())
    }

    /// A user who signs in through identity provider `provider` (its name in the
    /// configuration) as `subject` (the provider's `sub` claim); for providers that admit
    /// pre-provisioned users only. Admins only.
    async fn create_provider_user(
        &self,
        ctx: &Context<'_>,
        provider: String,
        subject: String,
        username: String,
        email: Option<String>,
    ) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        let u = s.directory();
        let u = u.create_provider_user(c, &provider, &subject, &username, email);
        Ok(u.await.gql()?.into())
    }

    /// A non-human identity that authenticates only with API tokens (for scheduled work).
    async fn create_service_account(
        &self,
        ctx: &Context<'_>,
        username: String,
        display_name: Option<String>,
    ) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        let (d, name) = (s.directory(), display_name.as_deref());
        let r = d.create_service_account(c, &username, name).await;
        Ok(r.gql()?.into())
    }

    /// Disabling ends the user's sessions and tokens on their next request.
    async fn set_user_disabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        disabled: bool,
    ) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        let r = s.directory().set_user_disabled(c, &id, disabled).await;
        Ok(r.gql()?.into())
    }

    /// Replaces the user's attributes (used by access filters).
    async fn set_user_attributes(
        &self,
        ctx: &Context<'_>,
        id: ID,
        attributes: Vec<UserAttributeInput>,
    ) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        let attrs = attribute_input(attributes);
        let r = s.directory().set_user_attributes(c, &id, attrs).await;
        Ok(r.gql()?.into())
    }

    async fn create_group(&self, ctx: &Context<'_>, name: String) -> async_graphql::Result<Group> {
        let (s, c) = member(ctx)?;
        Ok(s.directory().create_group(c, &name).await.gql()?.into())
    }

    async fn rename_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Group> {
        let (s, c) = member(ctx)?;
        let r = s.directory().rename_group(c, &id, &name).await;
        Ok(r.gql()?.into())
    }

    /// Deletes a group with its grants and memberships.
    async fn delete_group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.directory().delete_group(c, &id).await.gql()?;
        Ok(true)
    }

    async fn add_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        user_id: ID,
    ) -> async_graphql::Result<Group> {
        let (s, c) = member(ctx)?;
        let d = s.directory();
        let r = d.set_group_member(c, &group_id, &user_id, true).await;
        Ok(r.gql()?.into())
    }

    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        user_id: ID,
    ) -> async_graphql::Result<Group> {
        let (s, c) = member(ctx)?;
        let d = s.directory();
        let r = d.set_group_member(c, &group_id, &user_id, false).await;
        Ok(r.gql()?.into())
    }

    // ---- API tokens ---------------------------------------------------------------

    /// Issues an API token for yourself, or for a service account (admins). The secret is
    /// in the answer only. `scope` (`project:ID` or `folder:ID`) limits the token to that
    /// project, or that folder and everything inside it, with no server permission.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        read_only: Option<bool>,
        expires_at: Option<DateTime<Utc>>,
        user_id: Option<ID>,
        scope: Option<String>,
    ) -> async_graphql::Result<CreatedApiToken> {
        let (s, c) = member(ctx)?;
        let request = TokenRequest {
            owner_uid: user_id.as_ref().map(|i| i.as_str()),
            name: &name,
            read_only: read_only.unwrap_or(false),
            expires_ms: expires_at.map(|t| t.timestamp_millis()),
            scope: scope.as_deref(),
        };
        let t = s.identity().create_api_token(c, request).await.gql()?;
        Ok(CreatedApiToken {
            token: t.token,
            api_token: t.record.into(),
        })
    }

    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiToken> {
        let (s, c) = member(ctx)?;
        Ok(s.identity().revoke_api_token(c, &id).await.gql()?.into())
    }

    // ---- folders and projects -----------------------------------------------------

    /// Creates a folder inside `parentId` (managers of it) or at the top (admins, or everyone
    /// when `setRootFolderCreation(open: true)`: the maker then manages it).
    async fn create_folder(
        &self,
        ctx: &Context<'_>,
        parent_id: Option<ID>,
        name: String,
    ) -> async_graphql::Result<Folder> {
        let (s, c) = member(ctx)?;
        let (d, parent) = (s.directory(), parent_id.as_ref().map(|i| i.as_str()));
        let r = d.create_folder(c, parent, &name).await;
        Ok(r.gql()?.into())
    }

    async fn rename_folder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Folder> {
        let (s, c) = member(ctx)?;
        let r = s.directory().rename_folder(c, &id, &name).await;
        Ok(r.gql()?.into())
    }

    /// Moves a folder into `parentId`, or to the top when omitted (admins).
    async fn move_folder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        parent_id: Option<ID>,
    ) -> async_graphql::Result<Folder> {
        let (s, c) = member(ctx)?;
        let (d, parent) = (s.directory(), parent_id.as_ref().map(|i| i.as_str()));
        let r = d.move_folder(c, &id, parent).await;
        Ok(r.gql()?.into())
    }

    /// Refused while the folder holds anything, unless `recursive` is true.
    async fn delete_folder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        recursive: Option<bool>,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.directory()
            .delete_folder(c, &id, recursive.unwrap_or(false))
            .await
            .gql()?;
        Ok(true)
    }

    /// Creates a project; its slug is derived from the name unless given. You become owner.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        folder_id: ID,
        name: String,
        slug: Option<String>,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let (d, slug) = (s.directory(), slug.as_deref());
        let r = d.create_project(c, &folder_id, &name, slug).await;
        Ok(r.gql()?.into())
    }

    async fn rename_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let r = s.directory().rename_project(c, &id, &name).await;
        Ok(r.gql()?.into())
    }

    /// Changes the slug. The old slug keeps redirecting and stays reserved for this project.
    async fn change_project_slug(
        &self,
        ctx: &Context<'_>,
        id: ID,
        slug: String,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let r = s.directory().change_project_slug(c, &id, &slug).await;
        Ok(r.gql()?.into())
    }

    /// Moves a project (its managers) into a folder you may edit. The user who manages
    /// that folder becomes its owner (you, when you are one of them); audited.
    async fn move_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        folder_id: ID,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let r = s.directory().move_project(c, &id, &folder_id).await;
        Ok(r.gql()?.into())
    }

    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.directory().delete_project(c, &id).await.gql()?;
        Ok(true)
    }

    /// Sets the project's own value of an ability; null returns it to the instance default.
    /// Sets the organisation's role on one project, higher or lower than the instance
    /// default (its managers; at most EDITOR); null follows the instance default again.
    async fn set_project_default_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        role: Option<Role>,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let (d, role) = (s.directory(), role.map(Into::into));
        let r = d.set_project_default_role(c, &id, role).await;
        Ok(r.gql()?.into())
    }

    async fn set_project_ability(
        &self,
        ctx: &Context<'_>,
        id: ID,
        ability: Ability,
        enabled: Option<bool>,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let d = s.directory();
        let r = d.set_project_ability(c, &id, ability.into(), enabled).await;
        Ok(r.gql()?.into())
    }

    async fn create_virtual_root(
        &self,
        ctx: &Context<'_>,
        name: String,
        folder_id: ID,
        position: Option<i64>,
    ) -> async_graphql::Result<VirtualRoot> {
        let (s, c) = member(ctx)?;
        let (d, position) = (s.directory(), position.unwrap_or(0));
        let r = d.create_virtual_root(c, &name, &folder_id, position).await;
        Ok(r.gql()?.into())
    }

    async fn delete_virtual_root(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.directory().delete_virtual_root(c, &id).await.gql()?;
        Ok(true)
    }

    // ---- permissions --------------------------------------------------------------

    /// Grants `role` to `subject` (`user:ID`/`group:ID`) on `object` (`folder:ID`/`project:ID`).
    /// Managers grant up to their own role. Refused below the folder floor.
    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        subject: String,
        object: String,
        role: Role,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.policy()
            .grant_role(c, &subject, &object, role.into())
            .await
            .gql()?;
        Ok(true)
    }

    /// Removes the subject's direct role on the object; returns whether there was one.
    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        subject: String,
        object: String,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.policy().revoke_role(c, &subject, &object).await.gql()
    }

    async fn grant_server_permission(
        &self,
        ctx: &Context<'_>,
        subject: String,
        permission: ServerPermission,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.policy()
            .set_server_permission(c, &subject, permission.into(), true)
            .await
            .gql()
    }

    async fn revoke_server_permission(
        &self,
        ctx: &Context<'_>,
        subject: String,
        permission: ServerPermission,
    ) -> async_graphql::Result<bool> {
        let (s, c) = member(ctx)?;
        s.policy()
            .set_server_permission(c, &subject, permission.into(), false)
            .await
            .gql()
    }

    /// Replaces every grant and membership with a casbin CSV file. Refused whole, changing
    /// nothing, when any line is wrong; the error lists each problem by line.
    async fn import_policies(
        &self,
        ctx: &Context<'_>,
        csv: String,
    ) -> async_graphql::Result<PolicyImportResult> {
        let s = services(ctx)
            .policy()
            .import_policies(caller(ctx).gql()?, &csv)
            .await
            .gql()?;
        Ok(PolicyImportResult {
            grants: s.grants as i32,
            memberships: s.memberships as i32,
        })
    }

    async fn set_default_role(
        &self,
        ctx: &Context<'_>,
        role: Role,
    ) -> async_graphql::Result<InstanceSettings> {
        let (s, c) = member(ctx)?;
        let r = s.policy().set_default_role(c, role.into()).await;
        Ok(r.gql()?.into())
    }

    /// Lets every signed-in user create folders at the top (each manages its own), or
    /// only admins again. Admins only.
    async fn set_root_folder_creation(
        &self,
        ctx: &Context<'_>,
        open: bool,
    ) -> async_graphql::Result<InstanceSettings> {
        let (s, c) = member(ctx)?;
        let r = s.policy().set_root_folder_creation(c, open).await;
        Ok(r.gql()?.into())
    }

    /// Turns direct editing of projects on or off (see `InstanceSettings.projectEditing`).
    /// Admins only.
    async fn set_project_editing(
        &self,
        ctx: &Context<'_>,
        enabled: bool,
    ) -> async_graphql::Result<InstanceSettings> {
        let (s, c) = member(ctx)?;
        let r = s.policy().set_project_editing(c, enabled).await;
        Ok(r.gql()?.into())
    }

    /// Sets an ability's instance default and/or disables it everywhere.
    async fn set_ability_setting(
        &self,
        ctx: &Context<'_>,
        ability: Ability,
        default_enabled: Option<bool>,
        disabled: Option<bool>,
    ) -> async_graphql::Result<InstanceSettings> {
        let (s, c) = member(ctx)?;
        let (p, ability) = (s.policy(), ability.into());
        let r = p
            .set_ability_setting(c, ability, default_enabled, disabled)
            .await;
        Ok(r.gql()?.into())
    }
}
