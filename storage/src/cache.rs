//! A read cache of project rows, used only when this process holds the database
//! exclusively (embedded SurrealKV), so every write passes through here and clears it.
//!
//! A generation counter closes the race between a reader and a writer: a reader notes
//! the generation before it queries and caches its row only if no write finished since —
//! otherwise a row read just before a commit could be cached after the clear, and stay
//! stale.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::ProjectRecord;

const MAX_ENTRIES: usize = 20_000;

#[derive(Default)]
pub(crate) struct ProjectCache {
    inner: Mutex<(u64, HashMap<String, ProjectRecord>)>,
}

impl ProjectCache {
    pub fn generation(&self) -> u64 {
        self.inner.lock().0
    }

    pub fn by_uid(&self, uid: &str) -> Option<ProjectRecord> {
        self.inner.lock().1.get(&format!("u:{uid}")).cloned()
    }

    pub fn by_slug(&self, slug: &str) -> Option<ProjectRecord> {
        self.inner.lock().1.get(&format!("s:{slug}")).cloned()
    }

    /// Caches a row read at generation `seen`, unless a write has finished since.
    pub fn put(&self, seen: u64, project: &ProjectRecord) {
        let mut guard = self.inner.lock();
        let (generation, map) = &mut *guard;
        if *generation != seen {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(format!("u:{}", project.uid), project.clone());
        map.insert(format!("s:{}", project.slug), project.clone());
    }

    /// Called after every write that touches projects, whether it succeeded or not.
    pub fn invalidate(&self) {
        let mut guard = self.inner.lock();
        guard.0 += 1;
        guard.1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(uid: &str, slug: &str, name: &str) -> ProjectRecord {
        ProjectRecord {
            uid: uid.into(),
            name: name.into(),
            slug: slug.into(),
            folder_uid: "f".into(),
            description: String::new(),
            abilities: Default::default(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn a_row_read_before_a_write_is_not_cached_after_it() {
        let c = ProjectCache::default();
        let seen = c.generation();
        // A write commits and invalidates while the reader still holds the old row.
        c.invalidate();
        c.put(seen, &project("p", "old", "Old"));
        assert!(c.by_uid("p").is_none(), "stale row refused");
        let seen = c.generation();
        c.put(seen, &project("p", "new", "New"));
        assert_eq!(c.by_slug("new").unwrap().name, "New");
        assert_eq!(c.by_uid("p").unwrap().slug, "new");
    }
}

#[cfg(test)]
mod store_tests {
    use crate::{ProjectRecord, Store};

    #[tokio::test]
    async fn reads_after_writes_see_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("surrealkv://{}", dir.path().join("db").display());
        let store = Store::open(&url, &dir.path().join("a")).await.unwrap();
        assert!(store.is_exclusive());
        let p = ProjectRecord {
            uid: "p1".into(),
            name: "One".into(),
            slug: "one".into(),
            folder_uid: "f".into(),
            description: String::new(),
            abilities: Default::default(),
            created_ms: 0,
            updated_ms: 0,
        };
        store.insert_project(&p).await.unwrap();
        assert_eq!(
            store.project_by_slug("one").await.unwrap().unwrap().0.name,
            "One"
        );
        store.rename_project("p1", "Uno").await.unwrap();
        assert_eq!(store.project("p1").await.unwrap().unwrap().name, "Uno");
        assert_eq!(
            store.project_by_slug("one").await.unwrap().unwrap().0.name,
            "Uno"
        );
        store.change_slug("p1", "one", "uno").await.unwrap();
        let (found, redirected) = store.project_by_slug("one").await.unwrap().unwrap();
        assert_eq!((found.slug.as_str(), redirected), ("uno", true));
        store.delete_project("p1").await.unwrap();
        assert!(store.project("p1").await.unwrap().is_none());
        assert!(store.project_by_slug("uno").await.unwrap().is_none());
    }
}
