//! Schema migrations, applied in order at open. Several nodes starting together against
//! one SurrealDB server take a lease first, so each migration runs once: the others wait
//! for the lease and then find everything applied. A node that dies holding the lease
//! leaves it to expire; the next node takes it over.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{StorageError, StorageResult, Store, now_ms};

/// Ordered migrations, embedded at build time from schema/surql.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../schema/surql/0001_init.surql")),
    (2, include_str!("../../schema/surql/0002_data.surql")),
    (3, include_str!("../../schema/surql/0003_plugins.surql")),
    (4, include_str!("../../schema/surql/0004_sharing.surql")),
    (5, include_str!("../../schema/surql/0005_revisions.surql")),
    (
        6,
        include_str!("../../schema/surql/0006_working_copies.surql"),
    ),
    (7, include_str!("../../schema/surql/0007_tasks.surql")),
    (8, include_str!("../../schema/surql/0008_task_names.surql")),
    (9, include_str!("../../schema/surql/0009_oidc.surql")),
    (
        10,
        include_str!("../../schema/surql/0010_link_audience.surql"),
    ),
    (
        11,
        include_str!("../../schema/surql/0011_user_invitations.surql"),
    ),
    (
        12,
        include_str!("../../schema/surql/0012_recipient_deliveries.surql"),
    ),
    (13, include_str!("../../schema/surql/0013_nodes.surql")),
    (
        14,
        include_str!("../../schema/surql/0014_connections.surql"),
    ),
    (
        15,
        include_str!("../../schema/surql/0015_task_run_open.surql"),
    ),
];

/// How long a lease lasts without being given back (a node killed mid-migration).
const LEASE: Duration = Duration::from_secs(120);
/// How often a waiting node looks again.
const POLL: Duration = Duration::from_millis(200);

impl Store {
    /// Applies the migrations this database lacks; one node at a time.
    pub(crate) async fn migrate(&self) -> StorageResult<()> {
        if self.pending_migrations().await?.is_empty() {
            return Ok(());
        }
        // The embedded database is this process's alone: nobody to wait for.
        let lease = if self.is_exclusive() {
            None
        } else {
            Some(self.take_migration_lease().await?)
        };
        let applied = self.apply_pending().await;
        if let Some(holder) = lease {
            // Given back whether or not the migrations worked, so the next node (or the
            // next start) tries again at once rather than after the lease runs out.
            let _ = self
                .exec(
                    "DELETE migration_lease:main WHERE holder = $h",
                    json!({"h": holder}),
                )
                .await;
        }
        applied
    }

    async fn pending_migrations(&self) -> StorageResult<Vec<u32>> {
        let rows: Vec<Value> = self
            .rows("SELECT VALUE version FROM migration", json!({}))
            .await
            .or_else(|e| match e {
                // A fresh database: no migration table yet.
                StorageError::Database(t) if t.contains("does not exist") => Ok(Vec::new()),
                e => Err(e),
            })?;
        let done: Vec<u64> = rows.iter().filter_map(Value::as_u64).collect();
        Ok(MIGRATIONS
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !done.contains(&u64::from(*v)))
            .collect())
    }

    async fn apply_pending(&self) -> StorageResult<()> {
        // Read again under the lease: another node may have applied them meanwhile.
        let pending = self.pending_migrations().await?;
        for (version, script) in MIGRATIONS.iter().filter(|(v, _)| pending.contains(v)) {
            self.db.query(*script).await?.check()?;
            self.exec(
                "CREATE migration CONTENT { version: $v, applied_ms: $at }",
                json!({"v": version, "at": now_ms()}),
            )
            .await?;
            tracing::info!(version, "applied migration");
        }
        Ok(())
    }

    /// Waits for the migration lease and returns this holder's name.
    async fn take_migration_lease(&self) -> StorageResult<String> {
        let holder = crate::new_uid();
        // SurrealDB refuses to delete from a table that was never defined.
        self.exec(
            "DEFINE TABLE IF NOT EXISTS migration_lease SCHEMALESS",
            json!({}),
        )
        .await?;
        let mut waited = false;
        loop {
            let now = now_ms();
            // A lease past its time is released first: its holder is gone.
            self.exec(
                "DELETE migration_lease:main WHERE expires_ms < $now",
                json!({"now": now}),
            )
            .await?;
            let taken = self
                .exec(
                    "CREATE migration_lease:main CONTENT { holder: $h, expires_ms: $exp }",
                    json!({"h": holder, "exp": now + LEASE.as_millis() as i64}),
                )
                .await;
            match taken {
                Ok(()) => return Ok(holder),
                Err(e) if is_taken(&e) => {
                    if !waited {
                        tracing::info!("another node is migrating the database; waiting");
                        waited = true;
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The lease record exists: someone else holds it.
fn is_taken(e: &StorageError) -> bool {
    match e {
        StorageError::Conflict(_) => true,
        StorageError::Database(t) => t.contains("already exists"),
        _ => false,
    }
}
