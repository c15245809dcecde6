//! What the crate's tests start from: an embedded store in a temporary directory, a
//! folder, an audit event.

use crate::{FolderRecord, NewAuditEvent, Store};

/// An embedded store in `dir`.
pub async fn store(dir: &std::path::Path) -> Store {
    let url = format!("surrealkv://{}", dir.join("db").display());
    Store::open(&url, &crate::ArtifactConfig::in_data_dir(dir))
        .await
        .unwrap()
}

/// An embedded store in `dir` holding one top-level folder, `f`.
pub async fn store_with_folder(dir: &std::path::Path) -> Store {
    let store = store(dir).await;
    store
        .insert_folder(&FolderRecord {
            uid: "f".into(),
            name: "F".into(),
            parent_uid: None,
            created_ms: 0,
        })
        .await
        .unwrap();
    store
}

/// A successful action of the test actor on `object`.
pub fn event(action: vitrine_core::AuditAction, object: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor_uid: None,
        actor_name: "test".into(),
        action,
        object: object.into(),
        outcome: "ok".into(),
        address: None,
        detail: String::new(),
    }
}
