//! Running a workflow: blocks in dependency order, independent ones side by side, each
//! re-run only when its configuration or an input changed. A failing block stops only
//! what depends on it; progress goes out as events; a run can be cancelled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use vitrine_core::RunStatus;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use vitrine_storage::{BlockStateRecord, RunRecord, new_uid, now_ms};

use crate::workflow::{Plan, Planned, Workflow, validate};
use crate::{Engine, EngineError, EngineResult};

mod step;

/// Bumped when built-in blocks change what they compute, so every result re-runs.
const ENGINE_KEY_VERSION: &str = "vitrine-engine/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockStatus {
    Pending,
    Running,
    /// Ran and produced a new result.
    Succeeded,
    /// Configuration and inputs unchanged: the previous result stands.
    UpToDate,
    Failed,
    /// An upstream block failed, so this one could not run.
    Blocked,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockResult {
    pub block: String,
    pub status: BlockStatus,
    #[serde(default)]
    pub rows: Option<i64>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub error: Option<BlockError>,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One progress event: a block changed status, or (`block` = None) the run finished.
#[derive(Debug, Clone, Serialize)]
pub struct RunEvent {
    pub run: String,
    pub block: Option<BlockResult>,
    pub run_status: RunStatus,
}

/// A run's end, as announced to [`Engine::finished_runs`] subscribers.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub run_uid: vitrine_core::RunId,
    pub project_uid: vitrine_core::ProjectId,
    pub status: RunStatus,
}

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub project_uid: vitrine_core::ProjectId,
    /// The project's folder, then its ancestors: decides which locations it may use.
    pub folders: Vec<String>,
    pub requested_by: Option<String>,
    pub from_block: Option<String>,
    /// Re-run the selected blocks even when nothing changed.
    pub force: bool,
}

pub(crate) struct ActiveRun {
    pub run_uid: vitrine_core::RunId,
    pub cancel: watch::Sender<bool>,
    pub events: broadcast::Sender<RunEvent>,
}

impl Engine {
    /// Validates and starts a run in the background; returns its record at once. One run
    /// per project at a time.
    pub async fn start_run(self: &Arc<Self>, req: RunRequest) -> EngineResult<RunRecord> {
        let (plan, _) = self.plan(&req.project_uid).await?;
        if let Some(b) = &req.from_block
            && plan.get(b).is_none()
        {
            return Err(EngineError::invalid(
                "fromBlock",
                format!("the workflow has no block `{b}`"),
            ));
        }
        let (cancel, cancel_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let record = RunRecord {
            uid: new_uid().into(),
            project_uid: req.project_uid.clone(),
            status: RunStatus::Running,
            requested_by: req.requested_by.clone().map(Into::into),
            from_block: req.from_block.clone(),
            started_ms: now_ms(),
            finished_ms: None,
            blocks: serde_json::Value::Array(vec![]),
            node: Some(self.node.clone()),
        };
        {
            let mut active = self.active.lock();
            if let Some(a) = active.get(&req.project_uid) {
                return Err(EngineError::Conflict(format!(
                    "run {} of this project is still going; cancel it or wait",
                    a.run_uid
                )));
            }
            active.insert(
                req.project_uid.clone(),
                ActiveRun {
                    run_uid: record.uid.clone(),
                    cancel,
                    events: events.clone(),
                },
            );
        }
        if let Err(e) = self.store.insert_run(&record).await {
            self.active.lock().remove(&req.project_uid);
            return Err(e.into());
        }
        let engine = self.clone();
        let started = record.clone();
        let run_uid = record.uid.clone();
        tokio::spawn(async move {
            let project = req.project_uid.clone();
            let outcome = engine
                .execute_run(started, plan, req, cancel_rx, events)
                .await;
            engine.active.lock().remove(&project);
            let status = match outcome {
                Err(e) => {
                    tracing::error!(project = %project, error = %e, "run bookkeeping failed");
                    RunStatus::Failed
                }
                Ok(()) => match engine.store.workflow_run(&run_uid).await {
                    Ok(Some(r)) => r.status,
                    _ => RunStatus::Failed,
                },
            };
            // Nobody listening is fine.
            let _ = engine.finished.send(FinishedRun {
                run_uid,
                project_uid: project,
                status,
            });
        });
        Ok(record)
    }

    /// Progress of a run still going; `None` once it has finished.
    pub fn subscribe(
        &self,
        run_uid: &vitrine_core::RunId,
    ) -> Option<broadcast::Receiver<RunEvent>> {
        self.active
            .lock()
            .values()
            .find(|a| a.run_uid == *run_uid)
            .map(|a| a.events.subscribe())
    }

    /// Every run's end from now on (the ones of this process).
    pub fn finished_runs(&self) -> broadcast::Receiver<FinishedRun> {
        self.finished.subscribe()
    }

    /// Asks a run to stop; true when it was still going.
    pub fn cancel(&self, run_uid: &vitrine_core::RunId) -> bool {
        self.active
            .lock()
            .values()
            .find(|a| a.run_uid == *run_uid)
            .map(|a| a.cancel.send(true).is_ok())
            .unwrap_or(false)
    }

    /// The run of `project_uid` going on in this process, if any.
    pub fn active_run(&self, project_uid: &vitrine_core::ProjectId) -> Option<vitrine_core::RunId> {
        self.active
            .lock()
            .get(project_uid)
            .map(|a| a.run_uid.clone())
    }

    pub fn is_running(&self, run_uid: &vitrine_core::RunId) -> bool {
        self.active.lock().values().any(|a| a.run_uid == *run_uid)
    }

    /// The project's validated workflow and resolved parameters.
    pub async fn plan(
        &self,
        project_uid: &vitrine_core::ProjectId,
    ) -> EngineResult<(Plan, BTreeMap<String, String>)> {
        let record = self.store.workflow(project_uid).await?;
        let (wf, params) = match record {
            Some(r) => (r.definition, r.parameters),
            None => (Workflow::default(), BTreeMap::new()),
        };
        let params = self.parameters(params).await?;
        let plugins = self.plugin_catalog(&wf, &params).await?;
        Ok((validate(&wf, &params, &plugins)?, params))
    }

    /// Project parameters overlaid with the instance's own values for the same names, so
    /// one project reads test data on staging and production data on production.
    pub async fn parameters(
        &self,
        mut project: BTreeMap<String, String>,
    ) -> EngineResult<BTreeMap<String, String>> {
        let instance: BTreeMap<String, String> = self
            .store
            .setting(INSTANCE_PARAMETERS)
            .await?
            .unwrap_or_default();
        for (k, v) in instance {
            if let Some(slot) = project.get_mut(&k) {
                *slot = v;
            }
        }
        Ok(project)
    }

    async fn execute_run(
        self: &Arc<Self>,
        mut record: RunRecord,
        plan: Plan,
        req: RunRequest,
        mut cancel: watch::Receiver<bool>,
        events: broadcast::Sender<RunEvent>,
    ) -> EngineResult<()> {
        let started = Instant::now();
        let states: HashMap<String, BlockStateRecord> = self
            .store
            .block_states(&req.project_uid)
            .await?
            .into_iter()
            .map(|s| (s.block_id.clone(), s))
            .collect();
        // Which blocks take part: the chosen block, what reads from it, and what those
        // read from (reused when unchanged). Without a choice, everything.
        let (selected, forced): (HashSet<String>, HashSet<String>) = match &req.from_block {
            Some(b) => {
                let down = plan.descendants(b);
                let mut all = HashSet::new();
                for d in &down {
                    all.extend(plan.ancestors(d));
                }
                (all, if req.force { down } else { HashSet::new() })
            }
            None => {
                let all: HashSet<String> = plan.blocks.iter().map(|p| p.block.id.clone()).collect();
                let forced = if req.force {
                    all.clone()
                } else {
                    HashSet::new()
                };
                (all, forced)
            }
        };
        let mut results: BTreeMap<String, BlockResult> = BTreeMap::new();
        let mut outputs: HashMap<String, String> = HashMap::new();
        let mut written: Vec<String> = Vec::new();
        let order: Vec<&Planned> = plan
            .blocks
            .iter()
            .filter(|p| selected.contains(&p.block.id))
            .collect();
        for p in &order {
            results.insert(p.block.id.clone(), pending(&p.block.id));
        }
        let mut cancelled = false;
        let mut remaining: Vec<&Planned> = order.clone();
        while !remaining.is_empty() {
            // Every block whose inputs are all settled runs in this wave.
            let (ready, wait): (Vec<&Planned>, Vec<&Planned>) =
                remaining.into_iter().partition(|p| {
                    p.inputs.values().all(|r| {
                        !matches!(
                            results.get(&r.block).map(|x| x.status),
                            Some(BlockStatus::Pending)
                        )
                    })
                });
            remaining = wait;
            if ready.is_empty() {
                return Err(EngineError::Internal("run made no progress".into()));
            }
            let mut wave = Vec::new();
            for p in ready {
                let blocked = p.inputs.values().any(|r| {
                    !matches!(
                        results.get(&r.block).map(|x| x.status),
                        Some(BlockStatus::Succeeded | BlockStatus::UpToDate)
                    )
                });
                if cancelled || *cancel.borrow() {
                    cancelled = true;
                    let r = settle(&p.block.id, BlockStatus::Cancelled, None, None);
                    self.emit(&events, &record, r.clone(), RunStatus::Running);
                    results.insert(p.block.id.clone(), r);
                    continue;
                }
                if blocked {
                    let r = settle(&p.block.id, BlockStatus::Blocked, None, None);
                    self.emit(&events, &record, r.clone(), RunStatus::Running);
                    results.insert(p.block.id.clone(), r);
                    continue;
                }
                let inputs: BTreeMap<String, String> = p
                    .inputs
                    .iter()
                    .map(|(port, r)| {
                        (
                            port.clone(),
                            outputs[&format!("{}.{}", r.block, r.port)].clone(),
                        )
                    })
                    .collect();
                let mut running = pending(&p.block.id);
                running.status = BlockStatus::Running;
                self.emit(&events, &record, running, RunStatus::Running);
                let force = forced.contains(&p.block.id);
                let state = states.get(&p.block.id).cloned();
                let req = &req;
                wave.push(async move {
                    let t = Instant::now();
                    let out = self.run_block(req, p, inputs, state, force).await;
                    (p, out, t.elapsed())
                });
            }
            if wave.is_empty() {
                continue;
            }
            let finished = tokio::select! {
                done = futures::future::join_all(wave) => Some(done),
                _ = cancel.wait_for(|c| *c) => None,
            };
            let Some(finished) = finished else {
                cancelled = true;
                let unsettled: Vec<&&Planned> = order
                    .iter()
                    .filter(|p| {
                        matches!(
                            results[&p.block.id].status,
                            BlockStatus::Pending | BlockStatus::Running
                        )
                    })
                    .collect();
                for p in unsettled {
                    let r = settle(&p.block.id, BlockStatus::Cancelled, None, None);
                    self.emit(&events, &record, r.clone(), RunStatus::Running);
                    results.insert(p.block.id.clone(), r);
                }
                break;
            };
            for (p, out, elapsed) in finished {
                let ms = Some(elapsed.as_millis() as i64);
                let r = match out {
                    Ok(done) => {
                        for (port, hash) in &done.ports {
                            outputs.insert(format!("{}.{port}", p.block.id), hash.clone());
                            if done.fresh {
                                written.push(hash.clone());
                            }
                        }
                        let mut r = settle(
                            &p.block.id,
                            if done.fresh {
                                BlockStatus::Succeeded
                            } else {
                                BlockStatus::UpToDate
                            },
                            Some(done.rows),
                            ms,
                        );
                        r.notes = done.notes;
                        r
                    }
                    Err(e) => {
                        tracing::info!(project = %req.project_uid, block = %p.block.id, error = %e, "block failed");
                        let mut r = settle(&p.block.id, BlockStatus::Failed, None, ms);
                        r.error = Some(BlockError {
                            code: e.code().as_str().to_owned(),
                            message: e.to_string(),
                        });
                        if let EngineError::PluginRun { notes, .. } = e {
                            r.notes = notes;
                        }
                        r
                    }
                };
                self.emit(&events, &record, r.clone(), RunStatus::Running);
                results.insert(p.block.id.clone(), r);
            }
            record.blocks =
                serde_json::to_value(ordered(&order, &results)).expect("results serialize");
            self.store.update_run(&record).await?;
        }
        // Forget what no longer exists in the workflow; then sweep unreferenced artifacts.
        let ids: Vec<String> = plan.blocks.iter().map(|p| p.block.id.clone()).collect();
        self.store
            .retain_block_states(&req.project_uid, &ids)
            .await?;
        let published: Vec<String> = plan.published().into_keys().collect();
        self.store
            .retain_datasets(&req.project_uid, &published)
            .await?;
        self.datasets.unpin(&written);
        let status = if cancelled {
            RunStatus::Cancelled
        } else if results.values().any(|r| r.status == BlockStatus::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        record.status = status;
        record.finished_ms = Some(now_ms());
        record.blocks = serde_json::to_value(ordered(&order, &results)).expect("results serialize");
        self.store.update_run(&record).await?;
        let _ = events.send(RunEvent {
            run: record.uid.clone().into(),
            block: None,
            run_status: status,
        });
        self.request_gc();
        tracing::info!(project = %req.project_uid, run = %record.uid, %status, elapsed_ms = started.elapsed().as_millis() as u64, "workflow run finished");
        Ok(())
    }

    fn emit(
        &self,
        events: &broadcast::Sender<RunEvent>,
        record: &RunRecord,
        r: BlockResult,
        status: RunStatus,
    ) {
        // No subscriber is normal; the run record holds the same facts.
        let _ = events.send(RunEvent {
            run: record.uid.clone().into(),
            block: Some(r),
            run_status: status,
        });
    }
}

/// The instance-wide values that override project parameters of the same name.
pub const INSTANCE_PARAMETERS: &str = "instance_parameters";

fn pending(id: &str) -> BlockResult {
    settle(id, BlockStatus::Pending, None, None)
}

fn settle(
    id: &str,
    status: BlockStatus,
    rows: Option<i64>,
    duration_ms: Option<i64>,
) -> BlockResult {
    BlockResult {
        block: id.to_owned(),
        status,
        rows,
        duration_ms,
        error: None,
        notes: vec![],
    }
}

fn ordered(order: &[&Planned], results: &BTreeMap<String, BlockResult>) -> Vec<BlockResult> {
    order.iter().map(|p| results[&p.block.id].clone()).collect()
}
