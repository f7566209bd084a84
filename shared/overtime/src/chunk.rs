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
//! ```no_run
//! use overtime::chunk::{Chunked, SliceContext, Step};
//! use overtime::{JobError, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Backfill { from: u64, to: u64 }
//!
//! impl Chunked for Backfill {
//!     const NAME: &'static str = "backfill";
//!     type State = ();
//!     type Cursor = u64;
//!
//!     fn start(&self) -> u64 { self.from }
//!     fn total(&self) -> Option<u64> { Some(self.to - self.from) }
//!
//!     async fn step(&self, next: u64, ctx: &mut SliceContext<'_, ()>) -> Result<Step<u64>, JobError> {
//!         let end = (next + 100).min(self.to);
//!         // … process items next..end …
//!         ctx.progress(end - next);
//!         Ok(if end == self.to { Step::Done } else { Step::Next(end) })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = overtime::store::SqliteStore::open(".overtime/runs.db")?;
//! Worker::new().run_store(store).chunked::<Backfill>().run().await?;
//! # Ok(()) }
//! ```

use crate::job::{JobContext, JobError, JobResult};
use crate::queue::Message;
use crate::store::{MAX_STEP_RESULT_BYTES, RunRecord, RunStatus, RunStore, StoreError, now_ms};
use futures_util::FutureExt;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

/// A job that runs as a chain of slices from a cursor.
pub trait Chunked: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name this job travels under.
    const NAME: &'static str;
    /// Shared state from the worker (`()` for none).
    type State: Send + Sync + 'static;
    /// Where the work is: checkpointed between slices, so it must be serde.
    type Cursor: Serialize + DeserializeOwned + Clone + Send + 'static;

    /// The cursor of a new run.
    fn start(&self) -> Self::Cursor;

    /// Items in all, when known, for progress reports.
    fn total(&self) -> Option<u64> {
        None
    }

    /// Processes one bounded unit from `cursor`: the next cursor, or done. Keep a step short
    /// next to the slice budget; a slice always runs at least one.
    fn step(
        &self,
        cursor: Self::Cursor,
        ctx: &mut SliceContext<'_, Self::State>,
    ) -> impl Future<Output = Result<Step<Self::Cursor>, JobError>> + Send;
}

/// What a step returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<C> {
    /// More to do, from this cursor.
    Next(C),
    /// The run is complete.
    Done,
}

/// What a step sees: the job's context, and where to report progress.
pub struct SliceContext<'a, S> {
    job: &'a JobContext<S>,
    run_id: &'a str,
    slice: u64,
    items: u64,
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

/// Receives every [`SliceEvent`] ([`ChunkOptions::observer`]).
pub type Observer = Arc<dyn Fn(&SliceEvent) + Send + Sync>;

/// How slices are sized and runs bounded.
#[derive(Clone)]
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
    /// Called with each [`SliceEvent`], in the slice's task.
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for ChunkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkOptions")
            .field("budget", &self.budget)
            .field("reserve", &self.reserve)
            .field("lease", &self.lease)
            .field("max_slices", &self.max_slices)
            .field("max_duration", &self.max_duration)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            budget: Duration::from_secs(60),
            reserve: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            max_slices: 10_000,
            max_duration: Duration::from_secs(7 * 86_400),
            observer: None,
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

/// The environment variable that sets [`ChunkOptions::lease`] in seconds.
pub const LEASE_VAR: &str = "OVERTIME_SLICE_LEASE_SECS";

/// The environment variable that sets [`ChunkOptions::budget`] in seconds (for Vercel, its
/// `maxDuration`).
pub const BUDGET_VAR: &str = "OVERTIME_SLICE_BUDGET_SECS";

impl ChunkOptions {
    fn emit(&self, event: SliceEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// These options, with `observer` receiving every [`SliceEvent`].
    pub fn observer(mut self, observer: impl Fn(&SliceEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Defaults, with the budget from `OVERTIME_SLICE_BUDGET_SECS` and the lease from
    /// `OVERTIME_SLICE_LEASE_SECS` when set.
    pub fn from_env() -> Self {
        let mut options = ChunkOptions::default();
        if let Some(budget) = secs_var(BUDGET_VAR) {
            options.budget = budget;
        }
        if let Some(lease) = secs_var(LEASE_VAR) {
            options.lease = lease;
        }
        options
    }
}

/// How long a delivery that lost the claim on its slice waits before it is judged again.
const CLAIM_LOST_WAIT: Duration = Duration::from_secs(1);

/// Less time than this left in an invocation, and a slice is not started.
const MIN_SLICE: Duration = Duration::from_millis(100);

/// Predicts the next step's duration from the slowest of the recent ones, with headroom.
#[derive(Debug, Default)]
struct StepTimes {
    recent: VecDeque<Duration>,
}

impl StepTimes {
    const KEEP: usize = 16;

    fn record(&mut self, took: Duration) {
        if self.recent.len() == Self::KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    /// The margin a slice keeps before its stop time: 1.25 × the slowest recent step.
    fn margin(&self) -> Duration {
        self.recent.iter().max().copied().unwrap_or_default() * 5 / 4
    }
}

fn store_err(e: StoreError) -> JobError {
    // The store is down or slow: the slice is retried later, nothing is lost.
    JobError::retry(e)
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, JobError> {
    serde_json::to_string(value)
        .map_err(|e| JobError::permanent(format!("{what} does not serialize: {e}")))
}

/// Writes `change` over the latest record until it sticks or `keep` says the change no longer
/// applies; returns the written record, or `None` if abandoned.
async fn update(
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
async fn fail_run(store: &dyn RunStore, run: RunRecord, error: &str) -> Result<(), JobError> {
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

/// A slice's time: the platform's deadline less the worker's answer margin, capped by the
/// budget (zero once the deadline has passed); without a deadline, the budget.
fn slice_budget(deadline: Option<SystemTime>, budget: Duration) -> Duration {
    match deadline {
        Some(deadline) => crate::worker::answer_by(deadline).min(budget),
        None => budget,
    }
}

/// Sends the message for `slice` of a run.
async fn send_slice<S>(
    ctx: &JobContext<S>,
    job: &'static str,
    payload: &str,
    run_id: &str,
    slice: u64,
) -> Result<(), JobError> {
    let mut message = Message::from_json(job, payload)
        .map_err(JobError::permanent)?
        .continuing(run_id, slice);
    if ctx.queue().is_fifo() {
        // One group per run keeps its slices in order; the id dedups a repaired successor.
        message = message.group(run_id).dedup_id(format!("{run_id}.{slice}"));
    }
    ctx.queue()
        .send_message(message)
        .await
        .map_err(|e| JobError::retry(format!("could not enqueue slice {slice}: {e}")))?;
    Ok(())
}

/// Runs one slice of a chunked job: the body of the runner [`crate::Worker::chunked`] registers.
pub(crate) async fn run_slice<C: Chunked>(
    input: C,
    payload: String,
    ctx: JobContext<C::State>,
    options: Arc<ChunkOptions>,
) -> JobResult {
    let Some(store) = ctx.store.clone() else {
        return Err(JobError::permanent(format!(
            "chunked job {} needs a run store: call Worker::run_store before Worker::chunked",
            C::NAME
        )));
    };
    let store = &*store;
    let (run_id, slice) = match &ctx.meta.run {
        Some((id, slice)) => (id.clone(), *slice),
        None => (ctx.job_id().to_owned(), 0),
    };
    let span = tracing::info_span!(parent: ctx.span(), "slice", run = %run_id, slice);
    // Boxed: a slice's future nests deep enough to hit the compiler's layout limit.
    let result = Box::pin(
        slice_in_span(input, payload, &ctx, &options, store, run_id.clone(), slice)
            .instrument(span),
    )
    .await;
    if let Err(error) = &result {
        // The message is about to be dead-lettered (permanent, or its last attempt): whatever
        // failed, outside a step too (the store, the successor's send), the run must not stay
        // "running" with no message left to move it.
        let final_attempt = match error.failure() {
            crate::Failure::Permanent => true,
            crate::Failure::Suspend(_) => false,
            _ => ctx.is_last_attempt(),
        };
        if final_attempt
            && let Ok(Some(run)) = store.get(&run_id).await
            && let Err(e) = fail_run(store, run, &error.to_string()).await
        {
            tracing::warn!(run = %run_id, error = %e, "could not record the run's failure");
        }
    }
    result
}

async fn slice_in_span<C: Chunked>(
    input: C,
    payload: String,
    ctx: &JobContext<C::State>,
    options: &ChunkOptions,
    store: &dyn RunStore,
    run_id: String,
    slice: u64,
) -> JobResult {
    // This delivery: the message id alone would be the same for a redelivery racing a live
    // one, so the receive (attempt) number is part of it.
    let message_id = format!("{}#{}", ctx.message_id(), ctx.attempt());
    let slice_started = Instant::now();

    // The run, created by its first slice.
    let run = match store.get(&run_id).await.map_err(store_err)? {
        Some(run) => run,
        None if slice == 0 => {
            let cursor = to_json("the start cursor", &input.start())?;
            let fresh = RunRecord::new(&run_id, C::NAME, cursor, input.total(), now_ms());
            store.create(&fresh).await.map_err(store_err)?;
            store
                .get(&run_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| JobError::retry("the run vanished after its creation"))?
        }
        None => {
            return Err(JobError::permanent(format!(
                "run {run_id} is not in the run store (slice {slice} arrived for it)"
            )));
        }
    };

    let dropped = |reason: &'static str| {
        options.emit(SliceEvent::Dropped {
            run: run_id.clone(),
            slice,
            reason,
        });
    };
    if run.status.is_final() {
        tracing::info!(run = %run_id, slice, status = %run.status, "run already ended; dropping the slice");
        dropped("run ended");
        return Ok(());
    }
    if run.cancel_requested {
        update(store, run, |r| {
            if r.status.is_final() {
                return false;
            }
            r.status = RunStatus::Cancelled;
            r.owner = None;
            true
        })
        .await?;
        tracing::info!(run = %run_id, slice, "run cancelled");
        return Ok(());
    }
    if slice < run.slice {
        if slice + 1 == run.slice && !run.successor_sent {
            // This slice checkpointed, then crashed before its successor was enqueued.
            tracing::warn!(run = %run_id, slice, "repairing a lost successor");
            send_slice(ctx, C::NAME, &payload, &run_id, run.slice).await?;
            let next = run.slice;
            options.emit(SliceEvent::Repaired {
                run: run_id.clone(),
                slice,
            });
            update(store, run, |r| {
                let applies = r.slice == next && !r.successor_sent;
                r.successor_sent = true;
                applies
            })
            .await?;
        } else {
            tracing::info!(run = %run_id, slice, current = run.slice, "stale slice; dropping it");
            dropped("stale");
        }
        return Ok(());
    }
    if slice > run.slice {
        return Err(JobError::retry(format!(
            "slice {slice} arrived before the store shows slice {} done",
            run.slice
        )));
    }
    let now = now_ms();
    if run
        .owner
        .as_deref()
        .is_some_and(|o| o != message_id && run.lease_until_ms > now)
    {
        // Another delivery holds the slice and renews its lease. Not dropped: if that one
        // crashes, this message is what carries the slice on once the lease lapses.
        // Suspended, not failed: waiting out a lease must not use up the message's attempts.
        let wait = Duration::from_millis(u64::try_from(run.lease_until_ms - now).unwrap_or(0))
            + Duration::from_secs(1);
        tracing::info!(run = %run_id, slice, wait_ms = wait.as_millis() as u64, "another delivery holds this slice; back after its lease");
        return Err(JobError {
            kind: crate::Failure::Suspend(wait),
            source: "another delivery holds this slice".into(),
        });
    }
    if run.slice >= options.max_slices {
        let error = format!(
            "run exceeded {} slices; is the cursor advancing?",
            options.max_slices
        );
        fail_run(store, run, &error).await?;
        return Err(JobError::permanent(error));
    }
    let age = Duration::from_millis(u64::try_from(now - run.started_ms).unwrap_or(0));
    if age > options.max_duration {
        let error = format!(
            "run exceeded its {} s limit on total duration",
            options.max_duration.as_secs()
        );
        fail_run(store, run, &error).await?;
        return Err(JobError::permanent(error));
    }

    let budget = slice_budget(ctx.deadline(), options.budget);
    if budget < MIN_SLICE {
        // The invocation or window is about over: a slice started now would be cut off.
        return Err(JobError::retry_after(
            "too little time left in this invocation to run a slice",
            Duration::ZERO,
        ));
    }
    let stop_at = slice_started
        .checked_add(budget.saturating_sub(options.reserve.min(budget / 10)))
        .unwrap_or(slice_started);
    let lease_for = options.lease;
    let lease = i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX);
    let claimed = update(store, run, |r| {
        let applies = r.slice == slice
            && !r.status.is_final()
            && r.owner
                .as_deref()
                .is_none_or(|o| o == message_id || r.lease_until_ms <= now);
        r.owner = Some(message_id.clone());
        r.lease_until_ms = now.saturating_add(lease);
        applies
    })
    .await?;
    let Some(mut run) = claimed else {
        // The claim was lost: another delivery holds the slice, or the slice moved on since
        // the record was read. This delivery may be the very message the holder runs under
        // (SQS delivers a message again when its visibility lapses, and the owner is the
        // message id), so deleting it here could leave nothing to repair a holder that then
        // crashes between its checkpoint and its successor. It comes back shortly instead and
        // is judged again: still held, it waits; moved on, it repairs or is dropped as stale.
        tracing::info!(run = %run_id, slice, "lost the claim to another delivery; back shortly");
        return Err(JobError {
            kind: crate::Failure::Suspend(CLAIM_LOST_WAIT),
            source: "another delivery claimed this slice first".into(),
        });
    };
    options.emit(SliceEvent::Claimed {
        run: run_id.clone(),
        slice,
    });

    let mut cursor: C::Cursor = match serde_json::from_str(&run.cursor) {
        Ok(c) => c,
        Err(e) => {
            let error = format!(
                "the checkpointed cursor does not deserialize as {}'s cursor: {e}",
                C::NAME
            );
            fail_run(store, run, &error).await?;
            return Err(JobError::permanent(error));
        }
    };
    let mut sctx = SliceContext {
        job: ctx,
        run_id: &run_id,
        slice,
        items: 0,
    };
    let mut times = StepTimes::default();
    let mut steps = 0u64;
    // Items reported by steps that succeeded: a failing step's count is not kept, since its
    // items run again on the retry.
    let mut items_ok = 0u64;
    let mut renewed = Instant::now();
    let outcome: Result<bool, JobError> = loop {
        if steps > 0 && Instant::now() + times.margin() >= stop_at {
            break Ok(false);
        }
        if renewed.elapsed() >= lease_for / 3 {
            // Keep the claim alive while stepping; a crashed holder's lapses within a lease.
            let until = now_ms().saturating_add(lease);
            match update(store, run.clone(), |r| {
                let applies = r.slice == slice && r.owner.as_deref() == Some(&message_id);
                r.lease_until_ms = until;
                applies
            })
            .await
            {
                Ok(Some(renewed_run)) => run = renewed_run,
                Ok(None) => break Err(JobError::retry("lost the slice while stepping")),
                Err(e) => break Err(e),
            }
            renewed = Instant::now();
        }
        let step_started = Instant::now();
        let result =
            Box::pin(AssertUnwindSafe(input.step(cursor.clone(), &mut sctx)).catch_unwind()).await;
        times.record(step_started.elapsed());
        steps += 1;
        match result {
            Ok(Ok(Step::Next(next))) => {
                cursor = next;
                items_ok = sctx.items;
            }
            Ok(Ok(Step::Done)) => {
                items_ok = sctx.items;
                break Ok(true);
            }
            Ok(Err(e)) => break Err(e),
            Err(panic) => {
                break Err(JobError::retry(format!(
                    "step panicked: {}",
                    crate::worker::panic_message(&*panic)
                )));
            }
        }
    };
    let items = items_ok;

    match outcome {
        Ok(done) => {
            let cursor_json = to_json("the cursor", &cursor)?;
            if cursor_json.len() > MAX_STEP_RESULT_BYTES {
                let error = format!(
                    "the cursor is {} bytes as JSON, over the run store's {MAX_STEP_RESULT_BYTES}-byte limit; keep positions in it, not data",
                    cursor_json.len()
                );
                fail_run(store, run, &error).await?;
                return Err(JobError::permanent(error));
            }
            let written = update(store, run, |r| {
                let applies = r.slice == slice && r.owner.as_deref() == Some(&message_id);
                r.items_done = r.items_done.saturating_add(items);
                r.owner = None;
                if done {
                    r.status = RunStatus::Done;
                } else {
                    r.slice = slice + 1;
                    r.cursor = cursor_json.clone();
                    r.successor_sent = false;
                }
                applies
            })
            .await?;
            let Some(run) = written else {
                // Someone took the slice over (our lease ran out): their checkpoint stands.
                return Err(JobError::retry("lost the slice before its checkpoint"));
            };
            tracing::info!(
                run = %run_id, slice, steps, items, items_done = run.items_done,
                items_total = run.items_total, elapsed_ms = slice_started.elapsed().as_millis() as u64,
                run_elapsed_ms = now_ms() - run.started_ms, done,
                "slice finished"
            );
            if done {
                options.emit(SliceEvent::Completed {
                    run: run_id.clone(),
                    slice,
                });
                return Ok(());
            }
            options.emit(SliceEvent::Checkpointed {
                run: run_id.clone(),
                slice,
            });
            send_slice(ctx, C::NAME, &payload, &run_id, slice + 1).await?;
            options.emit(SliceEvent::Enqueued {
                run: run_id.clone(),
                slice,
            });
            // The successor is on its way; failing to note it only means a redelivered copy
            // of this slice would send it again, and the duplicate would be dropped.
            if let Err(e) = update(store, run, |r| {
                let applies = r.slice == slice + 1 && !r.successor_sent;
                r.successor_sent = true;
                applies
            })
            .await
            {
                tracing::warn!(run = %run_id, slice, error = %e, "could not note the successor as sent");
            }
            Ok(())
        }
        Err(error) => {
            // Keep what the successful steps did: the retry resumes after them.
            let cursor_json = to_json("the cursor", &cursor)?;
            let permanent = match error.failure() {
                crate::Failure::Permanent => true,
                crate::Failure::Suspend(_) => false,
                _ => ctx.is_last_attempt(),
            };
            let reason = error.to_string();
            update(store, run, |r| {
                let applies = r.slice == slice && r.owner.as_deref() == Some(&message_id);
                r.items_done = r.items_done.saturating_add(items);
                r.cursor = cursor_json.clone();
                r.owner = None;
                if permanent {
                    r.status = RunStatus::Failed;
                    r.error = Some(reason.clone());
                }
                applies
            })
            .await?;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_ends_before_the_deadline_and_the_budget() {
        let budget = Duration::from_secs(60);
        // Lambda: 30 s left, less a tenth (3 s) kept for the batch's answer.
        let lambda = slice_budget(Some(SystemTime::now() + Duration::from_secs(30)), budget);
        assert!(
            lambda <= Duration::from_secs(27) && lambda > Duration::from_secs(26),
            "{lambda:?}"
        );
        // A deadline further away than the budget: the budget.
        let far = slice_budget(Some(SystemTime::now() + Duration::from_secs(600)), budget);
        assert_eq!(far, budget);
        // No deadline (the poller): the budget. A past one: no time at all.
        assert_eq!(slice_budget(None, budget), budget);
        assert_eq!(
            slice_budget(Some(SystemTime::now() - Duration::from_secs(5)), budget),
            Duration::ZERO
        );
    }

    #[test]
    fn the_margin_follows_the_slowest_recent_step() {
        let mut t = StepTimes::default();
        assert_eq!(t.margin(), Duration::ZERO);
        t.record(Duration::from_millis(100));
        t.record(Duration::from_millis(400));
        assert_eq!(t.margin(), Duration::from_millis(500));
        for _ in 0..StepTimes::KEEP {
            t.record(Duration::from_millis(40));
        }
        assert_eq!(t.margin(), Duration::from_millis(50));
    }
}
