//! One delivery, start to end: decode, route, run, and settle (succeed, retry, dead-letter).

use super::Worker;
use super::backoff::Backoff;
use super::once;
use super::settle::DeadLetterKind;
use super::source::Source;
use crate::envelope::{ATTR_JOB, ATTR_WAIT, DecodeError, RawEnvelope};
use crate::job::{Delivered, Failure, JobContext, Kind};
use crate::limits::SQS_MAX_VISIBILITY;
use futures_util::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{Instrument, field};

/// Longest delay a message may ask for: past it, `not_before_ms` is taken as corrupt.
const MAX_HOP_DELAY: Duration = Duration::from_secs(366 * 86_400);

/// A received message, whichever way it arrived (Lambda event or ReceiveMessage).
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) message_id: String,
    pub(crate) receipt_handle: String,
    pub(crate) body: String,
    pub(crate) receive_count: u32,
    /// FIFO message group: deliveries of one group run in order.
    pub(crate) group_id: Option<String>,
    /// When SQS first received it (Unix ms), if the source said: orders a debounce's burst.
    pub(crate) sent_ms: Option<i64>,
    /// String-valued message attributes (at most 10, so a list beats a map).
    pub(crate) attributes: Vec<(String, String)>,
}

impl Delivery {
    pub(super) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A delivery routed to its job, with the attempt it is.
struct Routed<'a, S> {
    env: &'a RawEnvelope<'a>,
    job: &'static str,
    registered: &'a super::Registered<S>,
    attempt: u32,
    max_attempts: u32,
}

/// How an attempt of a keyed job ended, for its idempotency key.
#[derive(Debug, Clone, Copy)]
enum KeyOutcome {
    Succeeded,
    /// To be retried, or asleep: only this job's next delivery runs it.
    Waiting,
    DeadLettered,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// The job succeeded; the message is to be deleted (by Lambda, or by the poller).
    Succeeded,
    /// The message was dead-lettered or re-enqueued, and the original already deleted.
    Settled,
    /// The message stays in the queue and comes back after its visibility timeout.
    Failed,
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// Processes deliveries from one source concurrently; FIFO groups run in order, and
    /// after a failure the rest of that group is failed unrun, so order survives the retry.
    /// Returns each delivery's disposition in the order given; `on_done` hears of each as it
    /// ends, by its index in `deliveries`.
    pub(crate) async fn process_batch(
        &self,
        source: &Arc<Source>,
        deliveries: &[Delivery],
        deadline: Option<SystemTime>,
        on_done: &(dyn Fn(usize, Disposition) + Sync),
    ) -> Vec<Disposition> {
        if let [d] = deliveries {
            // One message (a low-traffic queue, the poller's tail): no concurrency to manage.
            let disposition = self.process(source, d, deadline).await;
            on_done(0, disposition);
            return vec![disposition];
        }
        let mut settled = vec![Disposition::Failed; deliveries.len()];
        if !source.queue.is_fifo() {
            // Standard queues: every message on its own, at most `concurrency` at once.
            // Indices, not references, go through the stream: an item with a lifetime makes the
            // poller's spawned future fail the `Send` check ("FnOnce is not general enough").
            let mut ends = futures_util::stream::iter(0..deliveries.len())
                .map(|i| async move {
                    let disposition = self.process(source, &deliveries[i], deadline).await;
                    on_done(i, disposition);
                    (i, disposition)
                })
                .buffer_unordered(self.config.concurrency);
            while let Some((i, disposition)) = ends.next().await {
                settled[i] = disposition;
            }
            return settled;
        }
        // FIFO: one lane per message group, in the order the groups first appear.
        let mut lanes: Vec<Vec<usize>> = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            match lanes
                .iter_mut()
                .find(|lane| deliveries[lane[0]].group_id == d.group_id)
            {
                Some(lane) => lane.push(i),
                None => lanes.push(vec![i]),
            }
        }
        let mut ends = futures_util::stream::iter(lanes)
            .map(|lane| async move {
                let mut out = Vec::with_capacity(lane.len());
                let mut failed = false;
                for i in lane {
                    let d = &deliveries[i];
                    let disposition = if failed {
                        // Not run: release it now so it follows its group's head back in order,
                        // instead of waiting out the whole visibility timeout.
                        self.retry_later(&source.queue, d, Duration::ZERO).await;
                        Disposition::Failed
                    } else {
                        self.process(source, d, deadline).await
                    };
                    failed |= disposition == Disposition::Failed;
                    on_done(i, disposition);
                    out.push((i, disposition));
                }
                out
            })
            .buffer_unordered(self.config.concurrency)
            .flat_map(futures_util::stream::iter);
        while let Some((i, disposition)) = ends.next().await {
            settled[i] = disposition;
        }
        settled
    }

    async fn process(
        &self,
        source: &Arc<Source>,
        d: &Delivery,
        deadline: Option<SystemTime>,
    ) -> Disposition {
        let span = tracing::info_span!("job", job = field::Empty, message_id = %d.message_id, attempt = field::Empty);
        self.process_in_span(source, d, deadline, span.clone())
            .instrument(span)
            .await
    }

    async fn process_in_span(
        &self,
        source: &Arc<Source>,
        d: &Delivery,
        deadline: Option<SystemTime>,
        span: tracing::Span,
    ) -> Disposition {
        // Route on the attribute first: an unknown job is dead-lettered without a body parse.
        let routed = d
            .attribute(ATTR_JOB)
            .map(|name| (name, self.runners.get_key_value(name)));
        if let Some((name, found)) = routed {
            span.record("job", name);
            if found.is_none() {
                let reason = self.unknown_job_reason(name);
                return self
                    .dead_letter(
                        source,
                        d,
                        DeadLetterKind::UnknownJob,
                        &reason,
                        d.receive_count,
                    )
                    .await;
            }
        }
        let env = match RawEnvelope::decode(&d.body) {
            Ok(env) => env,
            Err(err @ DecodeError::UnsupportedVersion { .. }) => {
                // A sender deployed before this worker: a later attempt may meet a newer worker.
                return self
                    .fail_or_exhaust(
                        source,
                        d,
                        (d.receive_count, source.max_attempts),
                        Kind::Failed(Failure::Retry(None)),
                        err.to_string(),
                    )
                    .await;
            }
            Err(err) => {
                return self
                    .dead_letter(
                        source,
                        d,
                        DeadLetterKind::Undecodable,
                        &err.to_string(),
                        d.receive_count,
                    )
                    .await;
            }
        };
        let attempt = env
            .attempt
            .saturating_add(d.receive_count.saturating_sub(1))
            .max(1);
        if routed.is_none() {
            span.record("job", &*env.job);
        }
        span.record("attempt", attempt);
        // The attribute's lookup serves when it names the envelope's job, as it always does
        // for messages overtime sent.
        let found = match routed {
            Some((name, found)) if name == env.job => found,
            _ => self.runners.get_key_value(&*env.job),
        };
        let Some((&job, registered)) = found else {
            let reason = self.unknown_job_reason(&env.job);
            return self
                .dead_letter(source, d, DeadLetterKind::UnknownJob, &reason, attempt)
                .await;
        };
        if let Some(wait) = env
            .not_before_ms
            .and_then(|due| remaining_until(due, source.queue.now_ms()))
        {
            if wait > MAX_HOP_DELAY {
                let reason = format!(
                    "not_before_ms is {} days away, past the {}-day limit on delays",
                    wait.as_secs() / 86_400,
                    MAX_HOP_DELAY.as_secs() / 86_400
                );
                return self
                    .dead_letter(source, d, DeadLetterKind::Undecodable, &reason, attempt)
                    .await;
            }
            return self.hop(source, d, wait, d.attribute(ATTR_WAIT)).await;
        }
        // The job's own limit, still within the queue's maxReceiveCount.
        let max_attempts = registered
            .options
            .max_attempts
            .map_or(source.max_attempts, |n| {
                source.max_receive_count.map_or(n, |c| n.min(c))
            });
        let holder = env.run.as_deref().unwrap_or(&env.id).to_owned();
        let permit = match &registered.flow {
            Some(spec) => match self
                .admit_flow(source, d, &env, spec, attempt, &holder)
                .await
            {
                Ok(permit) => Some(permit),
                Err(disposition) => return disposition,
            },
            None => None,
        };
        let routed = Routed {
            env: &env,
            job,
            registered,
            attempt,
            max_attempts,
        };
        let meta = self.delivered(d, &routed, deadline);
        let Some(permit) = permit else {
            return self.run_meta(source, d, routed, meta, span).await;
        };
        if registered.flow.as_ref().is_some_and(|f| f.singleton_cancel) {
            // A newer run of its singleton key may ask it to stop at its next step.
            let _ = meta.cancel_watch.set(holder);
        }
        // Set by a chunked run's slice that sent its successor: the run keeps its slots.
        let continues = meta.continues.clone();
        let disposition = self
            .holding(&permit, self.run_meta(source, d, routed, meta, span))
            .await;
        self.end_flow(permit, continues.load(std::sync::atomic::Ordering::Relaxed))
            .await;
        disposition
    }

    /// What the job's context tells it about this delivery.
    fn delivered(
        &self,
        d: &Delivery,
        routed: &Routed<'_, S>,
        deadline: Option<SystemTime>,
    ) -> Arc<Delivered> {
        let env = routed.env;
        Arc::new(Delivered {
            job: routed.job,
            job_id: env.id.to_string(),
            message_id: d.message_id.clone(),
            attempt: routed.attempt,
            max_attempts: routed.max_attempts,
            deadline,
            idempotency_key: env.key.as_deref().map(str::to_owned),
            run: env
                .run
                .as_deref()
                .map(|r| (r.to_owned(), env.slice.unwrap_or(0))),
            wait_mark: d.attribute(ATTR_WAIT).map(str::to_owned),
            cancel_watch: std::sync::OnceLock::new(),
            continues: std::sync::Arc::default(),
        })
    }

    /// Runs a routed delivery with what its context says, and settles it.
    async fn run_meta(
        &self,
        source: &Arc<Source>,
        d: &Delivery,
        routed: Routed<'_, S>,
        meta: Arc<Delivered>,
        span: tracing::Span,
    ) -> Disposition {
        let Routed {
            env,
            registered,
            attempt,
            max_attempts,
            ..
        } = routed;
        let deadline = meta.deadline;
        let ctx = JobContext {
            meta,
            queue: source.queue.clone(),
            state: self.state.clone(),
            span: span.clone(),
            durable: self.durable(),
        };
        let held = match self.claim_once(source, d, env, deadline, attempt).await {
            Ok(held) => held,
            Err(disposition) => return disposition,
        };
        // Decoding the payload and calling `run` can panic too (a custom `Deserialize`, a
        // `run` that panics before its first await): both are caught with the job itself.
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
            (registered.run)(env.payload.get(), ctx)
        }));
        let outcome = match started {
            Ok(Ok(run)) => AssertUnwindSafe(run).catch_unwind().await,
            Ok(Err(err)) => {
                self.settle_once(held, KeyOutcome::DeadLettered).await;
                let reason = format!("payload does not match job {}: {err}", env.job);
                return self
                    .dead_letter(source, d, DeadLetterKind::Undecodable, &reason, attempt)
                    .await;
            }
            Err(panic) => Err(panic),
        };
        let (kind, reason) = match outcome {
            Ok(Ok(())) => {
                self.settle_once(held, KeyOutcome::Succeeded).await;
                tracing::debug!("job succeeded");
                return Disposition::Succeeded;
            }
            Ok(Err(err)) => {
                if let Some(step) = &err.wait_step {
                    self.keep_for_wake(source, d, &env.id, step).await;
                }
                if err.kind == Kind::Cancelled {
                    self.settle_once(held, KeyOutcome::Succeeded).await;
                    tracing::info!(reason = %err, "job cancelled by an event");
                    return Disposition::Succeeded;
                }
                if err.kind == Kind::Superseded {
                    self.settle_once(held, KeyOutcome::Waiting).await;
                    tracing::info!(reason = %err, "another message of this run continues it; this one is done");
                    return Disposition::Succeeded;
                }
                let mark = err.wait_step.as_deref().map(str::to_owned);
                if let Kind::Suspended(wait) = err.kind {
                    self.settle_once(held, KeyOutcome::Waiting).await;
                    tracing::info!(
                        sleep_s = wait.as_secs_f64(),
                        wait_step = mark.as_deref(),
                        "job sleeps; re-enqueued to wake later"
                    );
                    return self.hop(source, d, wait, mark.as_deref()).await;
                }
                (err.kind, err.to_string())
            }
            Err(panic) => (
                Kind::Failed(Failure::Retry(None)),
                format!("job panicked: {}", panic_message(&*panic)),
            ),
        };
        let last = match kind {
            Kind::Failed(Failure::Permanent) => true,
            Kind::Failed(Failure::Retry(_)) => attempt >= max_attempts,
            Kind::Suspended(_) | Kind::Superseded | Kind::Cancelled => false,
        };
        let key_outcome = if last {
            KeyOutcome::DeadLettered
        } else {
            KeyOutcome::Waiting
        };
        self.settle_once(held, key_outcome).await;
        let backoff = registered.options.backoff.as_ref();
        self.fail_or_exhaust_with(source, d, (attempt, max_attempts), kind, reason, backoff)
            .await
    }

    /// Settles a failed attempt: dead-letter if permanent or out of attempts, else back off.
    pub(super) async fn fail_or_exhaust(
        &self,
        source: &Source,
        d: &Delivery,
        attempts: (u32, u32),
        kind: Kind,
        reason: String,
    ) -> Disposition {
        self.fail_or_exhaust_with(source, d, attempts, kind, reason, None)
            .await
    }

    /// [`fail_or_exhaust`](Self::fail_or_exhaust) with the job's own backoff, if it has one.
    async fn fail_or_exhaust_with(
        &self,
        source: &Source,
        d: &Delivery,
        (attempt, max_attempts): (u32, u32),
        kind: Kind,
        reason: String,
        backoff: Option<&Backoff>,
    ) -> Disposition {
        let failure = match kind {
            Kind::Suspended(wait) => {
                tracing::info!(
                    sleep_s = wait.as_secs_f64(),
                    "job sleeps; re-enqueued to wake later"
                );
                return self.hop(source, d, wait, None).await;
            }
            // Only a job's own run ends this way, and it is settled where it ends.
            Kind::Superseded | Kind::Cancelled => return Disposition::Succeeded,
            Kind::Failed(failure) => failure,
        };
        match failure {
            Failure::Permanent => {
                tracing::warn!(error = %reason, "job failed permanently");
                self.dead_letter(source, d, DeadLetterKind::Permanent, &reason, attempt)
                    .await
            }
            Failure::Retry(_) if attempt >= max_attempts => {
                tracing::warn!(error = %reason, max_attempts, "job failed on its last attempt");
                self.dead_letter(source, d, DeadLetterKind::Exhausted, &reason, attempt)
                    .await
            }
            Failure::Retry(after) => {
                if let Some(hook) = &self.failure_hook {
                    hook(&reason);
                }
                let backoff = backoff.unwrap_or(&self.config.backoff);
                let delay = after.unwrap_or_else(|| backoff.delay(attempt));
                tracing::warn!(error = %reason, retry_in_s = delay.as_secs_f64(), "job failed; will retry");
                self.retry_later(&source.queue, d, delay).await;
                Disposition::Failed
            }
        }
    }

    /// Claims a keyed job's idempotency key, when the worker has a run store: `Ok(Some)` to
    /// run holding it, `Ok(None)` to run without one (no key, no store, or a later slice of a
    /// durable run, which its run record guards), `Err` with how the delivery already ended.
    async fn claim_once(
        &self,
        source: &Source,
        d: &Delivery,
        env: &RawEnvelope<'_>,
        deadline: Option<SystemTime>,
        attempt: u32,
    ) -> Result<Option<once::Held>, Disposition> {
        let (Some(store), Some(key), None) = (&self.store, env.key.as_deref(), &env.run) else {
            return Ok(None);
        };
        match once::claim(&**store, &env.job, key, &env.id, deadline).await {
            Ok(once::Claim::Run(held)) => Ok(Some(held)),
            Ok(once::Claim::Duplicate { first }) => {
                tracing::info!(idempotency_key = key, first_job_id = %first, "a duplicate of a job that already ran with this key; not run again");
                Err(Disposition::Succeeded)
            }
            Ok(once::Claim::InFlight { wait }) => {
                let wait = wait.clamp(Duration::from_secs(1), SQS_MAX_VISIBILITY);
                tracing::info!(
                    idempotency_key = key,
                    retry_in_s = wait.as_secs(),
                    "another delivery of this key is running; looking again when its lease ends"
                );
                self.retry_later(&source.queue, d, wait).await;
                Err(Disposition::Failed)
            }
            Err(err) => Err(self
                .fail_or_exhaust(
                    source,
                    d,
                    (attempt, source.max_attempts),
                    Kind::Failed(Failure::Retry(None)),
                    format!("could not claim the idempotency key {key:?} in the run store: {err}"),
                )
                .await),
        }
    }

    /// Ends a claim as the attempt ended.
    async fn settle_once(&self, held: Option<once::Held>, outcome: KeyOutcome) {
        let (Some(held), Some(store)) = (held, &self.store) else {
            return;
        };
        match outcome {
            KeyOutcome::Succeeded => held.finish(&**store).await,
            KeyOutcome::Waiting => held.wait(&**store).await,
            KeyOutcome::DeadLettered => held.release(&**store).await,
        }
    }

    fn unknown_job_reason(&self, name: &str) -> String {
        let mut known: Vec<_> = self.job_names().collect();
        known.sort_unstable();
        format!(
            "no job named {name:?} is registered with this worker (known: {})",
            known.join(", ")
        )
    }
}

/// How long until `not_before_ms`, if it is later than `now_ms`.
fn remaining_until(not_before_ms: i64, now_ms: i64) -> Option<Duration> {
    (not_before_ms > now_ms)
        .then(|| Duration::from_millis(u64::try_from(not_before_ms - now_ms).unwrap_or(u64::MAX)))
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times() {
        assert_eq!(remaining_until(0, 5_000), None);
        assert_eq!(remaining_until(5_000, 5_000), None);
        assert_eq!(
            remaining_until(105_000, 5_000),
            Some(Duration::from_secs(100))
        );
    }
}
