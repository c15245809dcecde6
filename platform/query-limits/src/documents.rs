//! Documents parsed and checked once, by query text: what lets the API run a client's
//! few distinct queries without parsing and checking them on every request. Holds only
//! what every caller may be told (introspection is marked, decided per caller).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{ExecutableDocument, OperationType};

use crate::{Operation, check_shape, check_text_nesting, check_variable_nesting, introspects};

/// Documents kept at most; past it the cache starts over, so a client sending endless
/// distinct queries costs memory bounded by this.
const MAX_DOCUMENTS: usize = 256;
/// Longer queries are parsed every time (by the checked schema): the ones worth keeping
/// are a client's own few.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A document that passed every check that does not depend on the caller.
pub struct Checked {
    pub doc: ExecutableDocument,
    /// Asks for the schema itself: only callers allowed to introspect may run it here.
    pub introspects: bool,
    pub operations: Vec<Operation>,
    /// Every operation is a query: running one changes nothing, so a field refused at
    /// run time rather than before leaves nothing half done.
    pub queries_only: bool,
    /// Passed the schema's full validation once (see [`Checked::mark_validated`]).
    validated: AtomicBool,
}

impl Checked {
    /// Records that a request with this document passed the schema's full validation.
    /// Every rule of it but one depends on the document alone; the exception, variable
    /// values against argument types, is checked again as each field reads its arguments.
    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }

    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }
}

/// Checked documents by query text, bounded.
#[derive(Default)]
pub struct CheckedDocuments(Mutex<HashMap<String, Arc<Checked>>>);

impl CheckedDocuments {
    /// The request's document, parsed and checked (kept for the next request with the
    /// same text), or `None` when the checked schema must run it.
    pub fn checked(
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
            operations: crate::operations(&doc),
            queries_only: doc
                .operations
                .iter()
                .all(|(_, op)| op.node.ty == OperationType::Query),
            validated: AtomicBool::new(false),
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
        let docs = CheckedDocuments::default();
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
        let docs = CheckedDocuments::default();
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
