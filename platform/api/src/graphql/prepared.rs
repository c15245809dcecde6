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
//! Likewise validation: a query document validated in full once runs from then on on a
//! copy that validates only what depends on the request (complexity and depth with its
//! variables); a variable of the wrong type is refused by the field reading it. Mutations
//! are always validated in full, so a refusal comes before any of their fields ran.
//!
//! Whatever the checks would refuse (a query nested too deep to parse safely, variables
//! nested too deep, a document that does not parse, too many aliases or expanded
//! selections, introspection the caller may not make) goes to the schema with the
//! extensions, which refuses it with the same error, audited the same way. Clients see
//! no difference but speed.

use std::sync::Arc;

use async_graphql::Response;

use super::refusals;
use super::{
    AuthState, Hooks, IntrospectionAllowed, Limits, VitrineSchema, build, finish_response,
};
use crate::RequestMeta;
use crate::services::Services;
use vitrine_query_limits::CheckedDocuments;

/// The schema as the HTTP endpoints run it (see the module docs).
pub struct PreparedSchema {
    /// With the extensions: runs whatever the checks refuse, and answers the WebSocket.
    checked: VitrineSchema,
    /// Without them: runs only documents that passed the checks.
    fast: VitrineSchema,
    /// Validating only what depends on the request: for query documents validated once.
    validated: VitrineSchema,
    services: Arc<Services>,
    max_aliases: usize,
    docs: CheckedDocuments,
}

impl PreparedSchema {
    pub fn new(services: Arc<Services>, limits: &Limits, public_url: &str) -> PreparedSchema {
        PreparedSchema {
            checked: build(services.clone(), limits, public_url, Hooks::All),
            fast: build(services.clone(), limits, public_url, Hooks::None),
            validated: build(services.clone(), limits, public_url, Hooks::Validated),
            services,
            max_aliases: limits.max_aliases,
            docs: CheckedDocuments::default(),
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
        if checked.queries_only && checked.validated() {
            return finish_response(self.validated.execute(request).await);
        }
        let response = self.fast.execute(request).await;
        if checked.queries_only && response.errors.is_empty() {
            checked.mark_validated();
        }
        if !response.errors.is_empty()
            && let Some((fields, auth, meta)) = audit_as
        {
            refusals::audit(&self.services, Some(&auth), &meta, &fields, &response).await;
        }
        finish_response(response)
    }
}
