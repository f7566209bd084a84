//! The run store: where durable work keeps each run's slice, cursor, progress, status and step
//! results, behind one small trait with two real implementations — SQLite
//! ([`SqliteStore`], feature `sqlite`) for local and single-host use, DynamoDB
//! ([`DynamoStore`], feature `dynamodb`) on AWS.
//!
//! The trait has one conditional write, [`RunStore::replace`] (compare-and-swap on the record's
//! `version`), and an insert-if-absent for step results; every protocol decision (claiming a
//! slice, checkpointing, repairing a lost successor, completing once) is made above it, in
//! [`crate::chunk`], so both stores behave the same by construction.

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod entry;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use entry::Entry;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::error::ConfigError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Slices are being processed.
    Running,
    /// The last slice reported done.
    Done,
    /// It failed permanently; `error` says why.
    Failed,
    /// Someone cancelled it; no further slice runs.
    Cancelled,
}

impl RunStatus {
    /// Done, failed or cancelled: nothing more will run.
    pub fn is_final(self) -> bool {
        self != RunStatus::Running
    }

    /// As stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the store knows about one run.
///
/// A store keeps it whole (it is serde: the stores write it as JSON) and compares its
/// [`version`](Self::version) on [`RunStore::replace`]; its fields are written only by the
/// slice protocol in [`crate::chunk`], and read through these methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id: the job id of its first slice's message.
    pub(crate) id: String,
    /// The job's name.
    pub(crate) job: String,
    /// Where it is.
    pub(crate) status: RunStatus,
    /// The slice to run next (0 first). A message for an older slice is stale.
    pub(crate) slice: u64,
    /// The checkpointed cursor, as JSON.
    pub(crate) cursor: String,
    /// Whether the message for `slice` has been sent (false between a checkpoint and its enqueue).
    pub(crate) successor_sent: bool,
    /// The message id working on `slice`, if any.
    pub(crate) owner: Option<String>,
    /// Until when (Unix ms) the owner's claim holds if its message never comes back.
    pub(crate) lease_until_ms: i64,
    /// Items processed so far.
    pub(crate) items_done: u64,
    /// Items in all, when the job knows.
    pub(crate) items_total: Option<u64>,
    /// Unix ms when the run was created.
    pub(crate) started_ms: i64,
    /// Unix ms of the last change.
    pub(crate) updated_ms: i64,
    /// Why it failed (or was cancelled).
    pub(crate) error: Option<String>,
    /// Set by `overtime runs cancel`; the next slice stops the run.
    pub(crate) cancel_requested: bool,
    /// Incremented by every write; [`RunStore::replace`] compares it.
    pub(crate) version: u64,
}

impl RunRecord {
    /// A new run at slice 0.
    pub(crate) fn new(
        id: &str,
        job: &str,
        cursor: String,
        items_total: Option<u64>,
        now_ms: i64,
    ) -> Self {
        RunRecord {
            id: id.to_owned(),
            job: job.to_owned(),
            status: RunStatus::Running,
            slice: 0,
            cursor,
            successor_sent: true,
            owner: None,
            lease_until_ms: 0,
            items_done: 0,
            items_total,
            started_ms: now_ms,
            updated_ms: now_ms,
            error: None,
            cancel_requested: false,
            version: 0,
        }
    }

    /// The run id: the job id of its first slice's message.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Where it is.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The slice to run next (0 first); a done run's last slice.
    pub fn slice(&self) -> u64 {
        self.slice
    }

    /// The checkpointed cursor, as JSON.
    pub fn cursor(&self) -> &str {
        &self.cursor
    }

    /// Items processed so far.
    pub fn items_done(&self) -> u64 {
        self.items_done
    }

    /// Items in all, when the job knows.
    pub fn items_total(&self) -> Option<u64> {
        self.items_total
    }

    /// Unix ms when the run was created.
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    /// Unix ms of the last change.
    pub fn updated_ms(&self) -> i64 {
        self.updated_ms
    }

    /// Why it failed (or was cancelled).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether someone asked it to stop (`overtime runs cancel`); its next slice does.
    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested
    }

    /// Whether the message for [`slice`](Self::slice) is sent: false only between a slice's
    /// checkpoint and its successor's enqueue (or after a crash there, until the repair).
    pub fn next_slice_sent(&self) -> bool {
        self.successor_sent
    }

    /// Whether a delivery holds the current slice (its claim may have lapsed).
    pub fn is_claimed(&self) -> bool {
        self.owner.is_some()
    }

    /// Incremented by every write: what [`RunStore::replace`] compares (the stored version
    /// must be this less one).
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// Largest step result the stores accept (DynamoDB items stop at 400 KB; room for the key).
pub const MAX_STEP_RESULT_BYTES: usize = 350 * 1024;

/// A store operation that did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or refused the call; the slice is retried.
    #[error("run store unavailable: {0}")]
    Unavailable(String),
    /// A stored record is not what this version of overtime writes.
    #[error("run store record {id} is corrupt: {reason}")]
    Corrupt {
        /// The run.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A step result over [`MAX_STEP_RESULT_BYTES`].
    #[error(
        "step {step:?} returned {size} bytes, over the run store's {limit}-byte limit; store a reference (an S3 key, a row id) instead"
    )]
    TooLarge {
        /// The step.
        step: String,
        /// Its serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Where runs live. Implemented by [`SqliteStore`] and [`DynamoStore`]; object-safe, so a worker
/// holds an `Arc<dyn RunStore>`.
pub trait RunStore: Send + Sync + 'static {
    /// Inserts a run unless one with its id exists; true if inserted.
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The run, if any.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>>;

    /// Replaces the run with `next` (whose `version` is one more) if the stored version is
    /// still `next.version - 1`; false if someone else wrote first.
    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The most recently started runs, newest first.
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>>;

    /// A stored step result.
    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// Stores a step result unless one exists; returns the stored one (this or the earlier).
    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>>;

    /// The entry under `key`, unless there is none or it expired by `now_ms`.
    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>>;

    /// Writes `entry` under `key` if the stored one is as the writer read it: with `expected`
    /// `None`, if there is none or it expired by `now_ms`; with `Some(token)`, if the stored
    /// entry has that token and has not expired. True if written.
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<T: RunStore + ?Sized> RunStore for Arc<T> {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).create(run)
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        (**self).get(id)
    }
    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).replace(next)
    }
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        (**self).list(limit)
    }
    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        (**self).step(run, name)
    }
    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        (**self).put_step(run, name, value)
    }
    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        (**self).entry(key, now_ms)
    }
    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).put_entry(key, entry, expected, now_ms)
    }
}

/// Asks a run to stop: its next slice marks it cancelled and runs nothing. Returns the run as
/// it now stands (`None` if there is no such run); a run that already ended is left as it is.
pub async fn request_cancel(
    store: &dyn RunStore,
    id: &str,
) -> Result<Option<RunRecord>, StoreError> {
    for _ in 0..16 {
        let Some(current) = store.get(id).await? else {
            return Ok(None);
        };
        if current.status.is_final() || current.cancel_requested {
            return Ok(Some(current));
        }
        let mut next = current.clone();
        next.cancel_requested = true;
        next.version = current.version + 1;
        next.updated_ms = now_ms();
        if store.replace(&next).await? {
            return Ok(Some(next));
        }
    }
    Err(StoreError::Unavailable(format!(
        "run {id} kept changing; try again"
    )))
}

/// Opens the run store `OVERTIME_RUN_STORE` names: `sqlite:.overtime/runs.db` (feature
/// `sqlite`) or `dynamodb:overtime-runs` (feature `dynamodb`, standard AWS configuration).
pub async fn from_env() -> Result<Arc<dyn RunStore>, ConfigError> {
    let value = std::env::var(crate::env::RUN_STORE).map_err(|_| ConfigError::MissingStore)?;
    open(&value).await
}

/// Opens the run store `spec` names: `sqlite:PATH` or `dynamodb:TABLE`.
pub async fn open(spec: &str) -> Result<Arc<dyn RunStore>, ConfigError> {
    let value = spec.to_owned();
    #[cfg(feature = "sqlite")]
    if let Some(path) = value.strip_prefix("sqlite:") {
        let store = SqliteStore::open(path).map_err(|source| ConfigError::Store {
            spec: value.clone(),
            source,
        })?;
        return Ok(Arc::new(store));
    }
    #[cfg(feature = "dynamodb")]
    if let Some(table) = value.strip_prefix("dynamodb:") {
        return Ok(Arc::new(DynamoStore::from_env(table).await));
    }
    Err(ConfigError::UnknownStore(value))
}

/// Reads a stored record.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn decode(id: &str, json: &str) -> Result<RunRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes a record for storage.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub(crate) fn encode(run: &RunRecord) -> String {
    // A struct of strings, numbers and options always serializes.
    serde_json::to_string(run).unwrap_or_default()
}

/// The current Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

// Used by `testing::check_store` and the SQLite store's own test.
#[cfg(any(all(test, feature = "sqlite"), feature = "test-util"))]
pub(crate) mod conformance;
#[cfg(feature = "test-util")]
mod memory;
#[cfg(feature = "test-util")]
pub use memory::MemoryStore;
