//! What flow control leaves for people to read: the jobs skipped per key (count, reason and
//! last payload), and which jobs declare which controls. Both live in the run store, where
//! `overtime runs` and the dashboard read them.

use super::cache::States;
use crate::store::{RunStore, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest payload kept with a skip.
const MAX_PAYLOAD_BYTES: usize = 1024;
/// Keys kept per job; the ones skipped longest ago go first.
const MAX_KEYS: usize = 200;
/// How long skip counts are kept after the last skip.
const KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long the declarations are kept without a worker starting.
const INDEX_KEPT_MS: i64 = 30 * 24 * 3600 * 1000;
/// The run-store key of the declarations.
const INDEX_KEY: &str = "flow/index";

/// The skips of one key of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The control that skipped them: `rate limit` or `singleton`.
    pub control: String,
    /// How many were skipped.
    pub count: u64,
    /// Why the last one was.
    pub reason: String,
    /// The last skipped payload (its first KiB).
    pub last_payload: String,
    /// When the last one was skipped (Unix ms).
    pub last_ms: i64,
}

fn skips_key(job: &str) -> String {
    format!("flow/{job}/skipped")
}

/// Counts one skip of `job` under `key`, keeping its payload; also a tracing event. A store
/// that cannot be written loses the count, not the decision (the job stays skipped).
pub(crate) async fn skip(
    store: &dyn RunStore,
    states: &States,
    job: &str,
    control: &str,
    key: &str,
    payload: &str,
    reason: &str,
) {
    tracing::info!(job, control, key, reason, "job skipped by flow control");
    let payload = crate::worker::truncate(payload, MAX_PAYLOAD_BYTES);
    let written = states
        .update(
            store,
            &skips_key(job),
            |skips: &mut BTreeMap<String, Skipped>, now| {
                let entry = skips.entry(key.to_owned()).or_insert_with(|| Skipped {
                    control: control.to_owned(),
                    count: 0,
                    reason: String::new(),
                    last_payload: String::new(),
                    last_ms: now,
                });
                entry.count += 1;
                control.clone_into(&mut entry.control);
                reason.clone_into(&mut entry.reason);
                payload.clone_into(&mut entry.last_payload);
                entry.last_ms = now;
                while skips.len() > MAX_KEYS {
                    let oldest = skips
                        .iter()
                        .min_by_key(|(_, s)| s.last_ms)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        skips.remove(&k);
                    }
                }
                ((), now + KEPT_MS)
            },
        )
        .await;
    if let Err(err) = written {
        tracing::warn!(error = %err, job, key, "could not count a skipped job");
    }
}

/// The skips of `job`, per key.
pub async fn skipped(
    store: &dyn RunStore,
    job: &str,
) -> Result<BTreeMap<String, Skipped>, StoreError> {
    read(store, &skips_key(job)).await
}

/// The jobs that declare flow control, with their controls in words
/// ([`Flow::describe`](super::Flow::describe)), as the workers that last started said.
pub async fn declared(store: &dyn RunStore) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    read(store, INDEX_KEY).await
}

/// Records `job`'s controls in the index the dashboard reads (a write only when they changed).
pub(crate) async fn declare(store: &dyn RunStore, states: &States, job: &str, controls: &[String]) {
    if let Ok(index) = declared(store).await
        && index.get(job).map(Vec::as_slice) == Some(controls)
    {
        return;
    }
    let written = states
        .update(
            store,
            INDEX_KEY,
            |index: &mut BTreeMap<String, Vec<String>>, now| {
                index.insert(job.to_owned(), controls.to_vec());
                ((), now + INDEX_KEPT_MS)
            },
        )
        .await;
    if let Err(err) = written {
        tracing::warn!(error = %err, job, "could not record the job's flow control for the dashboard");
    }
}

async fn read<T: Default + serde::de::DeserializeOwned>(
    store: &dyn RunStore,
    key: &str,
) -> Result<T, StoreError> {
    let now = crate::store::now_ms();
    match store.entry(key, now).await? {
        Some(e) => serde_json::from_str(&e.value).map_err(|err| StoreError::Corrupt {
            id: key.to_owned(),
            reason: err.to_string(),
        }),
        None => Ok(T::default()),
    }
}
