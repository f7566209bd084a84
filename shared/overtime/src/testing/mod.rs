//! Unit-testing jobs without a server (feature `test-util`): a context to call a job with,
//! an in-memory queue and run store, and a worker that runs what was enqueued.
//!
//! [`JobContext::builder`] builds the context a job's `run` takes, so a test calls the job
//! directly. [`TestWorker`] wraps the app's real [`Worker`]: sends go to an in-memory queue
//! and [`TestWorker::run_until_idle`] delivers them one at a time through the same dispatch as
//! on Lambda (retries with backoff, dead letters with reasons, slices and their successors,
//! memoized steps, sleeps), skipping ahead over delays instead of waiting them out.
//!
//! ```
//! use overtime::testing::{Outcome, TestWorker};
//! use overtime::{Job, JobContext, JobError, JobResult, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Welcome { email: String }
//!
//! impl Job for Welcome {
//!     const NAME: &'static str = "welcome";
//!     type State = ();
//!     async fn run(self, ctx: JobContext<()>) -> JobResult {
//!         if !self.email.contains('@') {
//!             return Err(JobError::permanent("not an email address"));
//!         }
//!         if ctx.attempt() == 1 {
//!             return Err(JobError::retry("the mail server is busy"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Calling the job directly:
//! let ctx = JobContext::builder(()).attempt(2).build();
//! assert!(Welcome { email: "ada@example.com".into() }.run(ctx).await.is_ok());
//!
//! // Through the worker: a retry, then success; a bad address dead-lettered.
//! let worker = TestWorker::new(Worker::new().job::<Welcome>());
//! worker.queue().send(Welcome { email: "ada@example.com".into() }).await?;
//! worker.queue().send(Welcome { email: "nobody".into() }).await?;
//! let report = worker.run_until_idle().await;
//! assert_eq!(report.succeeded(), 1);
//! assert!(matches!(report.runs()[0].outcome, Outcome::Retried { .. }));
//! let dead = worker.dead_letters();
//! assert_eq!(dead[0].reason, "not an email address");
//! # Ok::<(), overtime::BoxError>(()) }).unwrap();
//! ```

mod context;
mod mailbox;
mod report;

pub use context::ContextBuilder;
pub(crate) use mailbox::Mailbox;
pub use report::{DeadLetter, Outcome, Ran, Report};

use crate::envelope::RawEnvelope;
use crate::queue::{Backend, Queue};
use crate::store::{MemoryStore, RunStore};
use crate::worker::{Disposition, Source, Worker};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Checks `store` against the whole [`RunStore`] contract (create once, compare-and-swap,
/// exactly one winner among concurrent writers, newest-first listing, first-write-wins
/// steps): what overtime's own stores pass. Uses fresh random ids, so a shared store is fine.
///
/// # Panics
/// At the first broken promise, saying which.
pub async fn check_store(store: &dyn RunStore) {
    crate::store::conformance::check(store).await;
}

/// How long a received message stays invisible, as on SQS by default.
const VISIBILITY: Duration = Duration::from_secs(30);

/// Deliveries [`TestWorker::run_until_idle`] makes before it decides a job re-enqueues itself
/// forever.
const DEFAULT_MAX_DELIVERIES: usize = 10_000;

/// The app's [`Worker`] over an in-memory queue, dead-letter queue and run store.
pub struct TestWorker<S> {
    worker: Worker<S>,
    source: Arc<Source>,
    mailbox: Arc<Mailbox>,
    dead: Arc<Mailbox>,
    store: Arc<dyn RunStore>,
    max_deliveries: usize,
    last_failure: Arc<Mutex<Option<String>>>,
}

impl<S: Send + Sync + 'static> TestWorker<S> {
    /// Runs `worker`'s jobs from an in-memory queue. It keeps the worker's run store, or gets a
    /// [`MemoryStore`]; attempts and backoff are the worker's and each job's own.
    pub fn new(mut worker: Worker<S>) -> Self {
        let store = worker
            .store
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        worker.store = Some(store.clone());
        let last_failure = Arc::new(Mutex::new(None));
        let seen = last_failure.clone();
        worker.failure_hook = Some(Arc::new(move |reason: &str| {
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
        }));
        let mailbox = Arc::new(Mailbox::default());
        let dead = Arc::new(Mailbox::default());
        let source = Arc::new(Source {
            queue: Queue::with_backend(Backend::Memory(mailbox.clone()), "memory://jobs".into()),
            max_attempts: worker
                .config
                .max_attempts
                .unwrap_or(crate::worker::DEFAULT_MAX_ATTEMPTS),
            max_receive_count: None,
            dead_letter: Queue::with_backend(
                Backend::Memory(dead.clone()),
                "memory://jobs-dlq".into(),
            ),
            visibility_timeout: Some(VISIBILITY),
        });
        Self {
            worker,
            source,
            mailbox,
            dead,
            store,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            last_failure,
        }
    }

    /// Ends every slice of a chunked job after `n` steps (at least 1), whatever the time: a
    /// run of several slices in a test that takes milliseconds.
    pub fn steps_per_slice(mut self, n: u64) -> Self {
        self.worker.slice_steps = Some(n.max(1));
        self
    }

    /// How many deliveries [`run_until_idle`](Self::run_until_idle) makes at most (default
    /// 10,000) before it panics, taking the queue for one that never empties.
    pub fn max_deliveries(mut self, n: usize) -> Self {
        self.max_deliveries = n;
        self
    }

    /// The queue the jobs run from: send to it as the app does.
    pub fn queue(&self) -> &Queue {
        &self.source.queue
    }

    /// The run store durable work keeps its runs and steps in.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.store
    }

    /// Delivers every message, one at a time in the order sent, until the queue is empty:
    /// the jobs' own follow-ups, retries and next slices too. Delays, backoffs and sleeps do
    /// not wait: the queue's clock skips ahead to the next message due.
    ///
    /// # Panics
    /// After [`max_deliveries`](Self::max_deliveries) deliveries with the queue not yet empty.
    pub async fn run_until_idle(&self) -> Report {
        let mut runs = Vec::new();
        while self.mailbox.skip_to_next() {
            let Some(delivery) = self.mailbox.receive(VISIBILITY) else {
                continue;
            };
            assert!(
                runs.len() < self.max_deliveries,
                "TestWorker: {} deliveries and the queue is not empty; does a job enqueue itself forever? (TestWorker::max_deliveries raises the limit)",
                self.max_deliveries
            );
            let (job, job_id, attempt) = match RawEnvelope::decode(&delivery.body) {
                Ok(env) => (
                    env.job.to_string(),
                    env.id.to_string(),
                    env.attempt
                        .saturating_add(delivery.receive_count.saturating_sub(1))
                        .max(1),
                ),
                Err(_) => (String::new(), String::new(), delivery.receive_count),
            };
            let receipt = delivery.receipt_handle.clone();
            let dead_before = self.dead.len();
            *self
                .last_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            let done = self
                .worker
                .process_batch(
                    &self.source,
                    std::slice::from_ref(&delivery),
                    None,
                    &|_, _| {},
                )
                .await;
            let disposition = done.first().copied().unwrap_or(Disposition::Failed);
            let reason = self
                .last_failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            let outcome = match disposition {
                Disposition::Succeeded => {
                    self.mailbox.delete(&receipt);
                    Outcome::Succeeded
                }
                Disposition::Failed => Outcome::Retried { reason },
                Disposition::Settled if self.dead.len() > dead_before => {
                    Outcome::DeadLettered { reason }
                }
                Disposition::Settled => Outcome::Postponed,
            };
            runs.push(Ran {
                job,
                job_id,
                attempt,
                outcome,
            });
        }
        Report::new(runs)
    }

    /// The messages in the dead-letter queue, with their reasons, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead
            .messages()
            .into_iter()
            .map(DeadLetter::from_stored)
            .collect()
    }

    /// Messages still in the queue (none after [`run_until_idle`](Self::run_until_idle)).
    pub fn pending(&self) -> usize {
        self.mailbox.len()
    }
}
