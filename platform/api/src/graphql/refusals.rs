//! Every mutation is audited. Services record what they did; this module records what
//! was refused — by a permission check, validation or a limit — with the error code, in
//! one place, so no refused write goes unrecorded: as an extension of the schema with
//! hooks, and through [`audit`] for [`super::PreparedSchema`]'s fast path.
//!
//! It looks at the whole response once, after execution, rather than wrapping every
//! field's resolver: a wrapper per field costs every query (a view of eight tiles
//! resolves about eighty fields), and only a mutation's errors are ever recorded.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{PathSegment, Response, ServerResult, Variables};
use vitrine_query_limits::{Operation, mutation_fields, operations};

use super::AuthState;
use crate::RequestMeta;
use crate::services::{Services, SharePage};

pub(crate) struct AuditRefusals;

impl ExtensionFactory for AuditRefusals {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditRefusalsExt::default())
    }
}

/// Records every refused field of a mutation's response, under the field's real name.
pub(crate) async fn audit(
    services: &Services,
    auth: Option<&AuthState>,
    meta: &RequestMeta,
    fields: &HashMap<String, String>,
    response: &Response,
) {
    for e in &response.errors {
        // A resolver's error names its field first; errors before execution have no
        // path and were never a write.
        let Some(PathSegment::Field(key)) = e.path.first() else {
            continue;
        };
        let field = fields.get(key).unwrap_or(key);
        let code = e
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| "ERROR".into());
        match auth {
            Some(AuthState::Link(page)) if let SharePage::Ready(a) = &**page => {
                services
                    .sharing()
                    .audit_link_refusal(a, field, &code, &e.message)
                    .await;
            }
            auth => {
                let caller = match auth {
                    Some(AuthState::Caller(c)) => Some(&**c),
                    _ => None,
                };
                services
                    .audit()
                    .record_refusal(caller, meta, field, &code, &e.message)
                    .await;
            }
        }
    }
}

/// One request's operations, read when its document is parsed.
#[derive(Default)]
struct AuditRefusalsExt {
    operations: Mutex<Vec<Operation>>,
}

impl AuditRefusalsExt {
    fn mutation_fields(&self, operation_name: Option<&str>) -> Option<HashMap<String, String>> {
        let ops = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        mutation_fields(&ops, operation_name).cloned()
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for AuditRefusalsExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let ops = operations(&doc);
        *self.operations.lock().unwrap_or_else(|e| e.into_inner()) = ops;
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if response.errors.is_empty() {
            return response;
        }
        let Some(fields) = self.mutation_fields(operation_name) else {
            return response;
        };
        let Some(services) = ctx.data_opt::<Arc<Services>>() else {
            return response;
        };
        let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
        audit(
            services,
            ctx.data_opt::<AuthState>(),
            &meta,
            &fields,
            &response,
        )
        .await;
        response
    }
}
