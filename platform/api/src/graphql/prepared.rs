//! How the HTTP endpoints run GraphQL: documents parsed and checked once, then executed
//! by a schema without per-field hooks.
//!
//! The schema's extensions ([`vitrine_query_limits::ShapeLimit`], [`super::refusals`]) do their
//! work when a document is parsed and after it has run, but their mere presence makes
//! async-graphql route every field's resolution through the extension chain (a boxed
//! future per extension and two registry lookups per field). A view of eight tiles
//! resolves about eighty fields, so that chain cost a quarter of the views a server could
//! answer. [`PreparedSchema`] does the same checks itself, once per distinct document, and
//! executes on a copy of the schema built without extensions. That copy is private to
//! this module: nothing can run a request on it without the checks.
//!
//! Whatever the checks would refuse (a query nested too deep to parse safely, variables
//! nested too deep, a document that does not parse, too many aliases or expanded
//! selections, introspection the caller may not make) goes to the schema with the
//! extensions, which refuses it with the same error, audited the same way. Clients see
//! no difference but speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Response;
use async_graphql::parser::types::ExecutableDocument;

use super::refusals;
use super::{AuthState, IntrospectionAllowed, Limits, VitrineSchema, build, finish_response};
use crate::RequestMeta;
use crate::services::Services;
use vitrine_query_limits::Operation;
use vitrine_query_limits::{check_shape, check_text_nesting, check_variable_nesting, introspects};

/// Documents kept at most; past it the cache starts over, so a client sending endless
/// distinct queries costs memory bounded by this.
const MAX_DOCUMENTS: usize = 256;
/// Longer queries are parsed every time (by the checked schema): the ones worth keeping
/// are a client's own few.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A document that passed every check that does not depend on the caller.
struct Checked {
    doc: ExecutableDocument,
    /// Asks for the schema itself: only callers allowed to introspect may run it here.
    introspects: bool,
    operations: Vec<Operation>,
}

/// The schema as the HTTP endpoints run it (see the module docs).
pub struct PreparedSchema {
    /// With the extensions: runs whatever the checks refuse, and answers the WebSocket.
    checked: VitrineSchema,
    /// Without them: runs only documents that passed the checks.
    fast: VitrineSchema,
    services: Arc<Services>,
    max_aliases: usize,
    docs: Documents,
}

impl PreparedSchema {
    pub fn new(services: Arc<Services>, limits: &Limits, public_url: &str) -> PreparedSchema {
        PreparedSchema {
            checked: build(services.clone(), limits, public_url, true),
            fast: build(services.clone(), limits, public_url, false),
            services,
            max_aliases: limits.max_aliases,
            docs: Documents::default(),
        }
    }

    /// The schema with every hook in place, for transports that run it themselves (the
    /// GraphQL WebSocket).
    pub fn schema(&self) -> &VitrineSchema {
        &self.checked
    }

    /// Runs one request for `auth`, from where `meta` says, with or without schema
    /// introspection. Error codes are filled in ([`finish_response`]).
    pub async fn execute(
        &self,
        request: async_graphql::Request,
        auth: AuthState,
        meta: RequestMeta,
        introspection: bool,
    ) -> Response {
        let checked = self
            .docs
            .checked(&request, self.max_aliases)
            .filter(|c| introspection || !c.introspects);
        // A mutation's refusals are audited after it ran, as the caller who asked: only
        // then are the caller and the request's origin kept for it.
        let audit_as = checked.as_ref().and_then(|c| {
            vitrine_query_limits::mutation_fields(&c.operations, request.operation_name.as_deref())
                .map(|fields| (fields.clone(), auth.clone(), meta.clone()))
        });
        let mut request = request
            .data(auth)
            .data(meta)
            .data(IntrospectionAllowed(introspection));
        if !introspection {
            // The schema is no secret (it is published), but answering it costs the
            // server far more than the request costs an anonymous client.
            request = request.disable_introspection();
        }
        let Some(checked) = checked else {
            return finish_response(self.checked.execute(request).await);
        };
        request.set_parsed_query(checked.doc.clone());
        let response = self.fast.execute(request).await;
        if !response.errors.is_empty()
            && let Some((fields, auth, meta)) = audit_as
        {
            refusals::audit(&self.services, Some(&auth), &meta, &fields, &response).await;
        }
        finish_response(response)
    }
}

/// Checked documents by query text.
#[derive(Default)]
struct Documents(Mutex<HashMap<String, Arc<Checked>>>);

impl Documents {
    /// The request's document, parsed and checked (kept for the next request with the
    /// same text), or `None` when the checked schema must run it.
    fn checked(
        &self,
        request: &async_graphql::Request,
        max_aliases: usize,
    ) -> Option<Arc<Checked>> {
        if request.query.len() > MAX_QUERY_BYTES
            || check_variable_nesting(&request.variables).is_err()
        {
            return None;
        }
        let docs = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = docs().get(&request.query) {
            return Some(hit.clone());
        }
        check_text_nesting(&request.query).ok()?;
        let doc = async_graphql::parser::parse_query(&request.query).ok()?;
        check_shape(&doc, max_aliases).ok()?;
        let checked = Arc::new(Checked {
            introspects: introspects(&doc),
            operations: vitrine_query_limits::operations(&doc),
            doc,
        });
        let mut docs = docs();
        if docs.len() >= MAX_DOCUMENTS {
            docs.clear();
        }
        docs.insert(request.query.clone(), checked.clone());
        Some(checked)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(q: impl Into<String>) -> async_graphql::Request {
        async_graphql::Request::new(q)
    }

    #[test]
    fn a_document_is_checked_once_and_the_cache_stays_bounded() {
        let docs = Documents::default();
        let first = docs.checked(&request("{ a }"), 30).expect("checked");
        let again = docs.checked(&request("{ a }"), 30).expect("kept");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(docs.len(), 1);
        for i in 0..MAX_DOCUMENTS {
            docs.checked(&request(format!("{{ a{i} }}")), 30);
        }
        assert!(docs.len() <= MAX_DOCUMENTS);
    }

    #[test]
    fn what_the_hooks_refuse_is_left_to_the_checked_schema() {
        let docs = Documents::default();
        // Does not parse.
        assert!(docs.checked(&request("{ a"), 30).is_none());
        // Under the size kept, but deeper than the parser may recurse.
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(3000), "]".repeat(3000));
        assert!(deep.len() <= MAX_QUERY_BYTES);
        assert!(docs.checked(&request(deep), 30).is_none());
        // Too many aliases.
        let aliases: String = (0..31).map(|i| format!("x{i}: a ")).collect();
        assert!(
            docs.checked(&request(format!("{{ {aliases} }}")), 30)
                .is_none()
        );
        // Variables nested too deep.
        let mut v = serde_json::json!(1);
        for _ in 0..100 {
            v = serde_json::json!([v]);
        }
        let r = request("query($v: JSON) { a }").variables(async_graphql::Variables::from_json(
            serde_json::json!({"v": v}),
        ));
        assert!(docs.checked(&r, 30).is_none());
        // Too long to keep: parsed by the checked schema every time.
        let long = format!("{{ a {} }}", " ".repeat(MAX_QUERY_BYTES));
        assert!(docs.checked(&request(long), 30).is_none());
        assert_eq!(docs.len(), 0);
        // Introspection is checked per caller, so it is kept, marked.
        let intro = docs.checked(&request("{ __schema { queryType { name } } }"), 30);
        assert!(intro.expect("kept").introspects);
    }
}
