//! Chunked jobs: work too long for one invocation, run as a chain of slices.
//!
//! The job keeps a cursor and a `step` that processes a bounded unit from it. Each slice steps
//! until `min(deadline, budget) − margin` — the margin grows with the slowest recent step —
//! then checkpoints the cursor in the run store and enqueues the next slice *before* its own
//! message is acknowledged. The run store makes the chain exactly-once:
//!
//! - a slice claims its run (conditional write on the record's version); a duplicate message
//!   for a slice someone else holds waits and is judged again (it may be the holder's own
//!   message, delivered twice), and a message for an older slice is dropped;
//! - a crash between checkpoint and enqueue is repaired: the redelivered old slice sees the
//!   successor unsent and sends it;
//! - the run completes once (the final checkpoint is the one conditional write that wins).
//!
//! Items are processed at least once; re-processing is confined to a slice that crashed, which
//! resumes from its last checkpoint.
//!
//! A chunked job is a [`Job`] whose `run` hands its message to [`JobContext::run_slice`]; it
//! registers with [`Worker::job`](crate::Worker::job) and is sent with
//! [`Queue::send`](crate::Queue::send) like any other, and the sent job id is the run's id.
//!
//! ```no_run
//! use overtime::chunk::{Advance, Chunked, SliceContext};
//! use overtime::{Job, JobContext, JobError, JobResult, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Backfill { from: u64, to: u64 }
//!
//! impl Job for Backfill {
//!     const NAME: &'static str = "backfill";
//!     type State = ();
//!     async fn run(self, ctx: JobContext<()>) -> JobResult { ctx.run_slice(self).await }
//! }
//!
//! impl Chunked for Backfill {
//!     type Cursor = u64;
//!
//!     fn start(&self) -> u64 { self.from }
//!     fn total(&self) -> Option<u64> { Some(self.to - self.from) }
//!
//!     async fn advance(&self, next: u64, ctx: &mut SliceContext<'_, ()>) -> Result<Advance<u64>, JobError> {
//!         let end = (next + 100).min(self.to);
//!         // … process items next..end …
//!         ctx.progress(end - next);
//!         Ok(if end == self.to { Advance::Done } else { Advance::To(end) })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), overtime::BoxError> {
//! // The run store comes from OVERTIME_RUN_STORE (sqlite:PATH, dynamodb:TABLE).
//! Worker::new().job::<Backfill>().run().await?;
//! # Ok(()) }
//! ```

mod record;
mod slice;

use crate::job::{Job, JobContext, JobError, JobResult};
use crate::store::RunStore;
use record::{fail_run, to_json};
use serde::{Serialize, de::DeserializeOwned};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// A job that runs as a chain of slices from a cursor: its [`Job::run`] is
/// `ctx.run_slice(self).await`.
pub trait Chunked: Job + Sync {
    /// Where the work is: checkpointed between slices, so it must be serde.
    type Cursor: Serialize + DeserializeOwned + Clone + Send + 'static;

    /// The cursor of a new run.
    fn start(&self) -> Self::Cursor;

    /// Items in all, when known, for progress reports.
    fn total(&self) -> Option<u64> {
        None
    }

    /// Processes one bounded unit of work from `cursor`: where to go on from, or done. Keep
    /// it short next to the slice budget; a slice always advances at least once.
    fn advance(
        &self,
        cursor: Self::Cursor,
        ctx: &mut SliceContext<'_, Self::State>,
    ) -> impl Future<Output = Result<Advance<Self::Cursor>, JobError>> + Send;

    /// How this job's slices are sized and its runs bounded; by default
    /// [`ChunkOptions::from_env`].
    fn chunking() -> ChunkOptions {
        ChunkOptions::from_env()
    }
}

/// What [`Chunked::advance`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance<C> {
    /// More to do, from this cursor.
    To(C),
    /// The run is complete.
    Done,
}

/// What [`Chunked::advance`] sees: the job's context, and where to report progress.
pub struct SliceContext<'a, S> {
    pub(super) job: &'a JobContext<S>,
    pub(super) run_id: &'a str,
    pub(super) slice: u64,
    pub(super) items: u64,
}

impl<S> SliceContext<'_, S> {
    /// Counts `items` as processed.
    pub fn progress(&mut self, items: u64) {
        self.items = self.items.saturating_add(items);
    }

    /// The run this slice belongs to.
    pub fn run_id(&self) -> &str {
        self.run_id
    }

    /// This slice's number (0 first).
    pub fn slice(&self) -> u64 {
        self.slice
    }

    /// The shared state.
    pub fn state(&self) -> &S {
        self.job.state()
    }

    /// The job context of this slice's message.
    pub fn job(&self) -> &JobContext<S> {
        self.job
    }
}

/// What a slice did, as it happens: for metrics, and for fault-injection tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SliceEvent {
    /// The slice claimed its run and starts stepping.
    Claimed {
        /// The run.
        run: String,
        /// The slice.
        slice: u64,
    },
    /// The cursor after the slice is stored; its successor is not sent yet.
    Checkpointed {
        /// The run.
        run: String,
        /// The slice that checkpointed.
        slice: u64,
    },
    /// The successor's message is sent; this slice's own message is not acknowledged yet.
    Enqueued {
        /// The run.
        run: String,
        /// The slice that enqueued its successor.
        slice: u64,
    },
    /// A redelivered slice found its successor unsent and sent it.
    Repaired {
        /// The run.
        run: String,
        /// The slice whose successor was sent again.
        slice: u64,
    },
    /// The run completed; this happens once per run.
    Completed {
        /// The run.
        run: String,
        /// Its last slice.
        slice: u64,
    },
    /// A message was dropped: stale, or for a run that ended.
    Dropped {
        /// The run.
        run: String,
        /// The slice the message carried.
        slice: u64,
        /// Why.
        reason: &'static str,
    },
}

/// Receives every [`SliceEvent`] ([`Worker::on_slice`](crate::Worker::on_slice)).
pub(crate) type Observer = Arc<dyn Fn(&SliceEvent) + Send + Sync>;

/// What durable work needs from the worker it runs under: the run store, who observes its
/// slices, and (tests) a fixed number of steps per slice.
#[derive(Clone, Default)]
pub(crate) struct Durable {
    pub(crate) store: Option<Arc<dyn RunStore>>,
    pub(crate) observer: Option<Observer>,
    pub(crate) slice_steps: Option<u64>,
}

impl Durable {
    pub(super) fn emit(&self, event: SliceEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}

/// How slices are sized and runs bounded ([`Chunked::chunking`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChunkOptions {
    /// A slice's time when the platform gives no deadline (the poller, Vercel's maxDuration,
    /// tests), and its cap when it does. Default 60 s.
    pub budget: Duration,
    /// Kept back at the end of a slice for the checkpoint and the enqueue: at most this, and
    /// at most a tenth of the slice. Default 1 s.
    pub reserve: Duration,
    /// How long a slice's claim holds without renewal (renewed every third of it while the
    /// slice steps): how soon another delivery may take over from one that crashed. Default 30 s;
    /// `OVERTIME_SLICE_LEASE_SECS` sets it.
    pub lease: Duration,
    /// A run fails permanently past this many slices (a cursor that never ends). Default 10,000.
    pub max_slices: u64,
    /// A run fails permanently past this age. Default 7 days.
    pub max_duration: Duration,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            budget: Duration::from_secs(60),
            reserve: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            max_slices: 10_000,
            max_duration: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The longest slice budget taken from the environment: a day.
const MAX_BUDGET: Duration = Duration::from_secs(86_400);

/// A positive number of seconds from the environment, capped at [`MAX_BUDGET`] (a typo there
/// must not overflow the arithmetic on it).
fn secs_var(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            Duration::try_from_secs_f64(s)
                .unwrap_or(MAX_BUDGET)
                .min(MAX_BUDGET)
        })
}

impl ChunkOptions {
    /// A slice's time without a platform deadline, and its cap with one.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// How long a slice's claim holds without renewal.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// A run fails permanently past this many slices.
    pub fn max_slices(mut self, n: u64) -> Self {
        self.max_slices = n;
        self
    }

    /// A run fails permanently past this age.
    pub fn max_duration(mut self, age: Duration) -> Self {
        self.max_duration = age;
        self
    }

    /// Defaults, with the budget from `OVERTIME_SLICE_BUDGET_SECS` and the lease from
    /// `OVERTIME_SLICE_LEASE_SECS` when set.
    pub fn from_env() -> Self {
        let mut options = ChunkOptions::default();
        if let Some(budget) = secs_var(crate::env::SLICE_BUDGET_SECS) {
            options.budget = budget;
        }
        if let Some(lease) = secs_var(crate::env::SLICE_LEASE_SECS) {
            options.lease = lease;
        }
        options
    }
}

impl<S: Send + Sync + 'static> JobContext<S> {
    /// Runs this message's slice of chunked job `job`: the whole `run` of a [`Chunked`] job.
    ///
    /// Claims the run's current slice in the run store, advances from the checkpointed
    /// cursor until the slice's time is up, checkpoints, and enqueues the next slice before
    /// this message is acknowledged. The first slice creates the run, under the message's job
    /// id; a message for a slice already done is dropped.
    pub async fn run_slice<C: Chunked<State = S>>(self, job: C) -> JobResult {
        let Some(store) = self.durable.store.clone() else {
            return Err(JobError::permanent(format!(
                "chunked job {} needs a run store: set OVERTIME_RUN_STORE (sqlite:PATH or dynamodb:TABLE) or call Worker::store",
                C::NAME
            )));
        };
        let payload = to_json("the job", &job)?;
        let options = C::chunking();
        let store = &*store;
        let (run_id, slice) = match &self.meta.run {
            Some((id, slice)) => (id.clone(), *slice),
            None => (self.job_id().to_owned(), 0),
        };
        let span = tracing::info_span!(parent: self.span(), "slice", run = %run_id, slice);
        // Boxed: a slice's future nests deep enough to hit the compiler's layout limit.
        let this = slice::Slice::new(job, payload, &self, options, store, run_id.clone(), slice);
        let result = Box::pin(this.run().instrument(span)).await;
        if let Err(error) = &result {
            // The message is about to be dead-lettered (permanent, or its last attempt): whatever
            // failed, outside a step too (the store, the successor's send), the run must not stay
            // "running" with no message left to move it.
            if error.is_final(self.attempt(), self.max_attempts())
                && let Ok(Some(run)) = store.get(&run_id).await
                && let Err(e) = fail_run(store, run, &error.to_string()).await
            {
                tracing::warn!(run = %run_id, error = %e, "could not record the run's failure");
            }
        }
        result
    }
}
