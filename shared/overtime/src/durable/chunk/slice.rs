//! One slice of a chunked run, as a chain of named phases: **load** the run (the first slice
//! creates it), **judge** the message (drop, cancel, repair, wait, or go on), **claim** the
//! slice, **advance** until its time is up, **checkpoint**, and **enqueue** the successor;
//! a failure instead **keeps the progress** of the advances that succeeded.

use super::record::{fail_run, store_err, to_json, update};
use super::{Advance, ChunkOptions, Chunked, Durable, SliceContext, SliceEvent};
use crate::job::{JobContext, JobError, JobResult};
use crate::queue::Message;
use crate::store::{MAX_STEP_RESULT_BYTES, RunRecord, RunStatus, RunStore};
use futures_util::FutureExt;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime};

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

/// A slice's time: the platform's deadline less the worker's answer margin, capped by the
/// budget (zero once the deadline has passed); without a deadline, the budget.
fn slice_budget(deadline: Option<SystemTime>, budget: Duration) -> Duration {
    match deadline {
        Some(deadline) => crate::worker::answer_by(deadline).min(budget),
        None => budget,
    }
}

/// Sends the message for `slice` of a run.
pub(super) async fn send_slice<S>(
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
        .send(message)
        .await
        .map_err(|e| JobError::retry(format!("could not enqueue slice {slice}: {e}")))?;
    Ok(())
}

/// One delivery of one slice, and what it needs from its job.
pub(super) struct Slice<'a, C: Chunked> {
    job: C,
    /// The job as JSON, for the successor's message.
    payload: String,
    ctx: &'a JobContext<C::State>,
    options: ChunkOptions,
    store: &'a dyn RunStore,
    run_id: String,
    slice: u64,
    /// This delivery: the message id alone would be the same for a redelivery racing a live
    /// one, so the receive (attempt) number is part of it.
    delivery: String,
    started: Instant,
}

/// What judging a message decided.
enum Verdict {
    /// The slice is the run's current one and may be claimed.
    Go(RunRecord),
    /// The message is settled without running anything (dropped, cancelled, repaired).
    Settled,
}

/// Where the advancing stopped.
struct Advanced<Cursor> {
    /// Done (`true`), out of time (`false`), or the failure.
    outcome: Result<bool, JobError>,
    /// After the last advance that succeeded.
    cursor: Cursor,
    /// Items reported by the advances that succeeded: a failing one's count is not kept,
    /// since its items run again on the retry.
    items: u64,
    steps: u64,
    run: RunRecord,
}

impl<'a, C: Chunked> Slice<'a, C> {
    pub(super) fn new(
        job: C,
        payload: String,
        ctx: &'a JobContext<C::State>,
        options: ChunkOptions,
        store: &'a dyn RunStore,
        run_id: String,
        slice: u64,
    ) -> Self {
        Self {
            delivery: format!("{}#{}", ctx.message_id(), ctx.attempt()),
            started: Instant::now(),
            job,
            payload,
            ctx,
            options,
            store,
            run_id,
            slice,
        }
    }

    fn durable(&self) -> &Durable {
        &self.ctx.durable
    }

    fn emit(&self, event: impl FnOnce(String, u64) -> SliceEvent) {
        self.durable().emit(event(self.run_id.clone(), self.slice));
    }

    fn owns(&self, r: &RunRecord) -> bool {
        r.slice == self.slice && r.owner.as_deref() == Some(self.delivery.as_str())
    }

    pub(super) async fn run(self) -> JobResult {
        let run = self.load().await?;
        let Verdict::Go(run) = self.judge(run).await? else {
            return Ok(());
        };
        let (run, stop_at) = self.claim(run).await?;
        let advanced = self.advance(run, stop_at).await?;
        match advanced.outcome {
            Ok(done) => {
                let run = self
                    .checkpoint(
                        advanced.run,
                        &advanced.cursor,
                        advanced.items,
                        advanced.steps,
                        done,
                    )
                    .await?;
                if done {
                    self.emit(|run, slice| SliceEvent::Completed { run, slice });
                    return Ok(());
                }
                let sent = self.enqueue(run).await;
                if sent.is_ok() {
                    // Flow control keeps the run's slots for its next slice.
                    self.ctx
                        .meta
                        .continues
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                sent
            }
            Err(error) => {
                self.keep_progress(advanced.run, &advanced.cursor, advanced.items, &error)
                    .await?;
                Err(error)
            }
        }
    }

    /// The run, created by its first slice.
    async fn load(&self) -> Result<RunRecord, JobError> {
        let (store, run_id, slice) = (self.store, &self.run_id, self.slice);
        if let Some(run) = store.get(run_id).await.map_err(store_err)? {
            return Ok(run);
        }
        if slice != 0 {
            return Err(JobError::permanent(format!(
                "run {run_id} is not in the run store (slice {slice} arrived for it)"
            )));
        }
        let cursor = to_json("the start cursor", &self.job.start())?;
        let now = self.ctx.queue().now_ms();
        let fresh = RunRecord::new(run_id, C::NAME, cursor, self.job.total(), now);
        store.create(&fresh).await.map_err(store_err)?;
        store
            .get(run_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| JobError::retry("the run vanished after its creation"))
    }

    /// Whether this message runs its slice: a message for an ended run or an older slice is
    /// dropped (or repairs a lost successor), a held slice waits out its lease, and a run past
    /// its limits fails.
    async fn judge(&self, run: RunRecord) -> Result<Verdict, JobError> {
        let (store, run_id, slice) = (self.store, &self.run_id, self.slice);
        let dropped = |reason: &'static str| {
            self.emit(|run, slice| SliceEvent::Dropped { run, slice, reason });
        };
        if run.status.is_final() {
            tracing::info!(run = %run_id, slice, status = %run.status, "run already ended; dropping the slice");
            dropped("run ended");
            return Ok(Verdict::Settled);
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
            return Ok(Verdict::Settled);
        }
        if slice < run.slice {
            if slice + 1 == run.slice && !run.successor_sent {
                // This slice checkpointed, then crashed before its successor was enqueued.
                tracing::warn!(run = %run_id, slice, "repairing a lost successor");
                send_slice(self.ctx, C::NAME, &self.payload, run_id, run.slice).await?;
                let next = run.slice;
                self.emit(|run, slice| SliceEvent::Repaired { run, slice });
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
            return Ok(Verdict::Settled);
        }
        if slice > run.slice {
            return Err(JobError::retry(format!(
                "slice {slice} arrived before the store shows slice {} done",
                run.slice
            )));
        }
        let now = self.ctx.queue().now_ms();
        if run
            .owner
            .as_deref()
            .is_some_and(|o| o != self.delivery && run.lease_until_ms > now)
        {
            // Another delivery holds the slice and renews its lease. Not dropped: if that one
            // crashes, this message is what carries the slice on once the lease lapses.
            // Suspended, not failed: waiting out a lease must not use up the message's attempts.
            let wait = Duration::from_millis(u64::try_from(run.lease_until_ms - now).unwrap_or(0))
                + Duration::from_secs(1);
            tracing::info!(run = %run_id, slice, wait_ms = wait.as_millis() as u64, "another delivery holds this slice; back after its lease");
            return Err(JobError::suspend(wait, "another delivery holds this slice"));
        }
        let options = &self.options;
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
        Ok(Verdict::Go(run))
    }

    /// Takes the slice for this delivery, with a lease; the run as claimed and when to stop.
    async fn claim(&self, run: RunRecord) -> Result<(RunRecord, Instant), JobError> {
        let (run_id, slice) = (&self.run_id, self.slice);
        let budget = slice_budget(self.ctx.deadline(), self.options.budget);
        if budget < MIN_SLICE {
            // The invocation or window is about over: a slice started now would be cut off.
            return Err(JobError::retry_after(
                "too little time left in this invocation to run a slice",
                Duration::ZERO,
            ));
        }
        let stop_at = self
            .started
            .checked_add(budget.saturating_sub(self.options.reserve.min(budget / 10)))
            .unwrap_or(self.started);
        let now = self.ctx.queue().now_ms();
        let lease = lease_ms(&self.options);
        let claimed = update(self.store, run, |r| {
            let applies = r.slice == slice
                && !r.status.is_final()
                && r.owner
                    .as_deref()
                    .is_none_or(|o| o == self.delivery || r.lease_until_ms <= now);
            r.owner = Some(self.delivery.clone());
            r.lease_until_ms = now.saturating_add(lease);
            applies
        })
        .await?;
        let Some(run) = claimed else {
            // The claim was lost: another delivery holds the slice, or the slice moved on since
            // the record was read. This delivery may be the very message the holder runs under
            // (SQS delivers a message again when its visibility lapses, and the owner is the
            // message id), so deleting it here could leave nothing to repair a holder that then
            // crashes between its checkpoint and its successor. It comes back shortly instead and
            // is judged again: still held, it waits; moved on, it repairs or is dropped as stale.
            tracing::info!(run = %run_id, slice, "lost the claim to another delivery; back shortly");
            return Err(JobError::suspend(
                CLAIM_LOST_WAIT,
                "another delivery claimed this slice first",
            ));
        };
        self.emit(|run, slice| SliceEvent::Claimed { run, slice });
        Ok((run, stop_at))
    }

    /// Advances from the checkpointed cursor until done, out of time (the margin follows the
    /// slowest recent advance), or failed, renewing the claim as it goes.
    async fn advance(
        &self,
        mut run: RunRecord,
        stop_at: Instant,
    ) -> Result<Advanced<C::Cursor>, JobError> {
        let mut cursor: C::Cursor = match serde_json::from_str(&run.cursor) {
            Ok(c) => c,
            Err(e) => {
                let error = format!(
                    "the checkpointed cursor does not deserialize as {}'s cursor: {e}",
                    C::NAME
                );
                fail_run(self.store, run, &error).await?;
                return Err(JobError::permanent(error));
            }
        };
        let mut sctx = SliceContext {
            job: self.ctx,
            run_id: &self.run_id,
            slice: self.slice,
            items: 0,
        };
        let lease_for = self.options.lease;
        let mut times = StepTimes::default();
        let mut steps = 0u64;
        let mut items = 0u64;
        let mut renewed = Instant::now();
        let outcome = loop {
            let out_of_steps = self
                .durable()
                .slice_steps
                .is_some_and(|n| steps >= n.max(1));
            if steps > 0 && (out_of_steps || Instant::now() + times.margin() >= stop_at) {
                break Ok(false);
            }
            if renewed.elapsed() >= lease_for / 3 {
                // Keep the claim alive while advancing; a crashed holder's lapses within a lease.
                let until = self
                    .ctx
                    .queue()
                    .now_ms()
                    .saturating_add(lease_ms(&self.options));
                match update(self.store, run.clone(), |r| {
                    let applies = self.owns(r);
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
            let result = Box::pin(
                AssertUnwindSafe(self.job.advance(cursor.clone(), &mut sctx)).catch_unwind(),
            )
            .await;
            times.record(step_started.elapsed());
            steps += 1;
            match result {
                Ok(Ok(Advance::To(next))) => {
                    cursor = next;
                    items = sctx.items;
                }
                Ok(Ok(Advance::Done)) => {
                    items = sctx.items;
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
        Ok(Advanced {
            outcome,
            cursor,
            items,
            steps,
            run,
        })
    }

    /// Stores where the slice got to and releases it: the run is done, or its next slice is
    /// due (its message not sent yet).
    async fn checkpoint(
        &self,
        run: RunRecord,
        cursor: &C::Cursor,
        items: u64,
        steps: u64,
        done: bool,
    ) -> Result<RunRecord, JobError> {
        let (run_id, slice) = (&self.run_id, self.slice);
        let cursor_json = to_json("the cursor", cursor)?;
        if cursor_json.len() > MAX_STEP_RESULT_BYTES {
            let error = format!(
                "the cursor is {} bytes as JSON, over the run store's {MAX_STEP_RESULT_BYTES}-byte limit; keep positions in it, not data",
                cursor_json.len()
            );
            fail_run(self.store, run, &error).await?;
            return Err(JobError::permanent(error));
        }
        let written = update(self.store, run, |r| {
            let applies = self.owns(r);
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
            items_total = run.items_total, elapsed_ms = self.started.elapsed().as_millis() as u64,
            run_elapsed_ms = self.ctx.queue().now_ms() - run.started_ms, done,
            "slice finished"
        );
        if !done {
            self.emit(|run, slice| SliceEvent::Checkpointed { run, slice });
        }
        Ok(run)
    }

    /// Sends the next slice's message, before this one's is acknowledged, and notes it sent.
    async fn enqueue(&self, run: RunRecord) -> JobResult {
        let (run_id, slice) = (&self.run_id, self.slice);
        send_slice(self.ctx, C::NAME, &self.payload, run_id, slice + 1).await?;
        self.emit(|run, slice| SliceEvent::Enqueued { run, slice });
        // The successor is on its way; failing to note it only means a redelivered copy
        // of this slice would send it again, and the duplicate would be dropped.
        if let Err(e) = update(self.store, run, |r| {
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

    /// Keeps what the successful advances did, so the retry resumes after them; a final
    /// failure fails the run.
    async fn keep_progress(
        &self,
        run: RunRecord,
        cursor: &C::Cursor,
        items: u64,
        error: &JobError,
    ) -> Result<(), JobError> {
        let cursor_json = to_json("the cursor", cursor)?;
        let permanent = error.is_final(self.ctx.attempt(), self.ctx.max_attempts());
        let reason = error.to_string();
        update(self.store, run, |r| {
            let applies = self.owns(r);
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
        Ok(())
    }
}

/// The claim's length in ms.
fn lease_ms(options: &ChunkOptions) -> i64 {
    i64::try_from(options.lease.as_millis()).unwrap_or(i64::MAX)
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
