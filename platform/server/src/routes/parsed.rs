//! Parsed GraphQL documents, by query text. Clients send the same few operations over and
//! over (the viewer page sends one per tab it draws), and parsing is a fixed cost of every
//! request. A cached document is handed to the schema already parsed; the schema still
//! runs every check on it (depth, the shape limits, validation), and the extensions'
//! parse hooks still see it, so only the parsing itself is saved.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;

/// Documents kept at most; past it the cache starts over, so a client sending endless
/// distinct queries costs memory bounded by this.
const MAX_DOCUMENTS: usize = 256;
/// Longer queries are parsed every time: the ones worth keeping are a client's own few.
const MAX_QUERY_BYTES: usize = 8 * 1024;

#[derive(Default)]
pub struct ParsedDocuments {
    docs: Mutex<HashMap<String, ExecutableDocument>>,
}

impl ParsedDocuments {
    /// Gives `request` its parsed document: from the cache, or parsed now and kept when it
    /// parses. A query that does not parse, or that nests too deep to parse safely (the
    /// parser recurses per level), is left to the schema, which refuses it and says why.
    pub fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_QUERY_BYTES {
            return;
        }
        let cached = self
            .docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&request.query)
            .cloned();
        if let Some(doc) = cached {
            request.set_parsed_query(doc);
            return;
        }
        if !vitrine_api::graphql::parser_safe(&request.query) {
            return;
        }
        let Ok(doc) = request.parsed_query() else {
            return;
        };
        let doc = doc.clone();
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if docs.len() >= MAX_DOCUMENTS {
            docs.clear();
        }
        docs.insert(request.query.clone(), doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_bad_queries_are_left_alone() {
        let cache = ParsedDocuments::default();
        let mut first = async_graphql::Request::new("{ a }");
        cache.prepare(&mut first);
        assert!(first.parsed_query().is_ok());
        assert_eq!(cache.docs.lock().unwrap().len(), 1);
        let mut again = async_graphql::Request::new("{ a }");
        cache.prepare(&mut again);
        assert!(again.parsed_query().is_ok());
        assert_eq!(cache.docs.lock().unwrap().len(), 1);
        let mut bad = async_graphql::Request::new("{ a");
        cache.prepare(&mut bad);
        assert_eq!(cache.docs.lock().unwrap().len(), 1);
        for i in 0..MAX_DOCUMENTS {
            cache.prepare(&mut async_graphql::Request::new(format!("{{ a{i} }}")));
        }
        assert!(cache.docs.lock().unwrap().len() <= MAX_DOCUMENTS);
    }

    #[test]
    fn a_query_nested_too_deep_to_parse_safely_is_left_to_the_schema() {
        let cache = ParsedDocuments::default();
        // Under the size the cache keeps, but deeper than the parser may recurse.
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(3000), "]".repeat(3000));
        assert!(deep.len() <= MAX_QUERY_BYTES);
        let mut r = async_graphql::Request::new(deep);
        cache.prepare(&mut r);
        assert!(cache.docs.lock().unwrap().is_empty());
    }
}
