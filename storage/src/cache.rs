//! Read caches, used only when this process holds the database exclusively (embedded
//! SurrealKV), so every write passes through this process and clears them.
//!
//! - [`ProjectCache`]: project rows, cleared by writes that touch projects.
//! - [`ReadCache`]: the rows of the reads a shared view repeats on every request (link,
//!   session, creator, report, datasets, access filters, settings), cleared by *every*
//!   write, so no write can leave a stale row behind. The one write views cause, their
//!   counters once a second, clears only the reads that name the counted tables
//!   ([`Writes::Tables`]): clearing everything made every view in flight read its
//!   datasets and settings again at the same moment, a herd that showed in the p99.
//!
//! A generation counter closes the race between a reader and a writer: a reader notes
//! the generation before it queries and caches its rows only if no write finished since —
//! otherwise a row read just before a commit could be cached after the clear, and stay
//! stale. Between a commit and the clear after it a cached row is older than the
//! database; readers that compute a write from what they read (a revision from the
//! project's content, say) therefore read past the cache.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

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

/// Entries of the read cache before it is emptied (a crude bound on memory).
const MAX_READS: usize = 10_000;

type Rows = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub(crate) struct ReadCache {
    inner: Mutex<(u64, HashMap<String, Rows>)>,
}

impl ReadCache {
    pub fn generation(&self) -> u64 {
        self.inner.lock().0
    }

    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<Vec<T>> {
        let rows = self.inner.lock().1.get(key).cloned()?;
        rows.downcast_ref::<Vec<T>>().cloned()
    }

    /// Called before a statement that may write is sent; when the guard drops (the write
    /// answered, failed or was cancelled) the cache is cleared: all of it, or the reads
    /// of the tables the write names.
    pub fn begin_write(&self, writes: Writes) -> WriteInFlight<'_> {
        WriteInFlight(self, writes)
    }

    /// Caches rows read at generation `seen`, unless a write has finished since.
    pub fn put<T: Send + Sync + 'static>(&self, seen: u64, key: String, rows: Vec<T>) {
        let mut guard = self.inner.lock();
        let (generation, map) = &mut *guard;
        if *generation != seen {
            return;
        }
        if map.len() >= MAX_READS {
            map.clear();
        }
        map.insert(key, Arc::new(rows));
    }

    /// Bumping the generation keeps any read begun before the write from being cached
    /// after it, whatever it read: reads only lose a chance to be cached, never freshness.
    fn invalidate(&self, writes: Writes) {
        let mut guard = self.inner.lock();
        guard.0 += 1;
        match writes {
            Writes::Any => guard.1.clear(),
            Writes::Tables(tables) => guard
                .1
                .retain(|key, _| !names_any(key_statement(key), tables)),
        }
    }
}

/// What a write may have changed, as far as the read cache is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Writes {
    /// Anything: the whole cache goes.
    Any,
    /// Only rows of these tables (the statement's author vouches for it): cached reads
    /// whose statement names one of them go.
    Tables(&'static [&'static str]),
}

/// A write in flight; see [`ReadCache::begin_write`].
pub(crate) struct WriteInFlight<'a>(&'a ReadCache, Writes);

impl Drop for WriteInFlight<'_> {
    fn drop(&mut self) {
        self.0.invalidate(self.1);
    }
}

/// The cache key of a read: its row type, statement and variables, `\0`-separated.
pub(crate) fn read_key(type_name: &str, sql: &str, vars: &serde_json::Value) -> String {
    format!("{type_name}\u{0}{sql}\u{0}{vars}")
}

fn key_statement(key: &str) -> &str {
    key.split('\u{0}').nth(1).unwrap_or(key)
}

/// Whether a statement names one of `tables` as a word (so `share_link` does not match
/// `share_link_x`).
fn names_any(sql: &str, tables: &[&str]) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| tables.contains(&w))
}

/// Whether a SurrealQL text may change data: it names a writing statement. Errs on the
/// side of yes (a field or string that spells one only costs a cache clear).
pub(crate) fn may_write(sql: &str) -> bool {
    const WRITES: [&str; 11] = [
        "CREATE", "UPDATE", "UPSERT", "DELETE", "INSERT", "RELATE", "DEFINE", "REMOVE", "ALTER",
        "REBUILD", "ACCESS",
    ];
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| WRITES.iter().any(|k| w.eq_ignore_ascii_case(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_statements_are_recognised() {
        assert!(may_write(
            "UPDATE share_link SET paused = true WHERE uid = $u"
        ));
        assert!(may_write(
            "BEGIN; delete share_session WHERE link_uid = $l; COMMIT"
        ));
        assert!(may_write("INSERT INTO audit_event $rows"));
        assert!(!may_write("SELECT * FROM share_link WHERE uid = $u"));
        // Field names that contain a keyword are not statements.
        assert!(!may_write(
            "SELECT updated_ms, created_by FROM report WHERE uid = $u"
        ));
    }

    #[test]
    fn reads_cached_before_a_write_are_dropped_and_never_stored_after_it() {
        let c = ReadCache::default();
        let seen = c.generation();
        c.put(seen, "k".into(), vec![1u32]);
        assert_eq!(c.get::<u32>("k"), Some(vec![1]));
        // A wrong type is a miss, not a panic.
        assert_eq!(c.get::<String>("k"), None);
        drop(c.begin_write(Writes::Any));
        assert_eq!(c.get::<u32>("k"), None);
        // A read that began before the write may not be cached after it.
        c.put(seen, "k".into(), vec![1u32]);
        assert_eq!(c.get::<u32>("k"), None);
    }

    #[test]
    fn a_cancelled_write_still_clears_the_cache() {
        let c = ReadCache::default();
        let seen = c.generation();
        c.put(seen, "k".into(), vec![1u32]);
        let write = c.begin_write(Writes::Any);
        drop(write);
        assert_eq!(c.get::<u32>("k"), None);
    }

    #[test]
    fn a_write_to_some_tables_drops_only_the_reads_that_name_them() {
        let c = ReadCache::default();
        let vars = serde_json::json!({ "u": "a" });
        let link = read_key("L", "SELECT * FROM share_link WHERE uid = $u", &vars);
        let recipient = read_key("R", "SELECT * FROM share_recipient WHERE uid = $u", &vars);
        let dataset = read_key("D", "SELECT * FROM dataset WHERE uid = $u", &vars);
        // A table whose name only starts like a counted one is another table.
        let lookalike = read_key("X", "SELECT * FROM share_link_x WHERE uid = $u", &vars);
        let seen = c.generation();
        for key in [&link, &recipient, &dataset, &lookalike] {
            c.put(seen, key.clone(), vec![1u32]);
        }
        let in_flight = c.generation();
        drop(c.begin_write(Writes::Tables(&["share_link", "share_recipient"])));
        assert_eq!(c.get::<u32>(&link), None);
        assert_eq!(c.get::<u32>(&recipient), None);
        assert_eq!(c.get::<u32>(&dataset), Some(vec![1]));
        assert_eq!(c.get::<u32>(&lookalike), Some(vec![1]));
        // A link read begun before the counters were written is not cached after them.
        c.put(in_flight, link.clone(), vec![2u32]);
        assert_eq!(c.get::<u32>(&link), None);
    }

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
            template: false,
            template_origin: None,
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
    use crate::ProjectRecord;

    #[tokio::test]
    async fn reads_after_writes_see_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
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
            template: false,
            template_origin: None,
        };
        let new = crate::NewProject {
            project: p,
            policies: Vec::new(),
            audit: crate::testing::event(vitrine_core::AuditAction::ProjectCreate, "project:p1"),
            access_filters: Vec::new(),
            settings: Vec::new(),
        };
        store.insert_project(&new).await.unwrap();
        assert_eq!(
            store.project_by_slug("one").await.unwrap().unwrap().0.name,
            "One"
        );
        store
            .rename_project(&vitrine_core::ProjectId::from("p1"), "Uno")
            .await
            .unwrap();
        assert_eq!(
            store
                .project(&vitrine_core::ProjectId::from("p1"))
                .await
                .unwrap()
                .unwrap()
                .name,
            "Uno"
        );
        assert_eq!(
            store.project_by_slug("one").await.unwrap().unwrap().0.name,
            "Uno"
        );
        store
            .change_slug(&vitrine_core::ProjectId::from("p1"), "one", "uno")
            .await
            .unwrap();
        let (found, redirected) = store.project_by_slug("one").await.unwrap().unwrap();
        assert_eq!((found.slug.as_str(), redirected), ("uno", true));
        store
            .delete_project(&vitrine_core::ProjectId::from("p1"))
            .await
            .unwrap();
        assert!(
            store
                .project(&vitrine_core::ProjectId::from("p1"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.project_by_slug("uno").await.unwrap().is_none());
    }
}
