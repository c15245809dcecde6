use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use surrealdb::Surreal;
use surrealdb::engine::any::Any;

use crate::cache::Writes;
use crate::{ArtifactConfig, ArtifactStore, DatabaseConfig, StorageError, StorageResult};

/// The handle every repository method hangs off: one SurrealDB connection and the
/// artifact store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Shared, never cloned: cloning a `Surreal` handle opens a new session on the engine
    /// (three concurrent maps, queued through one task), so a clone per request piled up
    /// sessions faster than the engine retired them and memory grew under load.
    pub(crate) db: Arc<Surreal<Any>>,
    artifacts: ArtifactStore,
    embedded: bool,
    /// Present only when the database is exclusive to this process.
    pub(crate) projects: Option<Arc<crate::cache::ProjectCache>>,
    /// Present only when the database is exclusive to this process.
    reads: Option<Arc<crate::cache::ReadCache>>,
}

impl Store {
    /// Opens the database at `url` (Vitrine's default namespace and database, no
    /// sign-in) and the artifact store `artifacts` describes; see [`Store::connect`].
    pub async fn open(url: &str, artifacts: &ArtifactConfig) -> StorageResult<Store> {
        Store::connect(&DatabaseConfig::at(url), artifacts).await
    }

    /// Opens the database `database` describes and the artifact store, then applies
    /// pending migrations (once, however many nodes start together).
    pub async fn connect(
        database: &DatabaseConfig,
        artifacts: &ArtifactConfig,
    ) -> StorageResult<Store> {
        let db = database.connect().await?;
        let embedded = database.is_embedded();
        let store = Store {
            embedded,
            projects: embedded.then(Default::default),
            reads: embedded.then(Default::default),
            db: Arc::new(db),
            artifacts: ArtifactStore::open(artifacts)?,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// True for the embedded database, which one process holds locked: in-process caches
    /// of its rows are then never stale, because every write goes through this process.
    pub fn is_exclusive(&self) -> bool {
        self.embedded
    }

    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// A cheap round trip used by `/readyz`.
    pub async fn ping(&self) -> StorageResult<()> {
        self.db.query("RETURN 1").await?.check()?;
        self.artifacts.ping().await
    }

    /// Runs a query; when any statement failed, reports the most telling error. In a
    /// failed transaction every statement errs, most with a generic "not executed" note,
    /// so a uniqueness conflict is looked for among all of them.
    async fn run(&self, sql: &str, vars: Value) -> StorageResult<surrealdb::IndexedResults> {
        let writes = crate::cache::may_write(sql).then_some(Writes::Any);
        self.run_with(sql, vars, writes).await
    }

    /// [`Store::run`], clearing what `writes` says of the read cache around it (nothing
    /// when `None`: the statement changes nothing a cached read may have returned).
    pub(crate) async fn run_with(
        &self,
        sql: &str,
        vars: Value,
        writes: Option<Writes>,
    ) -> StorageResult<surrealdb::IndexedResults> {
        let _in_flight = self
            .reads
            .as_ref()
            .zip(writes)
            .map(|(reads, writes)| reads.begin_write(writes));
        // The guard above is dropped (clearing the cache again) once the retries answer.
        crate::error::retrying(|| self.run_once(sql, vars.clone())).await
    }

    async fn run_once(&self, sql: &str, vars: Value) -> StorageResult<surrealdb::IndexedResults> {
        let started = std::time::Instant::now();
        let response = self.db.query(sql).bind(vars).await?;
        // Off unless asked for (`VITRINE_LOG=vitrine_storage::query=debug`): the cost and
        // count of each statement is what tells where a request's time goes.
        tracing::debug!(
            target: "vitrine_storage::query",
            us = started.elapsed().as_micros() as u64,
            sql = sql.split_whitespace().collect::<Vec<_>>().join(" "),
            "query"
        );
        checked(response)
    }

    /// Begins an interactive transaction on its own session (a handle's clone: the
    /// transaction belongs to the handle that opened it), clearing the read cache once
    /// the returned guard drops, after the transaction has ended.
    pub(crate) async fn begin(
        &self,
    ) -> StorageResult<(
        surrealdb::method::Transaction<Any>,
        Option<crate::cache::WriteInFlight<'_>>,
    )> {
        let in_flight = self.reads.as_ref().map(|r| r.begin_write(Writes::Any));
        let tx = (*self.db).clone().begin().await?;
        Ok((tx, in_flight))
    }

    /// Runs one statement and decodes its rows.
    pub(crate) async fn rows<T: DeserializeOwned>(
        &self,
        sql: &str,
        vars: Value,
    ) -> StorageResult<Vec<T>> {
        let mut response = self.run(sql, vars).await?;
        decode(&mut response, 0)
    }

    /// [`rows`](Self::rows) through the read cache, for reads every shared view repeats.
    /// Without an exclusive database it is a plain read.
    pub(crate) async fn cached_rows<T: DeserializeOwned + Clone + Send + Sync + 'static>(
        &self,
        sql: &str,
        vars: Value,
    ) -> StorageResult<Vec<T>> {
        let Some(reads) = &self.reads else {
            return self.rows(sql, vars).await;
        };
        let key = crate::cache::read_key(std::any::type_name::<T>(), sql, &vars);
        if let Some(rows) = reads.get::<T>(&key) {
            return Ok(rows);
        }
        let seen = reads.generation();
        let rows: Vec<T> = self.rows(sql, vars).await?;
        reads.put(seen, key, rows.clone());
        Ok(rows)
    }

    pub(crate) async fn cached_first<T: DeserializeOwned + Clone + Send + Sync + 'static>(
        &self,
        sql: &str,
        vars: Value,
    ) -> StorageResult<Option<T>> {
        Ok(self.cached_rows(sql, vars).await?.into_iter().next())
    }

    pub(crate) async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        vars: Value,
    ) -> StorageResult<Option<T>> {
        Ok(self.rows(sql, vars).await?.into_iter().next())
    }

    /// Runs statements for their effect; a multi-statement script wrapped in
    /// BEGIN/COMMIT is applied all-or-nothing.
    pub(crate) async fn exec(&self, sql: &str, vars: Value) -> StorageResult<()> {
        self.run(sql, vars).await.map(drop)
    }

    /// Appends to the audit log, which only ever grows and is never read through the
    /// read cache: the cache stays as it is. (Clearing it for the batch of a second's
    /// shared views made every view in flight read the database again at once, a burst
    /// that showed in the views' p99.)
    pub(crate) async fn append_to_audit_log(&self, sql: &str, vars: Value) -> StorageResult<()> {
        debug_assert!(sql.contains("audit_event") && !sql.contains(';'));
        self.run_with(sql, vars, None).await.map(drop)
    }

    /// Runs statements that write only to `tables` (the caller vouches for it), clearing
    /// from the read cache only the reads of those tables.
    pub(crate) async fn exec_touching(
        &self,
        sql: &str,
        vars: Value,
        tables: &'static [&'static str],
    ) -> StorageResult<()> {
        self.run_with(sql, vars, Some(Writes::Tables(tables)))
            .await
            .map(drop)
    }

    /// [`rows`](Self::rows) of a statement that writes only to `tables` (the caller
    /// vouches for it), clearing from the read cache only the reads of those tables.
    pub(crate) async fn rows_touching<T: DeserializeOwned>(
        &self,
        sql: &str,
        vars: Value,
        tables: &'static [&'static str],
    ) -> StorageResult<Vec<T>> {
        let mut response = self
            .run_with(sql, vars, Some(Writes::Tables(tables)))
            .await?;
        decode(&mut response, 0)
    }

    /// Runs a statement and returns how many rows it produced (e.g. changed rows).
    pub(crate) async fn count(&self, sql: &str, vars: Value) -> StorageResult<usize> {
        let rows: Vec<Value> = self.rows(sql, vars).await?;
        Ok(rows.len())
    }
}

/// The rows of statement `index` of a response, decoded.
pub(crate) fn decode<T: DeserializeOwned>(
    response: &mut surrealdb::IndexedResults,
    index: usize,
) -> StorageResult<Vec<T>> {
    let raw: Vec<Value> = response.take(index)?;
    raw.into_iter()
        .map(|v| serde_json::from_value(v).map_err(StorageError::from))
        .collect()
}

/// A response as a result: when any statement failed, the most telling error. In a
/// failed transaction every statement errs, most with a generic "not executed" note, so
/// a uniqueness conflict is looked for among all of them.
pub(crate) fn checked(
    mut response: surrealdb::IndexedResults,
) -> StorageResult<surrealdb::IndexedResults> {
    let errors = response.take_errors();
    if errors.is_empty() {
        return Ok(response);
    }
    let mut errors: Vec<(usize, surrealdb::Error)> = errors.into_iter().collect();
    errors.sort_by_key(|(i, _)| *i);
    let mapped: Vec<StorageError> = errors
        .into_iter()
        .map(|(_, e)| StorageError::from(e))
        .collect();
    let conflict = mapped.iter().position(|e| {
        matches!(
            e,
            StorageError::Conflict(_) | StorageError::Stale(_) | StorageError::NotFound(_)
        ) || e.is_retryable()
    });
    let telling = mapped
        .iter()
        .position(|e| !e.to_string().contains("failed transaction"));
    let pick = conflict.or(telling).unwrap_or(0);
    Err(mapped.into_iter().nth(pick).expect("at least one error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 0010 gives outsiders' links made before it their creator's values as
    /// they are then, leaves members' links and links that have values alone, and a link
    /// whose creator is gone gets none.
    #[tokio::test]
    async fn links_made_before_0010_keep_their_creators_values_of_that_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        let script = crate::migrations::MIGRATIONS
            .iter()
            .find(|(v, _)| *v == 10)
            .unwrap()
            .1;
        store
            .db
            .query(
                "CREATE user CONTENT { uid: 'mona', username: 'mona', attributes: { region: ['West'] } };
                 CREATE share_link CONTENT { uid: 'old', kind: 'public', created_by: 'mona' };
                 CREATE share_link CONTENT { uid: 'mine', kind: 'private', created_by: 'mona' };
                 CREATE share_link CONTENT { uid: 'set', kind: 'recipients', created_by: 'mona', attributes: { region: ['East'] } };
                 CREATE share_link CONTENT { uid: 'orphan', kind: 'public', created_by: 'gone' };",
            )
            .await
            .unwrap()
            .check()
            .unwrap();
        store.db.query(script).await.unwrap().check().unwrap();
        let attributes = |uid: &'static str| {
            let store = store.clone();
            async move {
                let rows: Vec<Value> = store
                    .rows(
                        "SELECT VALUE attributes FROM share_link WHERE uid = $u",
                        serde_json::json!({ "u": uid }),
                    )
                    .await
                    .unwrap();
                rows.into_iter().next().unwrap_or_default()
            }
        };
        assert_eq!(
            attributes("old").await,
            serde_json::json!({"region": ["West"]})
        );
        assert_eq!(attributes("mine").await, Value::Null);
        assert_eq!(
            attributes("set").await,
            serde_json::json!({"region": ["East"]})
        );
        assert_eq!(attributes("orphan").await, serde_json::json!({}));
    }

    /// Appending to the audit log keeps what was read; a write to a read table drops it.
    #[tokio::test]
    async fn audit_appends_keep_the_read_cache_and_other_writes_clear_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
        let generation = || store.reads.as_ref().unwrap().generation();
        let before = generation();
        let event = || crate::testing::event(vitrine_core::AuditAction::ShareView, "x");
        store.append_audit(event()).await.unwrap();
        store
            .append_audit_batch(vec![event(), event()])
            .await
            .unwrap();
        assert_eq!(
            generation(),
            before,
            "an audit append cleared the read cache"
        );
        let page = crate::PageRequest {
            after: None,
            first: 10,
        };
        let filter = crate::AuditFilter::default();
        assert_eq!(store.audit_page(&filter, &page).await.unwrap().len(), 3);
        store
            .exec("UPDATE folder SET name = 'renamed'", serde_json::json!({}))
            .await
            .unwrap();
        assert!(
            generation() > before,
            "a write to a read table kept the cache"
        );
    }

    /// The access counters written once a second under view load drop only the cached
    /// reads of links and recipients: the views' other reads stay cached, and a link read
    /// afterwards shows the new count.
    #[tokio::test]
    async fn access_counters_keep_other_cached_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_folder(dir.path()).await;
        let link = crate::ShareLinkRecord {
            uid: "l1".into(),
            project_uid: "p1".into(),
            kind: vitrine_core::LinkKind::Public,
            report_uid: None,
            tab: None,
            label: "board".into(),
            rights: Default::default(),
            expires_ms: None,
            token_hash: Some("h".into()),
            created_by: "u".into(),
            created_ms: 0,
            updated_ms: 0,
            paused: false,
            revoked_ms: None,
            locked_ms: None,
            failures: 0,
            last_access_ms: None,
            access_count: 0,
            warnings: Vec::new(),
            pinned: None,
            attributes: None,
            projects: Vec::new(),
            folder: None,
            content: None,
        };
        store.insert_share_link(&link, &[]).await.unwrap();
        store.put_setting("probe", &1u32).await.unwrap();
        assert_eq!(store.setting::<u32>("probe").await.unwrap(), Some(1));
        assert_eq!(
            store
                .share_link(&vitrine_core::LinkId::from("l1"))
                .await
                .unwrap()
                .unwrap()
                .access_count,
            0
        );
        let reads = store.reads.as_ref().unwrap();
        let cached = |sql: &str, vars: Value| {
            let key = crate::cache::read_key(std::any::type_name::<Value>(), sql, &vars);
            reads.get::<Value>(&key).is_some()
        };
        let setting = || {
            cached(
                "SELECT data FROM setting WHERE name = $k",
                serde_json::json!({ "k": "probe" }),
            )
        };
        assert!(setting(), "the setting read was not cached");
        store
            .add_share_accesses(&[("l1".into(), 3, 42)], &[])
            .await
            .unwrap();
        assert!(setting(), "counting link accesses dropped a settings read");
        let after = store
            .share_link(&vitrine_core::LinkId::from("l1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((after.access_count, after.last_access_ms), (3, Some(42)));
        // Another node flushing an older second adds its views but keeps the later time.
        store
            .add_share_accesses(&[("l1".into(), 2, 41)], &[])
            .await
            .unwrap();
        let after = store
            .share_link(&vitrine_core::LinkId::from("l1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((after.access_count, after.last_access_ms), (5, Some(42)));
    }

    /// Migration 8 renames tasks an earlier version let share a name (the oldest keeps
    /// it), then makes names unique.
    #[tokio::test]
    async fn duplicate_task_names_are_renamed_then_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        store
            .exec(
                "REMOVE INDEX task_name ON task; DELETE migration WHERE version = 8;",
                serde_json::json!({}),
            )
            .await
            .unwrap();
        for uid in ["0002", "0001", "0003"] {
            store
                .exec(
                    "CREATE task CONTENT { uid: $u, name: 'nightly' }",
                    serde_json::json!({ "u": uid }),
                )
                .await
                .unwrap();
        }
        store.migrate().await.unwrap();
        let names: Vec<Value> = store
            .rows(
                "SELECT uid, name FROM task ORDER BY uid",
                serde_json::json!({}),
            )
            .await
            .unwrap();
        let names: Vec<&str> = names.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["nightly", "nightly (0002)", "nightly (0003)"]);
        let again = store
            .exec(
                "CREATE task CONTENT { uid: '0004', name: 'nightly' }",
                serde_json::json!({}),
            )
            .await;
        assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    }

    /// A shared database: runs of a process that stopped beating (and runs that name no
    /// process) are interrupted; runs of a live one are left to it.
    #[tokio::test]
    async fn only_runs_of_silent_processes_are_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path()).await;
        let run = |uid: &str, node: Option<&str>| crate::RunRecord {
            uid: uid.to_owned().into(),
            project_uid: "p".to_owned().into(),
            status: vitrine_core::RunStatus::Running,
            requested_by: None,
            from_block: None,
            started_ms: 1,
            finished_ms: None,
            blocks: serde_json::json!([]),
            node: node.map(str::to_owned),
        };
        for (uid, node) in [("r1", Some("alive")), ("r2", Some("gone")), ("r3", None)] {
            store.insert_run(&run(uid, node)).await.unwrap();
        }
        store.node_beat("gone", 1_000).await.unwrap();
        store.node_beat("alive", 1_000).await.unwrap();
        store.node_beat("alive", 50_000).await.unwrap();
        let n = store
            .interrupt_runs_of_dead_nodes(60_000, 30_000)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let status = |uid: &'static str| {
            let store = store.clone();
            async move {
                store
                    .workflow_run(&uid.to_owned().into())
                    .await
                    .unwrap()
                    .unwrap()
                    .status
            }
        };
        assert_eq!(status("r1").await, vitrine_core::RunStatus::Running);
        assert_eq!(status("r2").await, vitrine_core::RunStatus::Interrupted);
        assert_eq!(status("r3").await, vitrine_core::RunStatus::Interrupted);
    }
}
