//! `vitrine-query-limits`: bounds on a GraphQL request's shape, checked before
//! async-graphql validates it. Sits beside `vitrine-api`, which installs [`ShapeLimit`] on
//! its schema and keeps its prepared queries in a [`CheckedDocuments`]; nothing here
//! knows Vitrine's schema.
//!
//! Depth and complexity are async-graphql's own; aliases are counted
//! here (a query of a thousand aliases of one expensive field is a cheap denial of
//! service otherwise). Batch and body size are the HTTP layer's. [`operations`] reads
//! what a document asks for, for the audit of refused writes.

mod documents;
mod operations;

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use vitrine_core::ErrorCode;

pub use documents::{Checked, CheckedDocuments};
pub use operations::{Operation, mutation_fields, operations};

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

/// Brackets (`{`, `[`, `(`) the query text may nest: selection sets and literal values
/// together. The parser recurses once (or more) per level, before any limit of its own
/// applies, so nesting is bounded on the raw text first.
pub const MAX_NESTING: usize = 64;

/// The query GraphiQL and client generators send (graphql-js `getIntrospectionQuery`):
/// every limit here must let it through.
pub const STANDARD_INTROSPECTION_QUERY: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;

/// Fields an operation may select once every fragment spread is expanded.
pub const MAX_EXPANDED_SELECTIONS: usize = 5_000;
/// Fragments one document may define.
pub const MAX_FRAGMENTS: usize = 200;

/// Counts aliases and selections of each operation with every fragment spread expanded,
/// right after parsing and before validation, which would otherwise walk each expansion
/// (fragments that each spread the next twice double the work per fragment). Each
/// fragment is counted once and its count reused, so the check itself is linear in the
/// document's size.
pub struct ShapeLimit {
    pub max_aliases: usize,
}

impl ExtensionFactory for ShapeLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ShapeLimitExt(self.max_aliases))
    }
}

struct ShapeLimitExt(usize);

/// What a selection set costs expanded: (selections, aliases).
#[derive(Clone, Copy, Default)]
struct Cost {
    selections: usize,
    aliases: usize,
}

impl Cost {
    fn add(self, o: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(o.selections),
            aliases: self.aliases.saturating_add(o.aliases),
        }
    }
}

enum Seen {
    Visiting,
    Done(Cost),
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    fragments: std::collections::HashMap<&'a str, Seen>,
}

impl<'a> Counter<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Result<Cost, String> {
        let mut total = Cost::default();
        for s in &set.items {
            let c = match &s.node {
                Selection::Field(f) => Cost {
                    selections: 1,
                    aliases: usize::from(f.node.alias.is_some()),
                }
                .add(self.set(&f.node.selection_set.node)?),
                Selection::InlineFragment(f) => self.set(&f.node.selection_set.node)?,
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            total = total.add(c);
            if total.selections > MAX_EXPANDED_SELECTIONS {
                return Err(format!(
                    "the query selects more than {MAX_EXPANDED_SELECTIONS} fields once its fragments are expanded"
                ));
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Cost, String> {
        match self.fragments.get(name) {
            Some(Seen::Done(c)) => return Ok(*c),
            Some(Seen::Visiting) => return Err(format!("fragment `{name}` spreads itself")),
            None => {}
        }
        // Unknown fragments are validation's to report.
        let Some((key, def)) = self.doc.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        self.fragments.insert(key.as_str(), Seen::Visiting);
        let c = self.set(&def.node.selection_set.node)?;
        self.fragments.insert(key.as_str(), Seen::Done(c));
        Ok(c)
    }
}

fn too_large(message: String) -> ServerError {
    let mut e = ServerError::new(message, None);
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooLarge.as_str());
    e
}

/// The document's largest expanded operation, or why it is refused.
pub fn check_shape(doc: &ExecutableDocument, max_aliases: usize) -> Result<(), String> {
    if doc.fragments.len() > MAX_FRAGMENTS {
        return Err(format!(
            "the query defines {} fragments; the limit is {MAX_FRAGMENTS}",
            doc.fragments.len()
        ));
    }
    let mut counter = Counter {
        doc,
        fragments: Default::default(),
    };
    for (_, op) in doc.operations.iter() {
        let c = counter.set(&op.node.selection_set.node)?;
        if c.aliases > max_aliases {
            return Err(format!(
                "the query uses {} aliases; the limit is {max_aliases}",
                c.aliases
            ));
        }
    }
    // Fragments no operation spreads are still validated: count them too.
    let names: Vec<&str> = doc.fragments.keys().map(|n| n.as_str()).collect();
    for name in names {
        counter.fragment(name)?;
    }
    Ok(())
}

/// Request data: whether this request may introspect the schema (the HTTP layer decides:
/// signed-in callers, or everyone when the instance allows it).
#[derive(Debug, Clone, Copy)]
pub struct IntrospectionAllowed(pub bool);

/// Whether an operation asks for the schema itself (`__schema`, `__type`) at its top.
pub fn introspects(doc: &ExecutableDocument) -> bool {
    fn in_set(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> bool {
        depth < 8
            && set.items.iter().any(|s| match &s.node {
                Selection::Field(f) => {
                    matches!(f.node.name.node.as_str(), "__schema" | "__type")
                }
                Selection::InlineFragment(f) => in_set(&f.node.selection_set.node, doc, depth + 1),
                Selection::FragmentSpread(spread) => doc
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| in_set(&f.node.selection_set.node, doc, depth + 1)),
            })
    }
    doc.operations
        .iter()
        .any(|(_, op)| in_set(&op.node.selection_set.node, doc, 0))
}

/// What must hold before a query text is handed to the parser, which recurses per
/// bracket: it nests at most [`MAX_NESTING`] deep. The schema's parse hook and
/// [`super::PreparedSchema`] both ask this first.
pub fn check_text_nesting(query: &str) -> Result<(), String> {
    if text_nesting(query, MAX_NESTING) > MAX_NESTING {
        return Err(format!(
            "the query nests brackets more than {MAX_NESTING} deep"
        ));
    }
    Ok(())
}

/// Every variable nests at most [`MAX_NESTING`] deep (checked per request: variables
/// change where the document does not).
pub fn check_variable_nesting(variables: &Variables) -> Result<(), String> {
    for (name, value) in variables.iter() {
        if value_nesting(value, MAX_NESTING) > MAX_NESTING {
            return Err(format!(
                "variable `{name}` nests more than {MAX_NESTING} deep"
            ));
        }
    }
    Ok(())
}

/// The deepest bracket nesting of a query text, skipping strings and comments; stops
/// counting once past `max`.
fn text_nesting(query: &str, max: usize) -> usize {
    let b = query.as_bytes();
    let (mut i, mut depth, mut deepest) = (0, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > max {
                    return deepest;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The deepest nesting of a variable value (lists and objects), iteratively.
fn value_nesting(v: &async_graphql::Value, max: usize) -> usize {
    let mut stack = vec![(v, 1usize)];
    let mut deepest = 0;
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        if deepest > max {
            return deepest;
        }
        match v {
            async_graphql::Value::List(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            async_graphql::Value::Object(map) => stack.extend(map.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

#[async_graphql::async_trait::async_trait]
impl Extension for ShapeLimitExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_text_nesting(query).map_err(too_large)?;
        check_variable_nesting(variables).map_err(too_large)?;
        let doc = next.run(ctx, query, variables).await?;
        check_shape(&doc, self.0).map_err(too_large)?;
        if ctx.data_opt::<IntrospectionAllowed>().is_some_and(|a| !a.0) && introspects(&doc) {
            let mut e = ServerError::new(
                "schema introspection needs a signed-in caller; the schema is published as schema/graphql/vitrine.graphql",
                None,
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::Unauthenticated.as_str());
            return Err(e);
        }
        Ok(doc)
    }
}
