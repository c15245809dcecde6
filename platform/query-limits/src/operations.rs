//! What a document asks for, as the audit of refused writes needs it: each operation's
//! name and, for a mutation, its fields by response key. Independent of any schema.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};

/// One operation of a request's document: its name and, for a mutation, its fields by
/// response key (an alias must not hide which field was refused).
pub type Operation = (Option<String>, Option<HashMap<String, String>>);

/// A document's operations, as a refusal's audit needs them.
pub fn operations(doc: &ExecutableDocument) -> Vec<Operation> {
    doc.operations
        .iter()
        .map(|(name, op)| {
            let fields = (op.node.ty == OperationType::Mutation).then(|| {
                op.node
                    .selection_set
                    .node
                    .items
                    .iter()
                    .filter_map(|s| match &s.node {
                        Selection::Field(f) => Some((
                            f.node.response_key().node.to_string(),
                            f.node.name.node.to_string(),
                        )),
                        _ => None,
                    })
                    .collect()
            });
            (name.map(|n| n.to_string()), fields)
        })
        .collect()
}

/// The executed operation's mutation fields by response key; `None` for a query.
pub fn mutation_fields<'a>(
    ops: &'a [Operation],
    operation_name: Option<&str>,
) -> Option<&'a HashMap<String, String>> {
    let op = match operation_name {
        Some(name) => ops.iter().find(|(n, _)| n.as_deref() == Some(name)),
        None if ops.len() == 1 => ops.first(),
        None => None,
    };
    op.and_then(|(_, fields)| fields.as_ref())
}
