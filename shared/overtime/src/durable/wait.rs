//! Waiting for an event: `ctx.wait_for_event` suspends a run until an event with a name and a
//! matching field arrives, or until a timeout.
//!
//! The run spends no function time while it waits. On AWS and in `overtime dev` it works on
//! the run store, SQS and the bus:
//! 1. The first time the wait is reached, its deadline is memoized, the run registers in the run
//!    store under the event's name and the field's value (`wait/EVENT/FIELD=VALUE`), and then
//!    memoizes when the wait began. The job suspends: its message is re-enqueued with the
//!    attribute `overtime.wait` (hopping past SQS's 900 s until the deadline), and the worker
//!    keeps its body in the run store.
//! 2. A listener of the event with the built-in job [`WAKE_JOB`] (declared in
//!    `infra/overtime.toml`, `job = "overtime.wake"`) looks the waiting runs up, stores the
//!    event as the wait's result (first write wins against the timeout's `null`), and sends the
//!    kept message again at once.
//! 3. Of the messages that may continue the wait (that one, the timeout's), the first claims it;
//!    the others end without running further.
//!
//! An event counts if it was sent when the wait had begun: EventBridge's `time` (whole
//! seconds) not before the second the run registered. An event sent before the wait began
//! does not count (as in Inngest): wait first, or pass what you already know in the payload.
//! Not on FIFO queues, which cannot delay a message.

use crate::job::{JobContext, JobError};
use crate::store::{Entry, RunStore, StoreError, now_ms};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The built-in job that resumes waiting runs: declare a listener of each event runs wait for,
/// with this job, on the worker's queue.
pub const WAKE_JOB: &str = "overtime.wake";

/// Longest wait: a year, as for delayed jobs.
pub const MAX_WAIT: Duration = Duration::from_secs(366 * 86_400);

/// Field values longer than this are indexed by their SHA-256.
const MAX_INLINE_VALUE: usize = 200;

/// How long after its deadline the index remembers a waiter (for late events to find nothing).
const INDEX_MARGIN_MS: i64 = 86_400_000;

/// How long the claim on a wait's continuation is kept: SQS keeps a message at most 14 days.
const PASS_KEPT_MS: i64 = 14 * 86_400_000;

/// Conditional writes in a row that lost to another writer before giving up (to retry).
const CAS_ATTEMPTS: u32 = 16;

/// Which event ends a wait: the field at `path` of the event (`data.order_id`: the events
/// overtime sends carry `id` and `data`) equal to `value`.
///
/// ```
/// let on = overtime::wait::Match::field("data.order_id", "o-42");
/// assert_eq!(on.path(), "data.order_id");
/// ```
#[derive(Debug, Clone)]
pub struct Match {
    path: String,
    value: Result<String, String>,
}

impl Match {
    /// The event's field at the dotted `path` must equal `value` (compared as JSON).
    pub fn field(path: impl Into<String>, value: impl Serialize) -> Self {
        Self {
            path: path.into(),
            value: serde_json::to_string(&value).map_err(|e| e.to_string()),
        }
    }

    /// The field's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The event a wait resumed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReceivedEvent<T> {
    /// The event's name.
    pub name: String,
    /// overtime's id for the event (its idempotency key).
    pub id: String,
    /// When EventBridge took it (RFC 3339, whole seconds).
    pub time: String,
    /// Its payload.
    pub data: T,
}

/// The event that cancels a job or chunked run ([`Job::cancel_on`](crate::Job::cancel_on)).
#[derive(Debug, Clone)]
pub struct CancelOn {
    event: String,
    on: Match,
}

impl CancelOn {
    /// Cancelled by an event named `event` whose field matches `on`.
    pub fn new(event: impl Into<String>, on: Match) -> Self {
        Self {
            event: event.into(),
            on,
        }
    }
}

/// How long a run watches for its cancelling event: as long as SQS keeps its message.
const CANCEL_WATCH_MS: i64 = 14 * 86_400_000;

/// The step holding the event that cancelled the run.
pub(crate) const CANCEL_STEP: &str = "cancel";

/// The step holding when the run began to watch for its cancelling event.
const CANCEL_SINCE_STEP: &str = "cancel:since";

/// One run waiting, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Waiter {
    pub(crate) run: String,
    pub(crate) step: String,
    pub(crate) deadline_ms: i64,
    /// Watching for its cancelling event rather than waiting at a step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) cancel: bool,
}

impl Waiter {
    /// The step the event is stored in.
    pub(crate) fn result_step(&self) -> String {
        if self.cancel {
            CANCEL_STEP.to_owned()
        } else {
            result_step(&self.step)
        }
    }

    /// The step that says since when it waits.
    pub(crate) fn since_step(&self) -> String {
        if self.cancel {
            CANCEL_SINCE_STEP.to_owned()
        } else {
            since_step(&self.step)
        }
    }
}

/// A waiting run's message, kept for the wake job to send again.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeptMessage {
    pub(crate) queue: String,
    pub(crate) body: String,
}

/// The step holding the wait's result: the event, or `null` on timeout.
pub(crate) fn result_step(step: &str) -> String {
    format!("wait:{step}")
}

/// The step holding when the wait began (Unix ms), written once the run is registered.
pub(crate) fn since_step(step: &str) -> String {
    format!("wait:{step}:since")
}

/// The step holding the waiting message.
pub(crate) fn message_step(step: &str) -> String {
    format!("wait:{step}:message")
}

/// The entry listing the fields runs wait on for `event`.
pub(crate) fn fields_key(event: &str) -> String {
    format!("wait-fields/{event}")
}

/// The entry listing the runs waiting for `event` with `path` equal to `value` (JSON text).
pub(crate) fn waiters_key(event: &str, path: &str, value: &str) -> String {
    if value.len() > MAX_INLINE_VALUE {
        let digest = crate::queue::message::sha256_hex(value.as_bytes());
        format!("wait/{event}/{path}=sha256:{digest}")
    } else {
        format!("wait/{event}/{path}={value}")
    }
}

/// The value at the dotted `path` of `event`.
pub(crate) fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(event, |v, part| v.get(part))
}

impl<S> JobContext<S> {
    /// Suspends the run until an event named `event` arrives whose field matches `on`,
    /// resuming with it, or until `timeout`, resuming with `None`. The first time only: once
    /// resumed, the same call returns the same answer on every retry.
    ///
    /// Needs a run store, a standard queue, and a listener of `event` with the job
    /// [`WAKE_JOB`] in `infra/overtime.toml`. Step names must be unique within the job.
    ///
    /// ```no_run
    /// use overtime::{Job, JobContext, JobResult, wait::Match};
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Checkout { order: String }
    /// #[derive(Deserialize)]
    /// struct Paid { order_id: String, cents: u64 }
    ///
    /// impl Job for Checkout {
    ///     const NAME: &'static str = "checkout";
    ///     type State = ();
    ///     async fn run(self, ctx: JobContext<()>) -> JobResult {
    ///         let on = Match::field("data.order_id", &self.order);
    ///         match ctx.wait_for_event::<Paid>("paid", "payment.succeeded", on, Duration::from_secs(3600)).await? {
    ///             Some(paid) => println!("paid {} cents", paid.data.cents),
    ///             None => println!("no payment within the hour"),
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn wait_for_event<T: DeserializeOwned>(
        &self,
        step: &str,
        event: &str,
        on: Match,
        timeout: Duration,
    ) -> Result<Option<ReceivedEvent<T>>, JobError> {
        let store = self.step_store(&format!("wait {step:?}"))?.clone();
        if self.queue().is_fifo() {
            return Err(JobError::permanent(format!(
                "wait {step:?} needs a standard queue: FIFO queues cannot delay a message"
            )));
        }
        let value = on.value.clone().map_err(|e| {
            JobError::permanent(format!(
                "wait {step:?}: the value to match does not serialize: {e}"
            ))
        })?;
        let timeout = timeout.min(MAX_WAIT);
        let run = self.job_id().to_owned();
        let deadline_ms = self
            .step(&format!("wait:{step}:deadline"), || async {
                Ok(self
                    .queue()
                    .now_ms()
                    .saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)))
            })
            .await?;
        let result = result_step(step);
        let stored = match store.step(&run, &result).await.map_err(JobError::retry)? {
            Some(stored) => stored,
            None if self.queue().now_ms() >= deadline_ms => store
                .put_step(&run, &result, "null")
                .await
                .map_err(JobError::retry)?,
            None => {
                let waiter = Waiter {
                    run: run.clone(),
                    step: step.to_owned(),
                    deadline_ms,
                    cancel: false,
                };
                register(&*store, event, &on.path, &value, &waiter)
                    .await
                    .map_err(JobError::retry)?;
                let now = self.queue().now_ms();
                store
                    .put_step(&run, &since_step(step), &now.to_string())
                    .await
                    .map_err(JobError::retry)?;
                let left = u64::try_from(deadline_ms.saturating_sub(now)).unwrap_or(0);
                tracing::info!(step, event, path = on.path, "waiting for an event");
                return Err(JobError::suspend_waiting(
                    Duration::from_millis(left),
                    step,
                    format!("waiting for {event:?} at {step:?}"),
                ));
            }
        };
        self.claim_continuation(&*store, step).await?;
        if stored == "null" {
            tracing::info!(step, event, "the wait timed out");
            return Ok(None);
        }
        serde_json::from_str(&stored).map(Some).map_err(|e| {
            JobError::permanent(format!(
                "the event that ended wait {step:?} does not fit the type the job asks for: {e}"
            ))
        })
    }

    /// Registers the run as cancelled by `cancel` (once per run), then checks whether it is.
    pub(crate) async fn watch_cancel(&self, cancel: CancelOn) -> Result<(), JobError> {
        let store = self.step_store("cancel_on")?.clone();
        let value = cancel.on.value.map_err(|e| {
            JobError::permanent(format!(
                "cancel_on: the value to match does not serialize: {e}"
            ))
        })?;
        let run = self
            .meta
            .run
            .as_ref()
            .map_or(self.job_id(), |(run, _)| run.as_str())
            .to_owned();
        if store
            .step(&run, CANCEL_SINCE_STEP)
            .await
            .map_err(JobError::retry)?
            .is_none()
        {
            let waiter = Waiter {
                run: run.clone(),
                step: CANCEL_STEP.to_owned(),
                deadline_ms: now_ms().saturating_add(CANCEL_WATCH_MS),
                cancel: true,
            };
            register(&*store, &cancel.event, &cancel.on.path, &value, &waiter)
                .await
                .map_err(JobError::retry)?;
            store
                .put_step(&run, CANCEL_SINCE_STEP, &now_ms().to_string())
                .await
                .map_err(JobError::retry)?;
        }
        let _ = self.meta.cancel_watch.set(run);
        self.check_cancelled().await
    }

    /// At a step boundary of a job that watches for its cancelling event: stops it if the
    /// event came. A chunked run is stopped by its next slice instead (the wake job asked).
    pub(crate) async fn check_cancelled(&self) -> Result<(), JobError> {
        let (Some(run), Some(store)) = (self.meta.cancel_watch.get(), &self.durable.store) else {
            return Ok(());
        };
        let Some(event) = store
            .step(run, CANCEL_STEP)
            .await
            .map_err(JobError::retry)?
        else {
            return Ok(());
        };
        if store.get(run).await.map_err(JobError::retry)?.is_some() {
            return Ok(());
        }
        let event = serde_json::from_str::<Value>(&event).unwrap_or_default();
        // A newer singleton run says why itself; an event is named by its id.
        if let Some(reason) = event["reason"].as_str() {
            return Err(JobError::cancelled(reason.to_owned()));
        }
        let id = event["id"].as_str().unwrap_or_default();
        Err(JobError::cancelled(format!("cancelled by event {id:?}")))
    }

    /// Of the messages marked as continuing wait `step`, lets the first through (and its own
    /// redeliveries); the others are superseded. Unmarked messages (later hops of the run, its
    /// retries) pass.
    async fn claim_continuation(&self, store: &dyn RunStore, step: &str) -> Result<(), JobError> {
        if self.meta.wait_mark.as_deref() != Some(step) {
            return Ok(());
        }
        let key = format!("wait-pass/{}/{step}", self.job_id());
        let now = now_ms();
        let mine = self.message_id();
        let claim = Entry::new(mine, now + PASS_KEPT_MS);
        if store
            .put_entry(&key, &claim, None, now)
            .await
            .map_err(JobError::retry)?
        {
            return Ok(());
        }
        match store.entry(&key, now).await.map_err(JobError::retry)? {
            Some(holder) if holder.value == mine => Ok(()),
            Some(holder) => Err(JobError::superseded(format!(
                "message {} continues wait {step:?}",
                holder.value
            ))),
            None => Err(JobError::retry(format!(
                "the claim on wait {step:?} changed while read; trying again"
            ))),
        }
    }
}

/// Adds `waiter` to the index of `event`'s waiters on `path` = `value`, and `path` to the
/// event's fields (both idempotent).
async fn register(
    store: &dyn RunStore,
    event: &str,
    path: &str,
    value: &str,
    waiter: &Waiter,
) -> Result<(), StoreError> {
    let keep_until = waiter.deadline_ms.saturating_add(INDEX_MARGIN_MS);
    update_list(
        store,
        &fields_key(event),
        keep_until,
        |fields: &mut Vec<String>| {
            if fields.iter().any(|f| f == path) {
                false
            } else {
                fields.push(path.to_owned());
                true
            }
        },
    )
    .await?;
    update_list(
        store,
        &waiters_key(event, path, value),
        keep_until,
        |waiters: &mut Vec<Waiter>| {
            if waiters.contains(waiter) {
                false
            } else {
                waiters.push(waiter.clone());
                true
            }
        },
    )
    .await
}

/// Reads the JSON list under `key` and writes it back changed by `change` (which says whether
/// it changed), kept at least until `keep_until`; retried when another writer came first.
pub(crate) async fn update_list<T, F>(
    store: &dyn RunStore,
    key: &str,
    keep_until: i64,
    mut change: F,
) -> Result<(), StoreError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut Vec<T>) -> bool,
{
    for attempt in 0..CAS_ATTEMPTS {
        crate::flow::slots::cas_pause(attempt).await;
        let now = now_ms();
        let current = store.entry(key, now).await?;
        let mut list: Vec<T> = match &current {
            Some(e) => serde_json::from_str(&e.value).map_err(|err| StoreError::Corrupt {
                id: key.to_owned(),
                reason: err.to_string(),
            })?,
            None => Vec::new(),
        };
        let expires = current.as_ref().map_or(0, |e| e.expires_ms);
        if !change(&mut list) && expires >= keep_until {
            return Ok(());
        }
        let value = serde_json::to_string(&list).map_err(|err| StoreError::Corrupt {
            id: key.to_owned(),
            reason: err.to_string(),
        })?;
        // An emptied list expires at once.
        let expires_ms = if list.is_empty() {
            now
        } else {
            expires.max(keep_until)
        };
        let next = Entry::new(value, expires_ms);
        let token = current.as_ref().map(|e| e.token.as_str());
        if store.put_entry(key, &next, token, now).await? {
            return Ok(());
        }
    }
    Err(StoreError::Unavailable(format!(
        "{key} kept changing; try again"
    )))
}
