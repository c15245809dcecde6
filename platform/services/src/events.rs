//! Project events as the capabilities that cause them announce them: a working copy
//! pushed into a project, a project imported from a bundle. Event tasks follow them: the
//! task service listens ([`Events::subscribe`]) and fires the matching tasks, once per
//! event. Announcing never waits for tasks, so versions sit below tasks and know nothing
//! of them.

use tokio::sync::broadcast;
use vitrine_core::task::EventKind;

use crate::caller::{Caller, Credential};

/// Events announced but not yet taken by the listener before the oldest are dropped (and
/// the drop logged): far above what pushes and imports produce.
const BACKLOG: usize = 1024;

/// Something that happened to a project.
#[derive(Debug, Clone)]
pub(crate) struct ProjectEvent {
    pub kind: EventKind,
    pub project_uid: String,
    /// What makes the event itself unique (the fire key of the tasks it fires).
    pub id: String,
    /// The task runs that led here, oldest first: a task in it is never fired again,
    /// so event tasks cannot loop.
    pub chain: Vec<String>,
}

/// Where project events are announced.
#[derive(Clone)]
pub(crate) struct Events {
    tx: broadcast::Sender<ProjectEvent>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Events {
            tx: broadcast::channel(BACKLOG).0,
        }
    }

    /// Announces an event. With nobody listening (a process that runs no tasks) it is
    /// dropped, as it would have fired nothing.
    pub(crate) fn publish(
        &self,
        kind: EventKind,
        project_uid: &vitrine_core::ProjectId,
        id: &str,
        chain: Vec<String>,
    ) {
        let _ = self.tx.send(ProjectEvent {
            kind,
            project_uid: project_uid.to_owned().into(),
            id: id.to_owned(),
            chain,
        });
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ProjectEvent> {
        self.tx.subscribe()
    }
}

/// The event chain of the caller's task run, this task last (empty for people).
pub(crate) fn event_chain(caller: &Caller) -> Vec<String> {
    match &caller.credential() {
        Credential::Task { chain, .. } => chain.clone(),
        _ => Vec::new(),
    }
}
