//! Version history in GraphQL: a project's revisions, one revision with what it changed,
//! and the structural diff between any two.

use crate::services::records::RevisionRecord;
use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vitrine_core::Change;

use super::pagination::{connection, page_ahead};
use super::types::{Project, time};
use super::{member, on};
use crate::GqlResult;
use crate::services::Services;

type R<T> = async_graphql::Result<T>;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "vitrine_core::ChangeKind")]
pub enum RevisionChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "vitrine_core::ChangeObject")]
pub enum RevisionChangeObject {
    Block,
    Parameter,
    Report,
    Tab,
    Tile,
    Filter,
}

/// One difference between two revisions.
#[derive(SimpleObject)]
pub struct RevisionChange {
    pub kind: RevisionChangeKind,
    pub object: RevisionChangeObject,
    /// A block's or parameter's name; `REPORT`, `REPORT/TAB` or `REPORT/TILE` for report
    /// parts (REPORT is the report's name in the newer revision).
    pub path: String,
    /// For a change: the fields that differ.
    pub fields: Vec<String>,
}

impl From<Change> for RevisionChange {
    fn from(c: Change) -> Self {
        RevisionChange {
            kind: c.kind.into(),
            object: c.object.into(),
            path: c.path,
            fields: c.fields,
        }
    }
}

/// The working copy a pushed revision came from.
#[derive(SimpleObject)]
pub struct PushedFrom {
    pub project_id: ID,
    pub project_name: String,
    /// The copy's instance, when it is another one.
    pub instance: Option<String>,
    /// The revision's number in the copy's history.
    pub number: i64,
}

/// An immutable saved state of a project's workflow, reports and parameters.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Revision {
    pub id: ID,
    pub project_id: ID,
    /// 1 for the project's first revision, then one more for each.
    pub number: i64,
    pub parent_id: Option<ID>,
    pub author_id: Option<ID>,
    /// The author's username, or who edited through a share link.
    pub author_name: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
    /// Set when a working copy pushed this revision: the copy and its own revision
    /// number.
    pub pushed_from: Option<PushedFrom>,
}

impl From<RevisionRecord> for Revision {
    fn from(r: RevisionRecord) -> Self {
        Revision {
            id: ID(r.uid.into()),
            project_id: ID(r.project_uid.into()),
            number: r.number,
            parent_id: r.parent_uid.map(|p| ID(p.into())),
            author_id: r.author_uid.map(|u| ID(u.into())),
            author_name: r.author_name,
            message: r.message,
            created_at: time(r.created_ms),
            pushed_from: r.pushed_from.map(|p| PushedFrom {
                project_id: ID(p.project_uid.into()),
                project_name: p.project_name,
                instance: p.instance,
                number: p.number,
            }),
        }
    }
}

#[ComplexObject]
impl Revision {
    /// What this revision changed from its parent (everything, for the first).
    async fn changes(&self, ctx: &Context<'_>) -> R<Vec<RevisionChange>> {
        let (s, c) = on(ctx, Services::versions)?;
        let changes = s.revision_changes(c, &self.id).await.gql()?;
        Ok(changes.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct RevisionQuery;

#[Object]
impl RevisionQuery {
    /// A project's version history, newest first (editors of the project).
    #[graphql(complexity = "crate::graphql::pagination::list_cost(first, child_complexity)")]
    async fn revisions(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> R<Connection<String, Revision>> {
        let (s, c) = on(ctx, Services::versions)?;
        let (p, n) = page_ahead(first, after.clone()).gql()?;
        let rows = s.revisions(c, &project_id, &p).await.gql()?;
        Ok(connection(rows, n, None, after.is_some(), Revision::from))
    }

    async fn revision(&self, ctx: &Context<'_>, id: ID) -> R<Revision> {
        let (s, c) = on(ctx, Services::versions)?;
        Ok(s.revision(c, &id).await.gql()?.into())
    }

    /// What turns revision `fromId` into revision `toId` (of one project): blocks,
    /// parameters, reports, tabs, tiles and filters added, removed or changed.
    async fn revision_diff(
        &self,
        ctx: &Context<'_>,
        from_id: ID,
        to_id: ID,
    ) -> R<Vec<RevisionChange>> {
        let (s, c) = member(ctx)?;
        let changes = s
            .versions()
            .revision_diff(c, &from_id, &to_id)
            .await
            .gql()?;
        Ok(changes.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct RevisionMutation;

#[Object]
impl RevisionMutation {
    /// Puts the project's workflow, parameters and reports back as revision `id` had
    /// them (editors), in one step, and records that as a new revision: nothing is lost.
    /// Answers the project's latest revision.
    async fn revert_to_revision(
        &self,
        ctx: &Context<'_>,
        id: ID,
        message: Option<String>,
    ) -> R<Revision> {
        let (s, c) = on(ctx, Services::versions)?;
        let revision = s.revert_to_revision(c, &id, message.as_deref()).await;
        Ok(revision.gql()?.into())
    }

    /// A new project in `folderId` holding what revision `id` held (editors of its
    /// project who may create projects in the folder). Its datasets come from its first
    /// run; its history starts with one revision naming where it came from.
    async fn create_project_from_revision(
        &self,
        ctx: &Context<'_>,
        id: ID,
        folder_id: ID,
        name: String,
        slug: Option<String>,
    ) -> R<Project> {
        let (s, c) = on(ctx, Services::versions)?;
        let project = s.create_project_from_revision(c, &id, &folder_id, &name, slug.as_deref());
        Ok(project.await.gql()?.into())
    }
}
