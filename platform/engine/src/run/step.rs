//! One step of a run: decide whether a block must run (its incremental key), read its
//! source file or upload, execute it, store its result and publish datasets.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use vitrine_storage::{BlockStateRecord, DatasetRecord, PortStateRecord, new_uid, now_ms};

use super::{ENGINE_KEY_VERSION, RunRequest};
use crate::blocks::{BlockConfig, BlockInput, BlockOutput, encode_file, execute};
use crate::locations::{Access, Location};
use crate::types::describe;
use crate::workflow::Planned;
use crate::{Engine, EngineError, EngineResult};

impl Engine {
    pub(super) async fn run_block(
        &self,
        req: &RunRequest,
        p: &Planned,
        inputs: BTreeMap<String, String>,
        state: Option<BlockStateRecord>,
        force: bool,
    ) -> EngineResult<Done> {
        let id = &p.block.id;
        let in_block = |e: EngineError| match e {
            EngineError::Invalid { field, reason } => EngineError::workflow(id, &field, reason),
            other => other,
        };
        // What the result depends on besides configuration and inputs: the file read,
        // known by its fingerprint, or the upload, known by its content hash.
        let mut source: Option<Source> = None;
        let mut extra = String::new();
        if let Some((loc, path, _)) = p.config.location_file() {
            let l = self.location_for(loc, &req.folders, Access::Read).await?;
            let fp = l.stat(path).await?;
            extra = serde_json::to_string(&fp).expect("fingerprint serializes");
            source = Some(Source::File(Box::new(l), path.to_owned()));
        }
        if let BlockConfig::UploadSource(u) = &p.config {
            let up = self
                .store
                .upload(&vitrine_core::UploadId::from(&u.upload))
                .await?
                .filter(|x| x.project_uid == req.project_uid)
                .ok_or_else(|| {
                    EngineError::workflow(id, "config.upload", "no such upload in this project")
                })?;
            extra = up.content_hash.clone();
            source = Some(Source::Upload(up.content_hash));
        }
        // The instance's own log: its rows are the source, and what it depends on.
        if let BlockConfig::InstanceLog(c) = &p.config {
            let since = now_ms() - i64::from(c.days) * 86_400_000;
            let limit = crate::blocks::instance_log::MAX_ROWS.min(self.limits.block_max_rows);
            let rows = match c.log {
                crate::blocks::instance_log::LogKind::Audit => {
                    self.store.audit_rows_since(since, limit).await?
                }
                crate::blocks::instance_log::LogKind::TaskRuns => {
                    self.store.task_run_rows_since(since, limit).await?
                }
            };
            let bytes = crate::blocks::instance_log::rows(rows);
            extra = hex::encode(Sha256::digest(&bytes));
            source = Some(Source::Bytes(bytes));
        }
        // A database may change at any time: its read is never taken as up to date. What
        // comes after it still is, when the rows read are the same (inputs are keyed by
        // content).
        if matches!(p.config, BlockConfig::DatabaseSource(_)) {
            extra = new_uid();
        }
        // A plugin block's result also depends on the component that computes it.
        if let Some(e) = &p.plugin {
            extra = e.record.content_hash.clone();
        }
        let key = block_key(p, &inputs, &extra);
        if !force
            && let Some(s) = &state
            && s.key == key
            && self.all_exist(s).await?
        {
            self.record_outputs(req, p, s).await?;
            return Ok(Done {
                ports: ports_of(p, s),
                rows: s.rows,
                fresh: false,
                notes: s.notes.clone(),
            });
        }
        let bytes: Option<Bytes> = match &source {
            Some(Source::File(l, path)) => Some(l.read(path, self.limits.max_source_bytes).await?),
            Some(Source::Bytes(b)) => Some(b.clone()),
            Some(Source::Upload(hash)) => Some(
                self.store
                    .artifacts()
                    .get_bytes(vitrine_storage::Artifact::Upload(hash))
                    .await?,
            ),
            None => None,
        };
        let mut tables = BTreeMap::new();
        for (port, hash) in &inputs {
            let t = self.datasets.get(hash).await?;
            tables.insert(
                port.clone(),
                BlockInput {
                    schema: t.schema.clone(),
                    batches: t.batches.clone(),
                },
            );
        }
        let mut outs: Vec<(String, BlockOutput)> = match (&p.config, &p.plugin) {
            (BlockConfig::Plugin(c), Some(e)) => self.run_plugin(e, c, tables).await?,
            (BlockConfig::DatabaseSource(c), _) => {
                vec![("out".to_owned(), self.read_database(req, c).await?)]
            }
            _ => vec![(
                "out".to_owned(),
                execute_apart(p.config.clone(), tables, bytes, &self.limits)
                    .await
                    .map_err(in_block)?,
            )],
        };
        let (_, out) = outs.remove(0);
        if let BlockConfig::WriteFile(w) = &p.config {
            let l = self
                .location_for(&w.location, &req.folders, Access::Write)
                .await?;
            let (format, schema, batches) = (w.format, out.schema.clone(), out.batches.clone());
            let encoded =
                tokio::task::spawn_blocking(move || encode_file(format, &schema, &batches))
                    .await
                    .map_err(|e| EngineError::Internal(format!("encoder task: {e}")))??;
            l.write(&w.path, encoded).await?;
        }
        let (hash, size) = self.datasets.put(&out.schema, &out.batches).await?;
        let mut ports = Vec::with_capacity(outs.len());
        for (port, o) in &outs {
            let (h, n) = self.datasets.put(&o.schema, &o.batches).await?;
            ports.push(PortStateRecord {
                port: port.clone(),
                content_hash: h,
                rows: o.rows() as i64,
                bytes: n as i64,
                schema: serde_json::to_value(describe(&o.schema)).expect("schema serializes"),
            });
        }
        let s = BlockStateRecord {
            project_uid: req.project_uid.clone(),
            block_id: id.clone(),
            key,
            content_hash: hash.clone(),
            rows: out.rows() as i64,
            bytes: size as i64,
            schema: serde_json::to_value(describe(&out.schema)).expect("schema serializes"),
            notes: out.notes.clone(),
            ran_ms: now_ms(),
            duration_ms: 0,
            ports,
        };
        self.store.put_block_state(&s).await?;
        self.record_outputs(req, p, &s).await?;
        Ok(Done {
            ports: ports_of(p, &s),
            rows: s.rows,
            fresh: true,
            notes: out.notes,
        })
    }

    /// Whether every artifact of a stored result is still there.
    async fn all_exist(&self, s: &BlockStateRecord) -> EngineResult<bool> {
        for h in std::iter::once(&s.content_hash).chain(s.ports.iter().map(|p| &p.content_hash)) {
            if !self.datasets.exists(h).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A publish block's result becomes (or stays) the project's dataset of that name.
    async fn record_outputs(
        &self,
        req: &RunRequest,
        p: &Planned,
        s: &BlockStateRecord,
    ) -> EngineResult<()> {
        if let BlockConfig::Publish(c) = &p.config {
            let current = self.store.dataset(&req.project_uid, &c.dataset).await?;
            let connections: Vec<String> = p.connections.iter().cloned().collect();
            if current
                .as_ref()
                .is_some_and(|d| d.content_hash == s.content_hash && d.connections == connections)
            {
                return Ok(());
            }
            self.store
                .put_dataset(&DatasetRecord {
                    uid: new_uid().into(),
                    project_uid: req.project_uid.clone(),
                    name: c.dataset.clone(),
                    block_id: p.block.id.clone(),
                    content_hash: s.content_hash.clone(),
                    schema: s.schema.clone(),
                    rows: s.rows,
                    bytes: s.bytes,
                    published_ms: now_ms(),
                    connections,
                })
                .await?;
        }
        Ok(())
    }

    /// Reads a `database_source` block through the connection it names, if the run's
    /// requester may make that use of it.
    async fn read_database(
        &self,
        req: &RunRequest,
        c: &crate::blocks::database::DatabaseSource,
    ) -> EngineResult<BlockOutput> {
        let connections = self.connections.get().ok_or_else(|| {
            EngineError::Internal("the engine was given no data connections".into())
        })?;
        let spec = connections
            .open(crate::connections::ConnectionUse {
                name: &c.connection,
                run_by: req.requested_by.as_deref(),
                free_sql: c.is_free_sql(),
            })
            .await?;
        crate::blocks::database::read(c, &spec, &self.limits).await
    }

    /// A location by name, if it is granted to the project for `access`.
    pub async fn location_for(
        &self,
        name: &str,
        folders: &[String],
        access: Access,
    ) -> EngineResult<Location> {
        let refused = || {
            EngineError::Path(format!(
                "resource location `{name}` is not granted with {} access to this project's folder (grantResourceLocation)",
                access.as_str().to_uppercase()
            ))
        };
        let record = self
            .store
            .location_by_name(name)
            .await?
            .ok_or_else(refused)?;
        let l = Location::open(record)?;
        if !l.granted(folders, access) {
            return Err(refused());
        }
        Ok(l)
    }
}

/// Where a source block's bytes come from.
enum Source {
    File(Box<Location>, String),
    Upload(String),
    /// Made here (the instance's log).
    Bytes(Bytes),
}

pub(super) struct Done {
    /// Output port → artifact hash, first port first.
    pub ports: Vec<(String, String)>,
    pub rows: i64,
    pub fresh: bool,
    pub notes: Vec<String>,
}

/// A stored result's artifacts by output port.
fn ports_of(p: &Planned, s: &BlockStateRecord) -> Vec<(String, String)> {
    let mut out = vec![(p.outputs[0].clone(), s.content_hash.clone())];
    out.extend(
        s.ports
            .iter()
            .map(|x| (x.port.clone(), x.content_hash.clone())),
    );
    out
}

/// The incremental key: everything a block's result depends on.
fn block_key(p: &Planned, inputs: &BTreeMap<String, String>, extra: &str) -> String {
    let mut h = Sha256::new();
    h.update(ENGINE_KEY_VERSION);
    h.update([0]);
    h.update(&p.block.kind);
    h.update([0]);
    h.update(serde_json::to_vec(&p.resolved).expect("json"));
    for (port, hash) in inputs {
        h.update([0]);
        h.update(port);
        h.update([1]);
        h.update(hash);
    }
    h.update([0]);
    h.update(extra);
    hex::encode(h.finalize())
}

/// Runs a block's query on a task of its own. The run waits on the task's handle, which
/// answers at once when the run is cancelled, however long the query computes between
/// two yields; dropping the handle then aborts the task at the query's next yield (an
/// [`AbortOnDrop`]), so a cancelled cross join stops holding a core. A block past the
/// engine's time limit is stopped the same way.
async fn execute_apart(
    config: BlockConfig,
    tables: BTreeMap<String, BlockInput>,
    bytes: Option<Bytes>,
    limits: &crate::EngineLimits,
) -> EngineResult<BlockOutput> {
    let max_rows = limits.block_max_rows;
    let task = AbortOnDrop(tokio::spawn(async move {
        execute(&config, tables, bytes, max_rows).await
    }));
    match tokio::time::timeout(limits.block_time_limit, task).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => Err(EngineError::Internal(format!("block task: {e}"))),
        Err(_) => Err(EngineError::Query(format!(
            "the block ran past the time limit of {} s and was stopped",
            limits.block_time_limit.as_secs()
        ))),
    }
}

/// Aborts a spawned task when the future waiting on it is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
