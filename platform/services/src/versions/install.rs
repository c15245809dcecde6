//! Installing content into a project: the one path a working-copy push, a pull, a
//! working copy's creation and a bundle import all end in. What arrives (a [`Payload`])
//! is checked first — the workflow must validate here, report definitions must parse,
//! share links must not widen unless the project allows it — and then written in one
//! transaction ([`vitrine_storage::Store::replace_project`]). An import's datasets may
//! still be in the making while that transaction is written; their records go in last,
//! before the commit ([`Versions::install_while`]).

use std::collections::BTreeMap;

use vitrine_core::{ErrorCode, RevisionContent};
use vitrine_engine::report::ReportDefinition;
use vitrine_storage::{
    BlockStateRecord, DatasetRecord, NewAuditEvent, NewProject, ProjectRecord, PushedFrom,
    Replacement, ReportRecord, RevisionRecord, StorageError, WorkflowRecord, WorkingCopyRecord,
    new_uid, now_ms,
};

use super::Versions;
use super::bundles::format::BundleRevision;
use crate::guard::{Authorized, Edit};
use crate::{ApiError, ApiResult};

/// A project's state as it travels between projects or instances.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub head: RevisionContent,
    /// Revisions to append to the target's history, oldest first (renumbered there).
    pub revisions: Vec<BundleRevision>,
    /// Datasets whose artifacts are already in this instance's store.
    pub datasets: Vec<DatasetRecord>,
    pub block_states: Vec<BlockStateRecord>,
}

/// How a payload goes in.
#[derive(Debug, Default)]
pub(crate) struct Install {
    /// Refuse unless the target's latest revision is still this; `None` forces.
    pub expect_latest: Option<i64>,
    /// Report uids of the payload → the target's. Reports without an entry get one: a
    /// fresh uid, or the same uid when `keep_report_uids` (another instance's copy).
    pub report_map: BTreeMap<String, String>,
    pub keep_report_uids: bool,
    /// Marks appended revisions as pushed from this working copy.
    pub pushed_from: Option<(String, String, Option<String>)>,
    /// Instead of the payload's revisions, append one revision by this author with this
    /// message (a pull, a copy's creation).
    pub one_revision: Option<(Option<String>, String, String)>,
    /// Written along in the same transaction, with the written side's new head as its
    /// base.
    pub working_copy: Option<WorkingCopyRecord>,
    /// Fault injection (crash tests): sleep inside the transaction.
    pub pause_ms: u64,
    /// What the content is, in errors ("revision 3"); "the incoming content" if unset.
    pub label: Option<String>,
    /// The target is created in the same transaction (from a [`ProjectPlan`]).
    ///
    /// [`ProjectPlan`]: crate::projects::ProjectPlan
    pub creating: Option<NewProject>,
    /// The operation's audit event, written in the same transaction.
    pub audit: Option<NewAuditEvent>,
    /// A working copy's push or pull: the target keeps its own values of the parameters
    /// choosing data connections, and its own datasets read through them (see
    /// [`connections`](super::connections)).
    pub keep_connection_choices: bool,
}

/// What an install did.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    /// The target's newest revision number afterwards.
    pub head: i64,
    pub appended: usize,
}

impl Payload {
    /// Report uids inside a content, rewritten through `map`.
    fn remap(content: &RevisionContent, map: &BTreeMap<String, String>) -> RevisionContent {
        let mut c = content.clone();
        for r in &mut c.reports {
            if let Some(to) = map.get(&r.uid) {
                r.uid = to.clone();
            }
        }
        c
    }
}

impl Versions {
    /// A project's own content as a payload: its head, its revisions numbered above
    /// `since`, its datasets and block results.
    pub(crate) async fn payload_of(
        &self,
        project_uid: &vitrine_core::ProjectId,
        since: i64,
    ) -> ApiResult<Payload> {
        let (head, revisions) = self.history_of(project_uid, since).await?;
        Ok(Payload {
            head,
            revisions,
            datasets: self.store.datasets(project_uid).await?,
            block_states: self.store.block_states(project_uid).await?,
        })
    }

    /// A project's head content and its revisions numbered above `since`, oldest first:
    /// a payload without its data.
    pub(crate) async fn history_of(
        &self,
        project_uid: &vitrine_core::ProjectId,
        since: i64,
    ) -> ApiResult<(RevisionContent, Vec<BundleRevision>)> {
        let head = self.commits.current_content(project_uid).await?;
        let revisions = self
            .store
            .revisions_after(project_uid, since)
            .await?
            .into_iter()
            .map(|r| {
                Ok(BundleRevision {
                    number: r.number,
                    parent: (r.number > 1).then_some(r.number - 1),
                    author_name: r.author_name.clone(),
                    message: r.message.clone(),
                    created_ms: r.created_ms,
                    pushed_from: r.pushed_from.clone(),
                    content: content_of(&r)?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok((head, revisions))
    }

    /// Checks `payload` against the target project and writes it there in one
    /// transaction.
    pub(crate) async fn install(
        &self,
        target: &Authorized<ProjectRecord, Edit>,
        payload: &Payload,
        how: Install,
        author: (Option<&str>, &str),
    ) -> ApiResult<Installed> {
        self.install_while(target, payload, how, author, None).await
    }

    /// [`install`](Self::install), with more datasets still being made by `later`: they
    /// are checked like the payload's and go in last, in the same transaction, which is
    /// written meanwhile (an import's). When `later` fails, nothing is written.
    pub(crate) async fn install_while(
        &self,
        target: &Authorized<ProjectRecord, Edit>,
        payload: &Payload,
        mut how: Install,
        author: (Option<&str>, &str),
        later: Option<Later<'_>>,
    ) -> ApiResult<Installed> {
        let started = std::time::Instant::now();
        let target_uid = target.get().uid.as_str();
        // Every report uid the payload mentions, in its head or its history, gets its
        // target uid now, so history and head agree after the move.
        let mentioned = payload
            .revisions
            .iter()
            .flat_map(|r| r.content.reports.iter())
            .chain(payload.head.reports.iter())
            .map(|r| r.uid.clone())
            .collect::<Vec<_>>();
        for uid in mentioned {
            if how.report_map.contains_key(&uid) {
                continue;
            }
            // Another instance's uid is kept unless it names a report of some other
            // project here: a hostile or unlucky sender cannot overwrite that.
            let keep = how.keep_report_uids
                && self
                    .store
                    .report(&vitrine_core::ReportId::from(&uid))
                    .await?
                    .is_none_or(|r| r.project_uid == target_uid);
            let to = if keep { uid.clone() } else { new_uid() };
            how.report_map.insert(uid, to);
        }
        // The target's workflow as it stands: its version guards the write, and its values
        // of connection parameters are kept on a push or pull.
        let stored = self
            .store
            .workflow(&vitrine_core::ProjectId::from(target_uid))
            .await?;
        let kept = match &stored {
            Some(current) if how.keep_connection_choices => {
                super::connections::connection_choices(current, &payload.head)
            }
            _ => Default::default(),
        };
        let with_kept = |c: &RevisionContent| {
            super::connections::with_parameters(Payload::remap(c, &how.report_map), &kept)
        };
        let head = with_kept(&payload.head);
        let label = how.label.as_deref().unwrap_or("the incoming content");
        let (wf, parameters) = self.restorable(&head, label).await?;
        let now = now_ms();
        let current = self
            .store
            .reports(&vitrine_core::ProjectId::from(target_uid))
            .await?;
        let mut reports = Vec::new();
        let mut exposures = Vec::new();
        for r in &head.reports {
            let def = ReportDefinition::parse(&r.definition)
                .map_err(|e| ApiError::new(e.code(), format!("report `{}`: {e}", r.name)))?;
            let existing = current.iter().find(|c| c.uid == r.uid);
            if let Some(e) = existing {
                exposures.push((e.uid.clone(), self.exposure.check_exposure(e, &def).await?));
            }
            reports.push(ReportRecord {
                uid: r.uid.clone().into(),
                project_uid: target_uid.into(),
                name: r.name.clone(),
                definition: def.clone(),
                created_ms: existing.map_or(now, |e| e.created_ms),
                updated_ms: now,
            });
        }
        let latest = self
            .store
            .latest_revision(&vitrine_core::ProjectId::from(target_uid))
            .await?;
        let latest_number = latest.as_ref().map_or(0, |l| l.number);
        if let Some(expected) = how.expect_latest
            && expected != latest_number
        {
            return Err(moved(expected, latest_number));
        }
        let (author_uid, author_name) = author;
        let mut revisions = Vec::new();
        let mut parent = latest.map(|l| l.uid);
        let mut push = |pushed_from: Option<PushedFrom>,
                        author_uid: Option<String>,
                        author_name: String,
                        message: String,
                        created_ms: i64,
                        content: &RevisionContent|
         -> ApiResult<()> {
            let uid = new_uid();
            revisions.push(RevisionRecord {
                uid: uid.clone().into(),
                project_uid: target_uid.into(),
                number: latest_number + revisions.len() as i64 + 1,
                parent_uid: parent.replace(uid.into()),
                author_uid: author_uid.map(Into::into),
                author_name,
                message,
                created_ms,
                content: serde_json::to_value(content)
                    .map_err(|e| ApiError::internal("revision", e))?,
                pushed_from,
            });
            Ok(())
        };
        match &how.one_revision {
            Some((uid, name, message)) => {
                push(None, uid.clone(), name.clone(), message.clone(), now, &head)?
            }
            None => {
                for r in &payload.revisions {
                    // Pushed revisions name the copy; imported ones keep what they had.
                    let from = match &how.pushed_from {
                        Some((project_uid, project_name, instance)) => Some(PushedFrom {
                            project_uid: project_uid.clone().into(),
                            project_name: project_name.clone(),
                            instance: instance.clone(),
                            number: r.number,
                        }),
                        None => r.pushed_from.clone(),
                    };
                    push(
                        from,
                        None,
                        r.author_name.clone(),
                        r.message.clone(),
                        r.created_ms,
                        &with_kept(&r.content),
                    )?;
                }
                // The last appended revision must be the head; when the sender had no
                // new revisions (a forced push of unchanged content), one says so.
                let last_is_head = payload
                    .revisions
                    .last()
                    .is_some_and(|r| with_kept(&r.content) == head);
                if !last_is_head {
                    push(
                        None,
                        author_uid.map(str::to_owned),
                        author_name.to_owned(),
                        "pushed the working copy's content".into(),
                        now,
                        &head,
                    )?;
                }
            }
        }
        let expect_version = stored.as_ref().map_or(0, |w| w.version);
        let head_number = latest_number + revisions.len() as i64;
        let creating = how.creating.take();
        let replacement = Replacement {
            project_uid: target_uid.into(),
            expect_latest: Some(latest_number),
            expect_version,
            workflow: WorkflowRecord {
                project_uid: target_uid.into(),
                definition: wf,
                parameters,
                version: expect_version + 1,
                updated_ms: now,
                updated_by: author_uid.map(str::to_owned).map(Into::into),
            },
            reports,
            datasets: self
                .datasets_to_install(target_uid, &payload.datasets, how.keep_connection_choices)
                .await?
                .iter()
                .map(|d| owned_by(target_uid, d))
                .collect(),
            block_states: payload
                .block_states
                .iter()
                .map(|s| BlockStateRecord {
                    project_uid: target_uid.into(),
                    ..s.clone()
                })
                .collect(),
            revisions,
            // The link records the new head of whichever side this install wrote.
            // and, on this instance, the report pairs the install settled (copy → origin).
            working_copy: how.working_copy.take().map(|mut w| {
                if w.copy_uid == target_uid {
                    w.base_copy_number = head_number;
                    // A copy being created records its pairs whatever its origin.
                    if w.origin_url.is_none() || creating.is_some() {
                        w.report_map = how
                            .report_map
                            .iter()
                            .map(|(o, c)| (c.clone(), o.clone()))
                            .collect();
                    }
                } else {
                    w.base_origin_number = head_number;
                    w.report_map = how.report_map.clone();
                }
                w.synced_ms = now;
                w
            }),
            pause_ms: how.pause_ms,
            new_project: creating,
            audit: how.audit.take(),
        };
        let appended = replacement.revisions.len();
        let checked = started.elapsed();
        let keep = how.keep_connection_choices;
        let written = match later {
            None => self
                .store
                .replace_project(&replacement)
                .await
                .map(Ok::<_, ApiError>),
            Some(later) => {
                let more = async {
                    let made = later.await?;
                    let made = self.datasets_to_install(target_uid, &made, keep).await?;
                    Ok(made.iter().map(|d| owned_by(target_uid, d)).collect())
                };
                self.store.replace_project_while(&replacement, more).await
            }
        };
        match written {
            Err(StorageError::Conflict(msg)) => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("the project changed while this was being written; try again ({msg})"),
                ));
            }
            other => other??,
        }
        // Checking against writing: the bundle bench shows it with
        // `VITRINE_BENCH_LOG=vitrine_services=debug`.
        tracing::debug!(
            project = target_uid,
            revisions = appended,
            checks_ms = checked.as_millis() as u64,
            write_ms = (started.elapsed() - checked).as_millis() as u64,
            "content installed"
        );
        for (report_uid, found) in exposures {
            self.exposure.record_exposure(&report_uid, found).await?;
        }
        Ok(Installed {
            head: head_number,
            appended,
        })
    }
}

/// Datasets an install is still making (see [`Versions::install_while`]).
pub(crate) type Later<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = ApiResult<Vec<DatasetRecord>>> + Send + 'a>>;

/// A dataset record as the target's own. A project's own datasets put back (a revert)
/// keep their ids.
fn owned_by(target_uid: &str, d: &DatasetRecord) -> DatasetRecord {
    DatasetRecord {
        uid: if d.project_uid == target_uid {
            d.uid.clone()
        } else {
            new_uid().into()
        },
        project_uid: target_uid.into(),
        ..d.clone()
    }
}

/// The refusal of a push whose origin has moved on.
pub(crate) fn moved(expected: i64, latest: i64) -> ApiError {
    ApiError::new(
        ErrorCode::OriginMoved,
        format!(
            "the origin has changed since this working copy last synced (it was at revision {expected}, it is now at revision {latest}); pull its changes first, or push with force: true to replace them"
        ),
    )
}

/// What a push or pull did.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The written project's newest revision afterwards.
    pub head: i64,
    /// Revisions added to the written project's history.
    pub revisions: usize,
}

impl From<Installed> for SyncOutcome {
    fn from(i: Installed) -> Self {
        SyncOutcome {
            head: i.head,
            revisions: i.appended,
        }
    }
}

/// A stored revision's content.
pub(crate) fn content_of(r: &RevisionRecord) -> ApiResult<RevisionContent> {
    serde_json::from_value(r.content.clone()).map_err(|e| ApiError::internal("revision", e))
}
