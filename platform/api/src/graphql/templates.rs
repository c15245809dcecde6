//! Project templates in GraphQL: marking a project as one, listing them, and starting a
//! project from one (see `vitrine_services::versions::templates`).

use async_graphql::{Context, ID, Object};

use super::types::Project;
use super::{member, on};
use crate::GqlResult;
use crate::services::Services;

type R<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// The templates the caller may start projects from (those it may view), by name.
    async fn project_templates(&self, ctx: &Context<'_>) -> R<Vec<Project>> {
        let (s, c) = member(ctx)?;
        let list = s.versions().project_templates(c).await.gql()?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Marks a project as a template, or not (its managers). A template's viewers may
    /// start projects from it, and so see its workflow, reports and parameters.
    async fn set_project_template(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        template: bool,
    ) -> R<Project> {
        let (s, c) = on(ctx, Services::versions)?;
        let project = s.set_project_template(c, &project_id, template).await;
        Ok(project.gql()?.into())
    }

    /// A new project in `folderId` from template `templateId`: its workflow, reports and
    /// parameters at its latest revision, with its access filters and abilities, and,
    /// with `withData: true` (the template's editors only), its datasets; otherwise they come
    /// from the new project's first run. Needs what creating a project needs.
    async fn create_project_from_template(
        &self,
        ctx: &Context<'_>,
        template_id: ID,
        folder_id: ID,
        name: String,
        slug: Option<String>,
        with_data: Option<bool>,
    ) -> R<Project> {
        let (s, c) = on(ctx, Services::versions)?;
        let (slug, with_data) = (slug.as_deref(), with_data.unwrap_or(false));
        let project =
            s.create_project_from_template(c, &template_id, &folder_id, &name, slug, with_data);
        Ok(project.await.gql()?.into())
    }
}
