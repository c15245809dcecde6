//! PostgreSQL: a read runs in a read-only transaction with a statement timeout, as
//! `COPY (query) TO STDOUT (FORMAT binary)`; the binary rows are decoded straight into
//! Arrow builders ([`types`]) as they stream ([`copy`]). The query is prepared first, so
//! its columns — and a type with no Arrow form — are known before a row is sent.

mod copy;
mod tls;
mod types;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;
use tokio_postgres::{CancelToken, Client, CopyOutStream, SimpleQueryMessage};

use crate::{
    BatchStream, ReadLimits, ReadTarget, Secret, ServerInfo, SourceError, SourceResult, TlsMode,
};
use copy::CopyParser;
use types::Column;

/// How long connecting and signing in may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL connection's settings.
#[derive(Debug, Clone)]
pub struct PostgresSpec {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Secret,
    pub tls: TlsMode,
}

impl PostgresSpec {
    pub fn check(&self) -> SourceResult<()> {
        let host = self.host.trim();
        if host.is_empty() || host.len() > 255 {
            return Err(SourceError::invalid("host", "must be 1 to 255 characters"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(SourceError::invalid(
                "host",
                "must be a host name or an address, without spaces, `/` or `@`",
            ));
        }
        if self.port == 0 {
            return Err(SourceError::invalid("port", "must be 1 to 65535"));
        }
        // PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1).
        for (field, value) in [("database", &self.database), ("user", &self.user)] {
            if value.is_empty() || value.len() > 63 || value.contains('\0') {
                return Err(SourceError::invalid(field, "must be 1 to 63 bytes"));
            }
        }
        Ok(())
    }

    /// `host:port/database` for messages; never the user's password.
    fn place(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }
}

/// One signed-in session and what cancels its running query.
struct Session {
    client: Client,
    cancel: CancelToken,
    tls: tls::Connector,
}

/// A database's own error as a message: severity, text, SQLSTATE, and its detail and
/// hint when it gives them.
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(d) = db.detail() {
                m.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => e.to_string(),
    }
}

async fn connect(spec: &PostgresSpec) -> SourceResult<Session> {
    spec.check()?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(spec.host.trim())
        .port(spec.port)
        .dbname(&spec.database)
        .user(&spec.user)
        .application_name("vitrine")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .ssl_mode(match spec.tls {
            TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
            TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
    if !spec.password.is_empty() {
        config.password(spec.password.expose());
    }
    let tls = tls::connector(spec.tls)?;
    let place = spec.place();
    let connecting = config.connect(tls.clone());
    let (client, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => {
            return Err(SourceError::Connect(format!(
                "{place}: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(SourceError::Connect(format!("{place}: {}", db_message(&e)))),
        Ok(Ok(pair)) => pair,
    };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    let cancel = client.cancel_token();
    Ok(Session {
        client,
        cancel,
        tls,
    })
}

/// Connects, signs in, and reads the server's version and whether TLS is in use.
pub async fn test(spec: &PostgresSpec) -> SourceResult<ServerInfo> {
    let session = connect(spec).await?;
    let first = |rows: Vec<SimpleQueryMessage>| {
        rows.into_iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
    };
    let version = session
        .client
        .simple_query("SELECT version()")
        .await
        .map_err(|e| SourceError::Query(db_message(&e)))
        .map(first)?
        .unwrap_or_default();
    // pg_stat_ssl shows every session its own row; an older server without it is
    // reported as not encrypted rather than failing the test.
    let tls = session
        .client
        .simple_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .ok()
        .and_then(first)
        .is_some_and(|v| v == "t");
    Ok(ServerInfo { version, tls })
}

/// `"schema"."name"` from `schema.name` or `name`, each part quoted.
fn quote_table(name: &str) -> SourceResult<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 63 || p.contains('\0'))
    {
        return Err(SourceError::invalid(
            "table",
            "must be `name` or `schema.name`, each part 1 to 63 bytes",
        ));
    }
    Ok(parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join("."))
}

fn statement(target: &ReadTarget) -> SourceResult<String> {
    match target {
        ReadTarget::Table(t) => Ok(format!("SELECT * FROM {}", quote_table(t)?)),
        ReadTarget::Query(q) => {
            let q = q
                .trim()
                .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
            if q.is_empty() {
                return Err(SourceError::invalid("query", "is empty"));
            }
            Ok(q.to_owned())
        }
    }
}

/// Starts reading `target`: read-only transaction, statement timeout, prepare (the
/// schema), then binary COPY.
pub async fn read(
    spec: &PostgresSpec,
    target: &ReadTarget,
    limits: ReadLimits,
) -> SourceResult<BatchStream> {
    let sql = statement(target)?;
    let deadline = Instant::now() + limits.timeout;
    let session = connect(spec).await?;
    let timeout_ms = limits.timeout.as_millis().max(1);
    session
        .client
        .batch_execute(&format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout_ms}"
        ))
        .await
        .map_err(|e| SourceError::Query(db_message(&e)))?;
    let prepared = session
        .client
        .prepare(&sql)
        .await
        .map_err(|e| SourceError::Query(db_message(&e)))?;
    if !prepared.params().is_empty() {
        return Err(SourceError::invalid(
            "query",
            "takes no `$1` parameters; use project parameters (`${name}`) instead",
        ));
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for c in prepared.columns() {
        if fields.iter().any(|f: &Field| f.name() == c.name()) {
            return Err(SourceError::invalid(
                "query",
                format!(
                    "two columns are named `{}`; name them apart with AS",
                    c.name()
                ),
            ));
        }
        let (data_type, column) = Column::plan(c.name(), c.type_(), c.type_modifier())?;
        fields.push(Field::new(c.name(), data_type, true));
        columns.push(column);
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    // The newlines keep a trailing `--` comment of the query from swallowing the `)`;
    // the prepare above proved the query one complete statement.
    let copy = session
        .client
        .copy_out(&format!("COPY (\n{sql}\n) TO STDOUT (FORMAT binary)"))
        .await
        .map_err(|e| SourceError::Query(db_message(&e)))?;
    let state = Reading {
        guard: CancelOnDrop(Some((session.cancel.clone(), session.tls.clone()))),
        _client: session.client,
        copy: Box::pin(copy),
        parser: CopyParser::new(columns),
        pending: Bytes::new(),
        schema: schema.clone(),
        limits,
        deadline,
        total: 0,
    };
    Ok(BatchStream {
        schema,
        batches: batches(state),
    })
}

struct Reading {
    guard: CancelOnDrop,
    /// Held so the session stays open while the stream is read.
    _client: Client,
    copy: std::pin::Pin<Box<CopyOutStream>>,
    parser: CopyParser,
    /// What is left of a message after a full batch was taken from it.
    pending: Bytes,
    schema: SchemaRef,
    limits: ReadLimits,
    deadline: Instant,
    total: u64,
}

fn batches(state: Reading) -> BoxStream<'static, SourceResult<RecordBatch>> {
    futures::stream::try_unfold(state, |mut s| async move {
        if s.parser.done && s.parser.rows == 0 {
            s.guard.disarm();
            return Ok(None);
        }
        while !s.parser.done && s.parser.rows < s.limits.batch_rows {
            let chunk = if s.pending.is_empty() {
                match tokio::time::timeout_at(s.deadline, s.copy.next()).await {
                    Err(_) => {
                        return Err(SourceError::Limit(format!(
                            "the read took longer than its limit of {} s and was cancelled",
                            s.limits.timeout.as_secs()
                        )));
                    }
                    Ok(None) => {
                        if !s.parser.done {
                            return Err(SourceError::Query(
                                "the server ended the COPY before its last row".into(),
                            ));
                        }
                        break;
                    }
                    Ok(Some(Err(e))) => return Err(read_error(&e, &s.limits)),
                    Ok(Some(Ok(chunk))) => chunk,
                }
            } else {
                std::mem::take(&mut s.pending)
            };
            s.pending = s.parser.feed(chunk, s.limits.batch_rows)?;
        }
        let rows = s.parser.rows;
        if rows == 0 {
            s.guard.disarm();
            return Ok(None);
        }
        s.total += rows as u64;
        if s.total > s.limits.max_rows {
            return Err(SourceError::Limit(format!(
                "the read passed its limit of {} rows and was cancelled; filter or aggregate in the query",
                s.limits.max_rows
            )));
        }
        s.parser.rows = 0;
        let arrays = s.parser.columns_mut().iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new_with_options(
            s.schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| SourceError::Value(e.to_string()))?;
        Ok(Some((batch, s)))
    })
    .boxed()
}

/// A failure while rows stream: the statement timeout shows as SQLSTATE 57014.
fn read_error(e: &tokio_postgres::Error, limits: &ReadLimits) -> SourceError {
    if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
        return SourceError::Limit(format!(
            "the read took longer than its limit of {} s and was cancelled",
            limits.timeout.as_secs()
        ));
    }
    SourceError::Query(db_message(e))
}

/// Asks the server to cancel the running query when a read is dropped before its end
/// (the block was cancelled, failed, or passed a limit): closing the socket alone leaves
/// a long sort or scan running until it next sends a row.
struct CancelOnDrop(Option<(CancelToken, tls::Connector)>);

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some((token, tls)) = self.0.take() else {
            return;
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = token.cancel_query(tls).await {
                    tracing::debug!(error = %e, "postgres cancel request failed");
                }
            });
        }
    }
}
