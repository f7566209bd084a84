//! Jobs: a stable name, a serde payload, and an async `run` that says what happened.

use crate::queue::Queue;
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
/// across deploys, since messages already in a queue carry it.
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
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The stable name this job travels under.
    const NAME: &'static str;

    /// Shared state the worker hands to every run (clients, pools); `()` for none.
    type State: Send + Sync + 'static;

    /// Does the work. Any error converted with `?` is retried with backoff; return
    /// [`JobError::permanent`] for failures a retry cannot fix.
    fn run(self, ctx: JobContext<Self::State>) -> impl Future<Output = JobResult> + Send;
}

/// Everything a running job may ask about its delivery.
pub struct JobContext<S> {
    pub(crate) meta: Arc<Delivered>,
    pub(crate) queue: Queue,
    pub(crate) state: Arc<S>,
    pub(crate) span: Span,
    pub(crate) store: Option<Arc<dyn crate::store::RunStore>>,
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
    pub(crate) kind: Failure,
    pub(crate) source: BoxError,
}

/// What the worker should do with a job that did not finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Try again: after the given delay, or after the worker's backoff.
    Retry(Option<Duration>),
    /// Do not try again; dead-letter the message with this error as its reason.
    Permanent,
    /// Not a failure: the job sleeps ([`JobContext::sleep`]) and runs again after this long;
    /// its message is re-enqueued with the delay (hopping past SQS's 900 s), and its attempts
    /// start over after the sleep.
    Suspend(Duration),
}

impl JobError {
    /// A failure worth retrying after the worker's backoff.
    pub fn retry(err: impl Into<BoxError>) -> Self {
        Self {
            kind: Failure::Retry(None),
            source: err.into(),
        }
    }

    /// A failure worth retrying after `delay` (e.g. a rate limit's `Retry-After`).
    pub fn retry_after(err: impl Into<BoxError>, delay: Duration) -> Self {
        Self {
            kind: Failure::Retry(Some(delay)),
            source: err.into(),
        }
    }

    /// A failure no retry can fix: the message goes to the dead-letter queue with this reason.
    pub fn permanent(err: impl Into<BoxError>) -> Self {
        Self {
            kind: Failure::Permanent,
            source: err.into(),
        }
    }

    /// Whether the worker will retry, and when.
    pub fn failure(&self) -> Failure {
        self.kind
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
        let err = parse("x").err().map(|e| e.failure());
        assert_eq!(err, Some(Failure::Retry(None)));
        let p = JobError::permanent("bad address");
        assert_eq!(p.failure(), Failure::Permanent);
        assert_eq!(p.to_string(), "bad address");
        let later = JobError::retry_after("rate limited", Duration::from_secs(30));
        assert_eq!(
            later.failure(),
            Failure::Retry(Some(Duration::from_secs(30)))
        );
    }
}
