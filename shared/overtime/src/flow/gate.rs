//! Admission: one delivery's [`Plan`] against the state kept in the run store, in the order
//! singleton → debounce → rate limit → throttle → concurrency. The entry gates (singleton
//! skip, debounce, rate limit) judge a job once, at its first attempt; retries, and hops after
//! passing them (marked `entry`), meet only the throttle and the slots. Every change is one
//! compare-and-swap on one key ([`States::update`]), so workers on any number of machines
//! agree.

use super::SingletonMode;
use super::cache::States;
use super::plan::{
    DebouncePlan, Marks, Plan, TOTAL_WAITER_TTL_MS, queue_delay, state_key, waiter_ttl_ms,
};
use super::record;
use super::slots::{Slots, Take};
use crate::store::{RunStore, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a fired debounce's job id is remembered, so that its retries run.
const FIRED_KEPT_MS: i64 = 24 * 3600 * 1000;
/// Fired job ids remembered per debounce key.
const FIRED_KEPT: usize = 32;
/// How long a retry that meets an active singleton waits before asking again.
const SINGLETON_RETRY: Duration = Duration::from_secs(2);

/// Who asks, for one delivery.
#[derive(Debug)]
pub(crate) struct Ask<'a> {
    /// The job's name.
    pub(crate) job: &'a str,
    /// Who holds slots: the run id of a chunked run, else the job id.
    pub(crate) holder: &'a str,
    /// The job id (one per send).
    pub(crate) job_id: &'a str,
    pub(crate) attempt: u32,
    pub(crate) marks: Marks,
    /// The payload's JSON, kept with a skip.
    pub(crate) payload: &'a str,
    /// When SQS received the message (Unix ms), if known: of a debounce burst, the one sent
    /// last runs, whatever order they arrive in.
    pub(crate) sent_ms: Option<i64>,
}

impl Ask<'_> {
    /// Whether the entry gates judge this delivery.
    fn fresh(&self) -> bool {
        self.attempt <= 1 && !self.marks.entry
    }
}

/// What a delivery is to do.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Run it, holding `Permit` until it ends.
    Run(Permit),
    /// Not yet: come back after `delay`, carrying `marks`.
    Defer {
        delay: Duration,
        marks: Marks,
        why: String,
    },
    /// Not at all: a rate limit or an active singleton skipped it (recorded).
    Skip,
    /// Not at all: a newer job of its debounce key carries the payload that runs.
    Superseded { why: String },
}

/// Slots a running job holds: given back when it ends, renewed while it runs.
#[derive(Debug, Default)]
pub(crate) struct Permit {
    holds: Vec<String>,
    holder: String,
    lease_ms: i64,
    /// Runs this one replaced as its key's singleton (asked to cancel).
    pub(crate) replaced: Vec<String>,
}

impl Permit {
    /// Whether it holds anything.
    pub(crate) fn holds_slots(&self) -> bool {
        !self.holds.is_empty()
    }

    /// The lease of its slots.
    pub(crate) fn lease(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.lease_ms).unwrap_or(0))
    }

    /// Gives every slot back.
    pub(crate) async fn release(&self, store: &dyn RunStore, states: &States) {
        for key in &self.holds {
            let done = states
                .update(store, key, |s: &mut Slots, now| {
                    s.release(&self.holder);
                    ((), s.expires_ms(now))
                })
                .await;
            if let Err(err) = done {
                tracing::warn!(error = %err, key, "could not give a flow-control slot back; it frees itself when its lease ends");
            }
        }
    }

    /// Extends every slot's lease; false if one was lost (its lease ran out and it went to
    /// another job).
    pub(crate) async fn renew(&self, store: &dyn RunStore, states: &States) -> bool {
        let mut all = true;
        for key in &self.holds {
            let kept = states
                .update(store, key, |s: &mut Slots, now| {
                    let kept = s.renew(&self.holder, now, self.lease_ms);
                    (kept, s.expires_ms(now))
                })
                .await;
            match kept {
                Ok(kept) => all &= kept,
                Err(err) => {
                    tracing::warn!(error = %err, key, "could not renew a flow-control slot");
                }
            }
        }
        all
    }
}

/// A debounce key's state.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Debounced {
    /// The job that runs when the key goes quiet.
    latest: Option<String>,
    /// When the burst's first job came.
    first: i64,
    /// When `latest` runs.
    due: i64,
    /// When `latest` was sent, if known.
    #[serde(default)]
    latest_sent: Option<i64>,
    /// When the job that ran last was sent, if known: jobs sent before it are superseded.
    #[serde(default)]
    fired_sent: Option<i64>,
    /// Jobs that fired, with when they are forgotten: their retries run.
    fired: Vec<(String, i64)>,
}

/// Judges one delivery.
pub(crate) async fn admit(
    store: &dyn RunStore,
    states: &States,
    plan: &Plan,
    ask: &Ask<'_>,
) -> Result<Admission, StoreError> {
    let mut permit = Permit {
        holder: ask.holder.to_owned(),
        lease_ms: plan.lease_ms,
        ..Permit::default()
    };
    let outcome = admit_into(store, states, plan, ask, &mut permit).await;
    match outcome {
        Ok(None) => Ok(Admission::Run(permit)),
        Ok(Some(other)) => {
            permit.release(store, states).await;
            Ok(other)
        }
        Err(err) => {
            permit.release(store, states).await;
            Err(err)
        }
    }
}

async fn admit_into(
    store: &dyn RunStore,
    states: &States,
    plan: &Plan,
    ask: &Ask<'_>,
    permit: &mut Permit,
) -> Result<Option<Admission>, StoreError> {
    if let Some((mode, key)) = &plan.singleton
        && let Some(no) = singleton(store, states, plan, ask, *mode, key, permit).await?
    {
        return Ok(Some(no));
    }
    if let Some(debounce) = &plan.debounce
        && let Some(no) = self::debounce(store, states, ask, debounce).await?
    {
        return Ok(Some(no));
    }
    if let Some((window, key)) = &plan.rate_limit
        && ask.fresh()
    {
        let entry = state_key(ask.job, "rate", key);
        let admitted = states
            .update(store, &entry, |starts: &mut Vec<i64>, now| {
                match window.admit(starts, now) {
                    Ok(next) => {
                        *starts = next;
                        (Ok(()), window.expires_ms(starts))
                    }
                    Err(at) => (Err(at - now), window.expires_ms(starts)),
                }
            })
            .await?;
        if let Err(wait_ms) = admitted {
            let why = format!(
                "rate limit{}: {} starts in the last {} s already; the next is allowed in {} s",
                key_words(key),
                window.limit,
                window.period_ms / 1000,
                (wait_ms + 999) / 1000,
            );
            record::skip(store, states, ask.job, "rate limit", key, ask.payload, &why).await;
            return Ok(Some(Admission::Skip));
        }
    }
    let mut marks = Marks {
        entry: true,
        ..Marks::default()
    };
    if let Some((rate, key)) = &plan.throttle {
        let now = crate::store::now_ms();
        // A booked start runs when it comes back on time; one that comes back late (a busy
        // worker, a slow delivery) books again rather than bunch with the starts after it.
        let booked = ask
            .marks
            .throttle
            .filter(|(attempt, at)| *attempt == ask.attempt && now <= at + rate.slack_ms);
        let start = match booked {
            Some((_, at)) => at,
            None => {
                let entry = state_key(ask.job, "throttle", key);
                states
                    .update(store, &entry, |tat: &mut Option<i64>, now| {
                        let (start, next) = rate.reserve(*tat, now);
                        *tat = Some(next);
                        (start, next)
                    })
                    .await?
            }
        };
        if start > now {
            marks.throttle = Some((ask.attempt, start));
            return Ok(Some(Admission::Defer {
                delay: millis(start - now),
                marks,
                why: format!(
                    "throttle{}: its start is booked for {} ms from now",
                    key_words(key),
                    start - now
                ),
            }));
        }
    }
    if let Some(c) = &plan.concurrency {
        if let Some((limit, key)) = &c.per_key {
            let entry = state_key(ask.job, "concurrency", key);
            if let Some(no) = take(
                store,
                states,
                ask,
                &entry,
                *limit,
                plan.lease_ms,
                true,
                permit,
            )
            .await?
            {
                return Ok(Some(no.with_why(format!(
                    "concurrency: {limit} running{}",
                    key_words(key)
                ))));
            }
        }
        if let Some(limit) = c.total {
            let entry = state_key(ask.job, "concurrency-total", "");
            if let Some(no) = take(
                store,
                states,
                ask,
                &entry,
                limit,
                plan.lease_ms,
                false,
                permit,
            )
            .await?
            {
                // Its place for its key stays taken while it waits for the total: it is the
                // key's next, and keeps its turn (its lease frees the place if it is lost).
                if let Some((_, key)) = &c.per_key {
                    let keyed = state_key(ask.job, "concurrency", key);
                    permit.holds.retain(|k| *k != keyed);
                }
                return Ok(Some(
                    no.with_why(format!("concurrency: {limit} running in total")),
                ));
            }
        }
    }
    Ok(None)
}

/// A `Defer` from [`take`] waiting for its reason.
struct Queued(Duration);

impl Queued {
    fn with_why(self, why: String) -> Admission {
        Admission::Defer {
            delay: self.0,
            marks: Marks {
                entry: true,
                ..Marks::default()
            },
            why,
        }
    }
}

/// Takes a slot of `entry`, or says how long to wait for one.
#[allow(clippy::too_many_arguments)]
async fn take(
    store: &dyn RunStore,
    states: &States,
    ask: &Ask<'_>,
    entry: &str,
    limit: u32,
    lease_ms: i64,
    queued: bool,
    permit: &mut Permit,
) -> Result<Option<Queued>, StoreError> {
    let took = states
        .update(store, entry, |s: &mut Slots, now| {
            let ttl = if queued {
                waiter_ttl_ms(Duration::from_secs(10))
            } else {
                TOTAL_WAITER_TTL_MS
            };
            let took = s.take(ask.holder, limit, now, lease_ms, ttl);
            (took, s.expires_ms(now))
        })
        .await?;
    match took {
        Take::Granted => {
            permit.holds.push(entry.to_owned());
            Ok(None)
        }
        Take::Queued { ahead } => Ok(Some(Queued(queue_delay(ahead, limit)))),
    }
}

async fn singleton(
    store: &dyn RunStore,
    states: &States,
    plan: &Plan,
    ask: &Ask<'_>,
    mode: SingletonMode,
    key: &str,
    permit: &mut Permit,
) -> Result<Option<Admission>, StoreError> {
    let entry = state_key(ask.job, "singleton", key);
    let replace = mode == SingletonMode::Cancel && ask.fresh();
    let (took, replaced) = states
        .update(store, &entry, |s: &mut Slots, now| {
            let mut replaced = Vec::new();
            if replace {
                s.holders.retain(|h| {
                    let other = h.id != ask.holder && h.until > now;
                    if other {
                        replaced.push(h.id.clone());
                    }
                    !other
                });
            }
            let took = s.take(ask.holder, 1, now, plan.lease_ms, TOTAL_WAITER_TTL_MS);
            ((took, replaced), s.expires_ms(now))
        })
        .await?;
    if took == Take::Granted {
        permit.holds.push(entry);
        for old in &replaced {
            cancel_replaced(store, old, ask.holder).await;
        }
        permit.replaced = replaced;
        return Ok(None);
    }
    if mode == SingletonMode::Skip && ask.fresh() {
        let why = format!("singleton{}: another run is active", key_words(key));
        record::skip(store, states, ask.job, "singleton", key, ask.payload, &why).await;
        return Ok(Some(Admission::Skip));
    }
    // A retry (or a hop) of a run already admitted: it waits for the active one.
    Ok(Some(Admission::Defer {
        delay: SINGLETON_RETRY,
        marks: Marks {
            entry: true,
            ..Marks::default()
        },
        why: format!("singleton{}: waiting for the active run", key_words(key)),
    }))
}

/// Asks run `old` to stop at its next step (a job with steps) or slice (a chunked run).
async fn cancel_replaced(store: &dyn RunStore, old: &str, by: &str) {
    let note = serde_json::json!({
        "id": format!("singleton:{by}"),
        "reason": format!("replaced by run {by} of the same singleton key"),
    })
    .to_string();
    let step = store
        .put_step(old, crate::durable::wait::CANCEL_STEP, &note)
        .await;
    let run = crate::store::request_cancel(store, old).await;
    if let Err(err) = step.and(run.map(|_| String::new())) {
        tracing::warn!(error = %err, run = old, "could not ask the replaced singleton run to stop");
    } else {
        tracing::info!(
            run = old,
            by,
            "asked the replaced singleton run to stop at its next step"
        );
    }
}

async fn debounce(
    store: &dyn RunStore,
    states: &States,
    ask: &Ask<'_>,
    plan: &DebouncePlan,
) -> Result<Option<Admission>, StoreError> {
    if !ask.marks.debounce && !ask.fresh() {
        return Ok(None); // a retry of a job that fired
    }
    let entry = state_key(ask.job, "debounce", &plan.key);
    let returning = ask.marks.debounce;
    let decision = states
        .update(store, &entry, |d: &mut Debounced, now| {
            d.fired.retain(|(_, until)| *until > now);
            let decision = if d.fired.iter().any(|(id, _)| id == ask.job_id) {
                Ok(None)
            } else if returning && d.latest.as_deref() != Some(ask.job_id) {
                Err(())
            } else if !returning
                && matches!((ask.sent_ms, d.latest_sent.or(d.fired_sent)), (Some(sent), Some(latest)) if sent < latest)
            {
                // Sent before the key's latest (or the one that ran), delivered after it:
                // already superseded.
                Err(())
            } else {
                if !returning {
                    // Quiet is counted from when the job was sent, when SQS says, so a slow
                    // delivery does not split a burst.
                    let sent = ask.sent_ms.map_or(now, |t| t.min(now));
                    if d.latest.is_none() {
                        d.first = sent;
                    }
                    let quiet = sent.saturating_add(plan.period_ms);
                    d.due = plan
                        .max_wait_ms
                        .map_or(quiet, |max| quiet.min(d.first.saturating_add(max)));
                    d.latest = Some(ask.job_id.to_owned());
                    d.latest_sent = ask.sent_ms;
                }
                if now >= d.due {
                    d.latest = None;
                    d.fired_sent = d.latest_sent.take().or(d.fired_sent);
                    d.fired.push((ask.job_id.to_owned(), now + FIRED_KEPT_MS));
                    if d.fired.len() > FIRED_KEPT {
                        d.fired.remove(0);
                    }
                    Ok(None)
                } else {
                    Ok(Some(d.due - now))
                }
            };
            let keep = d
                .fired
                .iter()
                .map(|(_, until)| *until)
                .chain(d.latest.as_ref().map(|_| d.due + 60_000))
                .max()
                .unwrap_or(now);
            (decision, keep)
        })
        .await?;
    Ok(match decision {
        Ok(None) => None,
        Ok(Some(wait_ms)) => Some(Admission::Defer {
            delay: millis(wait_ms),
            marks: Marks {
                debounce: true,
                ..Marks::default()
            },
            why: format!(
                "debounce{}: runs when the key has been quiet for {} s",
                key_words(&plan.key),
                plan.period_ms / 1000
            ),
        }),
        Err(()) => Some(Admission::Superseded {
            why: format!(
                "debounce{}: a newer job of the key came; it runs with its payload instead",
                key_words(&plan.key)
            ),
        }),
    })
}

fn key_words(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" for key {key:?}")
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
