use crate::services::records::AuditFilter;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use super::pagination::{connection, connection_by, page, page_ahead};
use super::policy_types::*;
use super::types::*;
use super::{member, optional_caller, services};
use crate::{ApiError, GqlResult};

#[derive(Default)]
pub struct QueryRoot;

#[Object(name = "DirectoryQuery")]
impl QueryRoot {
    /// True until the first administrator exists (see the setup URL in the server log).
    async fn setup_required(&self, ctx: &Context<'_>) -> bool {
        services(ctx).identity().setup_required()
    }

    /// The identity providers people sign in through (open to anyone: the sign-in page
    /// lists them), with the path that starts a sign-in at each.
    async fn auth_providers(&self, ctx: &Context<'_>) -> Vec<super::types::AuthProvider> {
        let list = services(ctx).identity().auth_providers();
        list.into_iter()
            .map(|p| super::types::AuthProvider {
                name: p.name,
                label: p.label,
                start_path: p.start_path,
            })
            .collect()
    }

    /// The signed-in user, or null.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        Ok(optional_caller(ctx)
            .gql()?
            .map(|c| User::from(c.user().clone())))
    }

    /// A user: yourself, or anyone for admins and holders of `LIST_DIRECTORY`.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let (s, c) = member(ctx)?;
        Ok(User::from(s.directory().user(c, &id).await.gql()?))
    }

    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, User>> {
        let (s, c) = member(ctx)?;
        let (p, n) = page_ahead(first, after.clone()).gql()?;
        let rows = s.directory().users(c, &p).await.gql()?;
        Ok(connection(rows, n, None, after.is_some(), User::from))
    }

    async fn group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Group> {
        let (s, c) = member(ctx)?;
        Ok(Group::from(s.directory().group(c, &id).await.gql()?))
    }

    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn groups(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Group>> {
        let (s, c) = member(ctx)?;
        let (p, n) = page_ahead(first, after.clone()).gql()?;
        let rows = s.directory().groups(c, &p).await.gql()?;
        Ok(connection(rows, n, None, after.is_some(), Group::from))
    }

    async fn folder(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Folder> {
        let (s, c) = member(ctx)?;
        Ok(Folder::from(s.directory().folder(c, &id).await.gql()?))
    }

    /// Folders inside `parentId` (top-level folders when omitted) that you can see.
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn folders(
        &self,
        ctx: &Context<'_>,
        parent_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Folder>> {
        let (s, c) = member(ctx)?;
        let p = page(first, after.clone()).gql()?;
        let (rows, more) = s
            .directory()
            .folders(c, parent_id.as_ref().map(|i| i.as_str()), &p)
            .await
            .gql()?;
        let prev = after.is_some();
        Ok(connection(rows, p.first, Some(more), prev, Folder::from))
    }

    /// A project by id or by slug (current or old). Exactly one of the two.
    async fn project(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> async_graphql::Result<Project> {
        let (s, c) = member(ctx)?;
        let view = match (id, slug) {
            (Some(id), None) => s.directory().project(c, &id).await,
            (None, Some(slug)) => s.directory().project_by_slug(c, &slug).await,
            _ => Err(ApiError::invalid("give exactly one of id and slug")),
        };
        Ok(Project::from(view.gql()?))
    }

    /// Projects you can see, in one folder or everywhere.
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        folder_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Project>> {
        let (s, c) = member(ctx)?;
        let p = page(first, after.clone()).gql()?;
        let (rows, more) = s
            .directory()
            .projects(c, folder_id.as_ref().map(|i| i.as_str()), &p)
            .await
            .gql()?;
        let prev = after.is_some();
        Ok(connection(rows, p.first, Some(more), prev, Project::from))
    }

    /// Admin-defined shortcuts to folders, shown at the top of the project list.
    async fn virtual_roots(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<VirtualRoot>> {
        let (s, c) = member(ctx)?;
        Ok(s.directory()
            .virtual_roots(c)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Your API tokens, or a service account's (admins).
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> async_graphql::Result<Vec<ApiToken>> {
        let (s, c) = member(ctx)?;
        Ok(s.identity()
            .api_tokens(c, user_id.as_ref().map(|i| i.as_str()))
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every grant and membership (admins).
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn policies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, PolicyRule>> {
        let (s, c) = member(ctx)?;
        let p = page(first, after.clone()).gql()?;
        let lines = s.policy().policy_lines(c).gql()?;
        // Lines are sorted; the cursor carries the position.
        let start = p
            .after
            .as_deref()
            .and_then(|a| a.parse::<usize>().ok())
            .map(|i| i + 1)
            .unwrap_or(0);
        let rows: Vec<(usize, crate::services::records::PolicyLine)> = lines
            .into_iter()
            .enumerate()
            .skip(start)
            .take(p.first + 1)
            .collect();
        Ok(connection_by(
            rows,
            p.first,
            None,
            start > 0,
            |(i, _)| i.to_string(),
            |(_, l)| PolicyRule::from(l),
        ))
    }

    /// Grants and memberships as casbin CSV (admins).
    async fn export_policies(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let (s, c) = member(ctx)?;
        s.policy().export_policies(c).gql()
    }

    /// May `userId` (default: you) do `action` on `object` (`folder:ID` or `project:ID`),
    /// and because of which grants? Admins may ask about anyone.
    async fn explain(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        action: AccessAction,
        object: String,
    ) -> async_graphql::Result<Explanation> {
        let (s, c) = member(ctx)?;
        let e = s
            .policy()
            .explain(
                c,
                user_id.as_ref().map(|i| i.as_str()),
                action.as_str(),
                &object,
            )
            .await
            .gql()?;
        Ok(e.into())
    }

    async fn instance_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<InstanceSettings> {
        // Any signed-in member may read them.
        let (s, _) = member(ctx)?;
        Ok((*s.policy().instance_settings()).clone().into())
    }

    /// The audit trail, newest first (admins).
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEvent>> {
        let (s, c) = member(ctx)?;
        let (p, n) = page_ahead(first, after.clone()).gql()?;
        let f = filter.unwrap_or_default();
        let filter = AuditFilter {
            actor_uid: f.actor_id.map(|i| i.0).map(Into::into),
            action_prefix: f.action_prefix,
            actions: f
                .actions
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            object: f.object,
            since_ms: f.since.map(|t| t.timestamp_millis()),
            until_ms: f.until.map(|t| t.timestamp_millis()),
        };
        let rows = s.audit().events(c, &filter, &p).await.gql()?;
        Ok(connection(rows, n, None, after.is_some(), AuditEvent::from))
    }
}
