//! A run's project records: how they are written at fan-out, how a project job's attempt
//! ends, and what the run learns from them.

use super::*;
use crate::testing::store;

/// Queued records of the projects `names` in `run`.
fn queued(run: &vitrine_core::TaskRunId, names: &[&str]) -> Vec<TaskRunProjectRecord> {
    (names.iter())
        .map(|n| TaskRunProjectRecord::queued(run, &(*n).into(), n))
        .collect()
}

/// A store holding a run of the projects `names`, the first taken by its job.
async fn a_run_with_one_taken(
    names: &[&str],
) -> (
    tempfile::TempDir,
    Store,
    vitrine_core::TaskRunId,
    Vec<TaskRunProjectRecord>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let run: vitrine_core::TaskRunId = "run".into();
    let projects = queued(&run, names);
    store.add_run_projects(&projects).await.unwrap();
    let taken = store.take_run_project(&projects[0].uid, 1).await.unwrap();
    assert!(taken.is_some());
    (dir, store, run, projects)
}

fn line(message: &str) -> RunLogLine {
    RunLogLine {
        at_ms: 5,
        message: message.into(),
    }
}

/// The last action and the end commit together; the run hears that a project is open
/// until its last project ends; an attempt that ends after a cancel changes nothing but
/// still leaves its last action in the log.
#[tokio::test]
async fn an_attempt_ends_with_its_last_action_and_tells_whether_the_run_is_done() {
    let (_dir, store, run, projects) = a_run_with_one_taken(&["a", "b"]).await;
    let (a, b) = (&projects[0], &projects[1]);
    let ended = store
        .end_attempt(
            &run,
            &a.uid,
            TaskRunStatus::Succeeded,
            None,
            Some((2, &line("warmed"))),
            7,
            9,
        )
        .await
        .unwrap();
    assert_eq!(ended, (true, true), "b is still queued");
    let stored = store.run_project(&a.uid).await.unwrap().unwrap();
    assert_eq!(stored.status, TaskRunStatus::Succeeded);
    assert_eq!(
        (stored.actions_done, stored.duration_ms, stored.finished_ms),
        (2, 7, Some(9))
    );
    assert_eq!(stored.log.len(), 1);

    // Cancelled while running: the attempt's end changes nothing, its last action is kept.
    assert!(store.take_run_project(&b.uid, 1).await.unwrap().is_some());
    store.cancel_running_projects(&run, 2).await.unwrap();
    let ended = store
        .end_attempt(
            &run,
            &b.uid,
            TaskRunStatus::Failed,
            Some("late"),
            Some((1, &line("refreshed"))),
            3,
            4,
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        (false, false),
        "nothing changed, and nothing is open"
    );
    let stored = store.run_project(&b.uid).await.unwrap().unwrap();
    assert_eq!(stored.status, TaskRunStatus::Cancelled);
    assert_eq!(stored.actions_done, 1);
    assert_eq!(stored.error.as_deref(), Some("cancelled while running"));
    assert_eq!(stored.log.len(), 1);
}

/// A retry puts the project back in the queue: it is open again, without a finish time,
/// and an end without a last action records nothing else.
#[tokio::test]
async fn an_attempt_put_back_for_a_retry_keeps_the_run_open() {
    let (_dir, store, run, projects) = a_run_with_one_taken(&["a"]).await;
    let a = &projects[0];
    let ended = store
        .end_attempt(
            &run,
            &a.uid,
            TaskRunStatus::Queued,
            Some("busy"),
            None,
            2,
            3,
        )
        .await
        .unwrap();
    assert_eq!(ended, (true, true));
    let stored = store.run_project(&a.uid).await.unwrap().unwrap();
    assert_eq!(stored.status, TaskRunStatus::Queued);
    assert_eq!(
        (stored.finished_ms, stored.actions_done, stored.log.len()),
        (None, 0, 0)
    );
    assert_eq!(stored.error.as_deref(), Some("busy"));
}

/// Each job's end asks whether its run has an open project; the answer is read from the
/// index of runs and statuses, not from every project record of the run.
#[tokio::test]
async fn whether_a_run_is_open_is_read_from_its_index() {
    let (_dir, store, run, projects) = a_run_with_one_taken(&["a", "b", "c"]).await;
    for lookup in OPEN_LOOKUPS {
        let plan: Vec<serde_json::Value> = store
            .rows(&format!("{lookup} EXPLAIN"), json!({ "r": run }))
            .await
            .unwrap();
        let scan = &plan[0]["children"][0];
        assert_eq!(scan["operator"], "IndexScan", "{lookup}: {plan:?}");
        assert_eq!(
            scan["attributes"]["index"], "task_run_project_open",
            "{lookup}: {plan:?}"
        );
    }
    // Open while any record is queued or running, closed once none is.
    assert!(store.run_has_open_projects(&run).await.unwrap());
    store.cancel_run_projects(&run, 2).await.unwrap();
    assert!(
        store.run_has_open_projects(&run).await.unwrap(),
        "`a` still runs"
    );
    store
        .end_attempt(
            &run,
            &projects[0].uid,
            TaskRunStatus::Succeeded,
            None,
            None,
            1,
            3,
        )
        .await
        .unwrap();
    assert!(!store.run_has_open_projects(&run).await.unwrap());
    let other: vitrine_core::TaskRunId = "other".into();
    assert!(!store.run_has_open_projects(&other).await.unwrap());
}

/// A run's records are written together; fanning out again creates only what is
/// missing (a project added to the target in between) and duplicates nothing.
#[tokio::test]
async fn fanning_out_twice_adds_only_the_missing_records() {
    let (_dir, store, run, _) = a_run_with_one_taken(&["a", "b"]).await;
    store
        .add_run_projects(&queued(&run, &["a", "b"]))
        .await
        .unwrap();
    store
        .add_run_projects(&queued(&run, &["a", "b", "c"]))
        .await
        .unwrap();
    let stored = store.run_projects(&run).await.unwrap();
    let names: Vec<(&str, TaskRunStatus)> = (stored.iter())
        .map(|r| (r.project_name.as_str(), r.status))
        .collect();
    assert_eq!(
        names,
        [
            ("a", TaskRunStatus::Running),
            ("b", TaskRunStatus::Queued),
            ("c", TaskRunStatus::Queued)
        ],
        "a fan-out again leaves a taken record as it is"
    );
}
