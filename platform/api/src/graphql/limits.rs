//! Request limits. Depth and complexity are async-graphql's own; aliases are counted
//! here (a query of a thousand aliases of one expensive field is a cheap denial of
//! service otherwise). Batch and body size are the HTTP layer's.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use vitrine_core::ErrorCode;

#[derive(Debug, Clone)]
pub struct Limits {
    /// The standard introspection query nests about 13 levels; leave room for it.
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Operations in one batched request.
    pub max_batch: usize,
    /// Bytes of one request body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_complexity: 2_000,
            max_aliases: 30,
            max_batch: 10,
            max_body_bytes: 1024 * 1024,
        }
    }
}

pub(crate) struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExt(self.0))
    }
}

struct AliasLimitExt(usize);

fn count(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count(&f.node.selection_set.node)
            }
            Selection::InlineFragment(f) => count(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[async_graphql::async_trait::async_trait]
impl Extension for AliasLimitExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let ops: usize = doc
            .operations
            .iter()
            .map(|(_, op)| count(&op.node.selection_set.node))
            .sum();
        let frags: usize = doc
            .fragments
            .values()
            .map(|f| count(&f.node.selection_set.node))
            .sum();
        if ops + frags > self.0 {
            let mut e = ServerError::new(
                format!(
                    "the query uses {} aliases; the limit is {}",
                    ops + frags,
                    self.0
                ),
                None,
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::QueryTooLarge.as_str());
            return Err(e);
        }
        Ok(doc)
    }
}
