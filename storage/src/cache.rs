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
