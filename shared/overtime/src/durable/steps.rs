//! Memoized steps: multi-step work that resumes at the step that failed.
//!
//! `ctx.step(name, f)` runs `f` the first time and stores its result in the run store under
//! the job's id (stable across retries and delay hops); a retry gets the stored result back
//! without running `f` again. `ctx.sleep(name, d)` suspends the job: its message is re-enqueued
//! with the delay and the attempt does not count.
//!
//! ```no_run
//! use overtime::{Job, JobContext, JobResult};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Checkout { order: String, cents: u64 }
//!
//! # async fn charge(_: &str, _: u64) -> Result<String, std::io::Error> { Ok("ch_1".into()) }
//! # async fn send_receipt(_: &str) -> Result<(), std::io::Error> { Ok(()) }
//! # async fn notify_team(_: &str) -> Result<(), std::io::Error> { Ok(()) }
//! impl Job for Checkout {
//!     const NAME: &'static str = "checkout";
//!     type State = ();
//!
//!     async fn run(self, ctx: JobContext<()>) -> JobResult {
//!         // Charged once, even if a later step fails and the job is retried.
//!         let charge: String = ctx.step("charge", || async { Ok(charge(&self.order, self.cents).await?) }).await?;
//!         ctx.step("receipt", || async { Ok(send_receipt(&charge).await?) }).await?;
//!         ctx.sleep("cool-off", Duration::from_secs(3600)).await?;
//!         ctx.step("notify", || async { Ok(notify_team(&self.order).await?) }).await?;
//!         Ok(())
//!     }
//! }
//! ```

use crate::job::{JobContext, JobError};
use crate::store::{MAX_STEP_RESULT_BYTES, RunStore, StoreError};
use serde::{Serialize, de::DeserializeOwned};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

impl<S> JobContext<S> {
    pub(crate) fn step_store(&self, what: &str) -> Result<&Arc<dyn RunStore>, JobError> {
        self.durable.store.as_ref().ok_or_else(|| {
            JobError::permanent(format!(
                "{what} needs a run store: set OVERTIME_RUN_STORE (sqlite:PATH or dynamodb:TABLE) or call Worker::store"
            ))
        })
    }

    /// Runs `f` for this job and returns its result; on a retry of the job, returns the stored
    /// result without running `f`. An error from `f` fails the job as usual (retried with
    /// backoff, or dead-lettered if permanent), and nothing is stored for the step.
    ///
    /// `f` runs again only if the store cannot be written after it succeeded: give side effects
    /// an idempotency key ([`job_id`](Self::job_id) plus the step name) to make that harmless.
    ///
    /// Step names must be unique within the job. Results are stored as JSON, at most
    /// [`MAX_STEP_RESULT_BYTES`]: store a reference to large data instead.
    pub async fn step<T, F, Fut>(&self, name: &str, f: F) -> Result<T, JobError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, JobError>>,
    {
        let store = self.step_store(&format!("step {name:?}"))?;
        self.check_cancelled().await?;
        let run = self.job_id();
        let decode = |json: &str| {
            serde_json::from_str::<T>(json).map_err(|e| {
                JobError::permanent(format!(
                    "the stored result of step {name:?} does not fit the type the job asks for now: {e}"
                ))
            })
        };
        if let Some(stored) = store.step(run, name).await.map_err(JobError::retry)? {
            tracing::debug!(step = name, "step already done; using its stored result");
            return decode(&stored);
        }
        let value = f().await?;
        let json = serde_json::to_string(&value).map_err(|e| {
            JobError::permanent(format!("step {name:?}'s result does not serialize: {e}"))
        })?;
        if json.len() > MAX_STEP_RESULT_BYTES {
            return Err(JobError::permanent(StoreError::TooLarge {
                step: name.to_owned(),
                size: json.len(),
                limit: MAX_STEP_RESULT_BYTES,
            }));
        }
        // First write wins: if a concurrent delivery stored a result first, use that one.
        let stored = store
            .put_step(run, name, &json)
            .await
            .map_err(JobError::retry)?;
        tracing::debug!(step = name, "step done");
        decode(&stored)
    }

    /// Suspends the job for `duration` (the first time this `name` is reached): the message is
    /// re-enqueued to run again after the delay, hopping past SQS's 900 s limit, and steps done
    /// before it are not repeated. Returns once the time has come.
    /// Not on FIFO queues, which cannot delay a message: there it fails permanently.
    pub async fn sleep(&self, name: &str, duration: Duration) -> Result<(), JobError> {
        if self.queue().is_fifo() {
            return Err(JobError::permanent(format!(
                "sleep {name:?} needs a standard queue: FIFO queues cannot delay a message"
            )));
        }
        let key = format!("sleep:{name}");
        let wake_ms = self
            .step(&key, || async {
                Ok(self
                    .queue()
                    .now_ms()
                    .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)))
            })
            .await?;
        let left = wake_ms.saturating_sub(self.queue().now_ms());
        if left <= 0 {
            return Ok(());
        }
        Err(JobError::suspend(
            Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            format!("sleeping until {name:?} is over"),
        ))
    }
}
