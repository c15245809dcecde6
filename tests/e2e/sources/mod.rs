//! Database sources (issue 24) read from a real PostgreSQL the test starts: every
//! supported type arrives in its Arrow form, bad settings and queries fail with their
//! own codes and without the password, and row and time limits stop a read and cancel
//! its query on the server.

mod app_wide;
mod connections;
mod reads;

use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use vitrine_sources::postgres::PostgresSpec;
use vitrine_sources::{ConnectionSpec, ReadLimits, ReadTarget, Secret, SourceError, TlsMode};

use crate::servers::{Postgres, start_postgres};

/// A server with a `shop` database and a read-only `reader` role (password `reader-pw`)
/// that may select from it.
pub struct World {
    pub pg: Postgres,
}

impl World {
    pub async fn start() -> World {
        let pg = start_postgres().await;
        let world = World { pg };
        world.sql("postgres", "CREATE DATABASE shop").await;
        world
            .sql(
                "shop",
                "CREATE ROLE reader LOGIN PASSWORD 'reader-pw';
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO reader;",
            )
            .await;
        world
    }

    /// Runs `sql` as the superuser in `database`.
    pub async fn sql(&self, database: &str, sql: &str) {
        let client = self.pg.admin(database).await;
        client.batch_execute(sql).await.expect(sql);
    }

    /// The connection of `user` with `password` to `database`.
    pub fn spec(&self, database: &str, user: &str, password: &str) -> ConnectionSpec {
        ConnectionSpec::Postgres(PostgresSpec {
            host: "127.0.0.1".into(),
            port: self.pg.port,
            database: database.into(),
            user: user.into(),
            password: Secret::new(password),
            tls: TlsMode::Disable,
        })
    }

    pub fn reader(&self) -> ConnectionSpec {
        self.spec("shop", "reader", "reader-pw")
    }
}

/// Reads all of `target`: its schema and batches, or the first error.
pub async fn read_all(
    spec: &ConnectionSpec,
    target: ReadTarget,
    limits: ReadLimits,
) -> Result<(SchemaRef, Vec<RecordBatch>), SourceError> {
    let stream = spec.read(&target, limits).await?;
    let batches: Vec<RecordBatch> = stream.batches.try_collect().await?;
    Ok((stream.schema, batches))
}

pub fn query(sql: &str) -> ReadTarget {
    ReadTarget::Query(sql.into())
}

pub fn limits(max_rows: u64, timeout: Duration) -> ReadLimits {
    ReadLimits {
        max_rows,
        timeout,
        ..ReadLimits::default()
    }
}
