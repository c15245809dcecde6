//! Where a run stands. Stored as the lowercase names (`succeeded`), which GraphQL shows
//! too.

use serde::{Deserialize, Serialize};

/// A workflow run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// The process running it stopped; marked at the next start.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn is_final(self) -> bool {
        self != RunStatus::Running
    }
}

/// A task run's state, and that of each project in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskRunStatus {
    Queued,
    Running,
    Succeeded,
    /// Some projects succeeded, some failed (runs only).
    Partial,
    Failed,
    Skipped,
    Cancelled,
}

impl TaskRunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskRunStatus::Queued => "queued",
            TaskRunStatus::Running => "running",
            TaskRunStatus::Succeeded => "succeeded",
            TaskRunStatus::Partial => "partial",
            TaskRunStatus::Failed => "failed",
            TaskRunStatus::Skipped => "skipped",
            TaskRunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, TaskRunStatus::Queued | TaskRunStatus::Running)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for TaskRunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_the_serde_names() {
        for s in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Interrupted,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in [
            TaskRunStatus::Queued,
            TaskRunStatus::Running,
            TaskRunStatus::Succeeded,
            TaskRunStatus::Partial,
            TaskRunStatus::Failed,
            TaskRunStatus::Skipped,
            TaskRunStatus::Cancelled,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
