//! Writes to a run's record: compare-and-swap until the change sticks or no longer applies.

use crate::job::JobError;
use crate::store::{RunRecord, RunStatus, RunStore, StoreError, now_ms};
use serde::Serialize;

pub(super) fn store_err(e: StoreError) -> JobError {
    // The store is down or slow: the slice is retried later, nothing is lost.
    JobError::retry(e)
}

pub(super) fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, JobError> {
    serde_json::to_string(value)
        .map_err(|e| JobError::permanent(format!("{what} does not serialize: {e}")))
}

/// Writes `change` over the latest record until it sticks or `keep` says the change no longer
/// applies; returns the written record, or `None` if abandoned.
pub(super) async fn update(
    store: &dyn RunStore,
    mut current: RunRecord,
    mut change: impl FnMut(&mut RunRecord) -> bool,
) -> Result<Option<RunRecord>, JobError> {
    for _ in 0..16 {
        let mut next = current.clone();
        if !change(&mut next) {
            return Ok(None);
        }
        next.version = current.version + 1;
        next.updated_ms = now_ms();
        if store.replace(&next).await.map_err(store_err)? {
            return Ok(Some(next));
        }
        current = match store.get(&current.id).await.map_err(store_err)? {
            Some(r) => r,
            None => return Ok(None),
        };
    }
    Err(JobError::retry(
        "the run record kept changing under this slice",
    ))
}

/// Marks the run failed with `error` (once), unless it already ended.
pub(super) async fn fail_run(
    store: &dyn RunStore,
    run: RunRecord,
    error: &str,
) -> Result<(), JobError> {
    update(store, run, |r| {
        if r.status.is_final() {
            return false;
        }
        r.status = RunStatus::Failed;
        r.error = Some(error.to_owned());
        r.owner = None;
        true
    })
    .await
    .map(|_| ())
}
