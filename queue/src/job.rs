use serde::{Deserialize, Serialize};

/// Everything the queue carries. Small: records hold the state, jobs point at them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Start a run of a task: resolve its app parameters, list its projects, push one
    /// [`Job::Project`] each. `fire_key` makes the run unique (see `TaskRunRecord`).
    Fire {
        task_uid: String,
        fire_key: String,
        cause: String,
        /// The project an event happened to (event triggers only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_project: Option<String>,
        /// Tasks whose runs led to this firing through events (loop protection).
        #[serde(default)]
        chain: Vec<String>,
    },
    /// One project's actions within a run (`record_uid`: its per-project record). A
    /// retry is a new job with the next `attempt`, pushed with a delay.
    Project {
        run_uid: String,
        record_uid: String,
        attempt: u32,
    },
    /// Does nothing: measures the queue itself.
    Noop { n: u64 },
}

impl Job {
    /// The idempotency key: a second push with the same key is dropped by the backend.
    pub fn key(&self) -> String {
        match self {
            Job::Fire { fire_key, .. } => format!("fire:{fire_key}"),
            Job::Project {
                record_uid,
                attempt,
                ..
            } => format!("project:{record_uid}:{attempt}"),
            Job::Noop { n } => format!("noop:{n}"),
        }
    }
}
