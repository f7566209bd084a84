//! Jobs: a stable name, a serde payload, and an async `run` that says what happened.

use crate::queue::Queue;
use crate::worker::Backoff;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::Span;

/// A boxed error that can cross threads: what job code usually has at hand.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What [`Job::run`] returns: `Ok(())` when done, or a [`JobError`] saying whether to retry.
pub type JobResult = Result<(), JobError>;

/// A unit of background work.
///
/// The job value itself is the payload: it is serialized into the message body when sent
/// and deserialized by the worker before `run`. [`Job::NAME`] routes it; keep it stable
/// across deploys, since messages already in a queue carry it. Its policies (attempts,
/// backoff) come from [`Job::options`].
///
/// ```
/// use overtime::{Job, JobContext, JobError, JobResult};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct WelcomeEmail {
///     to: String,
/// }
///
/// impl Job for WelcomeEmail {
///     const NAME: &'static str = "welcome-email";
///     type State = ();
///
///     async fn run(self, ctx: JobContext<()>) -> JobResult {
///         if !self.to.contains('@') {
///             // Retrying will not fix this address: dead-letter it at once.
///             return Err(JobError::permanent(format!("not an email address: {}", self.to)));
///         }
///         tracing::info!(attempt = ctx.attempt(), "sending welcome email");
///         Ok(())
///     }
/// }
/// ```
///
/// A chunked job ([`Chunked`](crate::chunk::Chunked)) is a job too: its `run` is
/// `ctx.run_slice(self).await`, and it registers and sends like any other.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The stable name this job travels under.
    const NAME: &'static str;

    /// Shared state the worker hands to every run (clients, pools); `()` for none.
    type State: Send + Sync + 'static;

    /// Does the work. Any error converted with `?` is retried with backoff; return
    /// [`JobError::permanent`] for failures a retry cannot fix.
    fn run(self, ctx: JobContext<Self::State>) -> impl Future<Output = JobResult> + Send;

    /// This job's policies: attempts and backoff. The default takes the worker's.
    ///
    /// ```
    /// # use overtime::{Backoff, Job, JobContext, JobOptions, JobResult};
    /// # use serde::{Deserialize, Serialize};
    /// # use std::time::Duration;
    /// # #[derive(Serialize, Deserialize)] struct Charge;
    /// impl Job for Charge {
    ///     const NAME: &'static str = "charge";
    ///     type State = ();
    ///     async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) }
    ///
    ///     fn options() -> JobOptions {
    ///         JobOptions::new()
    ///             .max_attempts(3)
    ///             .backoff(Backoff::new(Duration::from_secs(30), Duration::from_secs(600)))
    ///     }
    /// }
    /// ```
    fn options() -> JobOptions {
        JobOptions::new()
    }

    /// The event that cancels this job (or chunked run) while it runs, if any: a matching
    /// event stops it at its next step or slice boundary, recorded as cancelled. Needs a run
    /// store and a listener of the event with the job [`WAKE_JOB`](crate::wait::WAKE_JOB).
    ///
    /// ```
    /// # use overtime::{Job, JobContext, JobResult, wait::{CancelOn, Match}};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)] struct Fulfil { order: String }
    /// impl Job for Fulfil {
    ///     const NAME: &'static str = "fulfil";
    ///     type State = ();
    ///     async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) }
    ///
    ///     fn cancel_on(&self) -> Option<CancelOn> {
    ///         Some(CancelOn::new("order.cancelled", Match::field("data.order_id", &self.order)))
    ///     }
    /// }
    /// ```
    fn cancel_on(&self) -> Option<crate::wait::CancelOn> {
        None
    }

    /// This job's flow control: how many run at once, how often they start, which run at all,
    /// per key computed from the payload. Checked when the worker starts (a bad declaration
    /// stops it with what to change); enforced through the run store, so it holds across
    /// every worker. None by default.
    ///
    /// ```
    /// # use overtime::{Job, JobContext, JobResult};
    /// # use overtime::flow::{Concurrency, Flow, Throttle};
    /// # use serde::{Deserialize, Serialize};
    /// # use std::time::Duration;
    /// #[derive(Serialize, Deserialize)]
    /// struct SyncAccount { account: String }
    ///
    /// impl Job for SyncAccount {
    ///     const NAME: &'static str = "sync-account";
    ///     type State = ();
    ///     async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) }
    ///
    ///     fn flow() -> Flow<Self> {
    ///         Flow::new()
    ///             // One sync per account at a time, ten in all.
    ///             .concurrency(Concurrency::per_key(1, |j: &Self| j.account.clone()).total(10))
    ///             // The CRM allows 5 calls per 2 s.
    ///             .throttle(Throttle::new(5, Duration::from_secs(2)).burst(2))
    ///     }
    /// }
    /// assert!(SyncAccount::flow().check().is_ok());
    /// ```
    fn flow() -> crate::flow::Flow<Self> {
        crate::flow::Flow::new()
    }
}

/// A job type's own policies ([`Job::options`]); what it leaves unset, the worker decides.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct JobOptions {
    /// Attempts before a retried message is dead-lettered (capped by the queue's
    /// `maxReceiveCount`); `None`: the worker's.
    pub max_attempts: Option<u32>,
    /// Retry delays; `None`: the worker's.
    pub backoff: Option<Backoff>,
}

impl JobOptions {
    /// No policy of its own: the worker's apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts before a retried message is dead-lettered (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// The retry delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }
}

/// Everything a running job may ask about its delivery.
///
/// The worker builds one per delivery; a unit test builds one with
/// [`JobContext::builder`] (feature `test-util`).
pub struct JobContext<S> {
    pub(crate) meta: Arc<Delivered>,
    pub(crate) queue: Queue,
    pub(crate) state: Arc<S>,
    pub(crate) span: Span,
    pub(crate) durable: crate::chunk::Durable,
}

/// Facts about one delivery of one message, shared by the context and the worker.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) job: &'static str,
    pub(crate) job_id: String,
    pub(crate) message_id: String,
    pub(crate) attempt: u32,
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) idempotency_key: Option<String>,
    /// Durable work: the run and slice the message carries.
    pub(crate) run: Option<(String, u64)>,
    /// The wait this message was re-enqueued from, if any (`overtime.wait`).
    pub(crate) wait_mark: Option<String>,
    /// Set once the job watches for its cancelling event: the run id whose `cancel` step
    /// every step boundary checks.
    pub(crate) cancel_watch: std::sync::OnceLock<String>,
    /// Set by a chunked run's slice that sent its successor: the run goes on.
    pub(crate) continues: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<S> JobContext<S> {
    /// Which attempt this is, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.meta.attempt
    }

    /// How many attempts the worker allows before the message is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.meta.max_attempts
    }

    /// Whether a retry of this attempt would go to the dead-letter queue instead.
    pub fn is_last_attempt(&self) -> bool {
        self.meta.attempt >= self.meta.max_attempts
    }

    /// The SQS message id of this delivery.
    pub fn message_id(&self) -> &str {
        &self.meta.message_id
    }

    /// The id overtime gave the job when it was sent; the same on every attempt.
    pub fn job_id(&self) -> &str {
        &self.meta.job_id
    }

    /// The job's name.
    pub fn job_name(&self) -> &'static str {
        self.meta.job
    }

    /// The idempotency key the sender attached, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.meta.idempotency_key.as_deref()
    }

    /// When the platform will stop this function, if it said so and the time is plausible.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.meta.deadline
    }

    /// Time left before [`deadline`](Self::deadline), if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.meta.deadline.map(|d| {
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    /// The queue this message came from, to enqueue follow-up work.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The worker's shared state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The span every log line of this job is recorded in (job name, message id, attempt).
    pub fn span(&self) -> &Span {
        &self.span
    }
}

/// Why a job did not succeed, and whether trying again may help.
///
/// Any error converts into a retryable `JobError` with `?`; use [`JobError::permanent`]
/// for failures that no retry can fix (they go to the dead-letter queue at once).
pub struct JobError {
    pub(crate) kind: Kind,
    pub(crate) source: BoxError,
    /// A suspension at `ctx.wait_for_event`: the wait's step, marked on the re-enqueued message.
    pub(crate) wait_step: Option<Box<str>>,
}

/// What the worker does with a job that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Try again: after the given delay, or after the backoff.
    Retry(Option<Duration>),
    /// Do not try again; dead-letter the message with this error as its reason.
    Permanent,
}

/// A `JobError` is a failure, or a suspension: the job is not failing but waiting
/// ([`JobContext::sleep`], a slice another delivery holds), and its message is re-enqueued
/// to run after the wait, hopping past SQS's 900 s, without using up an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Failed(Failure),
    Suspended(Duration),
    /// Another message of the same run continues it (after a wait both the wake-up and the
    /// timeout's message arrive): this one is deleted without running further.
    Superseded,
    /// Its cancelling event came ([`Job::cancel_on`]): it stops, recorded in the run store.
    Cancelled,
}

impl JobError {
    /// A failure worth retrying after the backoff.
    pub fn retry(err: impl Into<BoxError>) -> Self {
        Self::failed(Failure::Retry(None), err)
    }

    /// A failure worth retrying after `delay` (e.g. a rate limit's `Retry-After`).
    pub fn retry_after(err: impl Into<BoxError>, delay: Duration) -> Self {
        Self::failed(Failure::Retry(Some(delay)), err)
    }

    /// A failure no retry can fix: the message goes to the dead-letter queue with this reason.
    pub fn permanent(err: impl Into<BoxError>) -> Self {
        Self::failed(Failure::Permanent, err)
    }

    fn failed(failure: Failure, err: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Failed(failure),
            source: err.into(),
            wait_step: None,
        }
    }

    /// The job waits `wait` and runs again, its attempts untouched.
    pub(crate) fn suspend(wait: Duration, why: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Suspended(wait),
            source: why.into(),
            wait_step: None,
        }
    }

    /// The job waits for an event at step `step`, or until `wait` is over.
    pub(crate) fn suspend_waiting(wait: Duration, step: &str, why: impl Into<BoxError>) -> Self {
        Self {
            wait_step: Some(step.into()),
            ..Self::suspend(wait, why)
        }
    }

    /// The job was cancelled by an event; it stops here.
    pub(crate) fn cancelled(why: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Cancelled,
            source: why.into(),
            wait_step: None,
        }
    }

    /// Another message of this run continues it; this one ends here.
    pub(crate) fn superseded(why: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Superseded,
            source: why.into(),
            wait_step: None,
        }
    }

    /// Whether the worker will retry, and when; `None` when the job is not failing but
    /// suspended (it sleeps, or waits for a slice another delivery holds).
    pub fn failure(&self) -> Option<Failure> {
        match self.kind {
            Kind::Failed(f) => Some(f),
            Kind::Suspended(_) | Kind::Superseded | Kind::Cancelled => None,
        }
    }

    /// How long the job waits before it runs again, when it is suspended rather than failing.
    pub fn suspended_for(&self) -> Option<Duration> {
        match self.kind {
            Kind::Suspended(wait) => Some(wait),
            Kind::Failed(_) | Kind::Superseded | Kind::Cancelled => None,
        }
    }

    /// Whether this failure sends the message to the dead-letter queue on attempt `attempt`
    /// of `max_attempts`.
    pub(crate) fn is_final(&self, attempt: u32, max_attempts: u32) -> bool {
        match self.kind {
            Kind::Failed(Failure::Permanent) => true,
            Kind::Failed(Failure::Retry(_)) => attempt >= max_attempts,
            Kind::Suspended(_) | Kind::Superseded | Kind::Cancelled => false,
        }
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

// `JobError` deliberately does not implement `std::error::Error`, so that this blanket
// conversion (what makes `?` work on any error) does not overlap `From<T> for T`.
impl<E: Into<BoxError>> From<E> for JobError {
    fn from(err: E) -> Self {
        Self::retry(err)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::error::error_chain(&*self.source))
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> JobResult {
        let _n: u32 = s.parse()?;
        Ok(())
    }

    #[test]
    fn question_mark_retries_and_permanent_does_not() {
        let err = parse("x").err().and_then(|e| e.failure());
        assert_eq!(err, Some(Failure::Retry(None)));
        let p = JobError::permanent("bad address");
        assert_eq!(p.failure(), Some(Failure::Permanent));
        assert!(p.is_final(1, 5));
        assert_eq!(p.to_string(), "bad address");
        let later = JobError::retry_after("rate limited", Duration::from_secs(30));
        assert_eq!(
            later.failure(),
            Some(Failure::Retry(Some(Duration::from_secs(30))))
        );
        assert!(!later.is_final(4, 5) && later.is_final(5, 5));
        let asleep = JobError::suspend(Duration::from_secs(60), "sleeping");
        assert_eq!(asleep.failure(), None);
        assert_eq!(asleep.suspended_for(), Some(Duration::from_secs(60)));
        assert!(!asleep.is_final(5, 5));
    }
}
