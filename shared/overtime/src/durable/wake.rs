//! The built-in job [`WAKE_JOB`]: an event arrived; the runs waiting for it resume.

use super::wait::{
    KeptMessage, WAKE_JOB, Waiter, fields_key, lookup, message_step, update_list, waiters_key,
};
use crate::job::{JobContext, JobError, JobResult};
use crate::queue::Queue;
use crate::store::{RunStore, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// What a listener with the wake job delivers: the event as the input transformer renders it.
#[derive(Debug, Deserialize)]
pub(crate) struct Wake {
    name: String,
    time: String,
    id: String,
    data: Value,
}

impl Wake {
    /// Resumes every run waiting for this event whose wait had begun when it was sent.
    pub(crate) async fn run<S>(self, ctx: JobContext<S>) -> JobResult {
        let store = ctx.step_store(WAKE_JOB)?.clone();
        let now = now_ms();
        let Some(fields) = store
            .entry(&fields_key(&self.name), now)
            .await
            .map_err(JobError::retry)?
        else {
            tracing::debug!(event = self.name, "no run waits for this event");
            return Ok(());
        };
        let fields: Vec<String> = serde_json::from_str(&fields.value).map_err(|e| {
            JobError::permanent(format!(
                "the run store's list of waited fields is not JSON: {e}"
            ))
        })?;
        let sent_s = chrono::DateTime::parse_from_rfc3339(&self.time)
            .map_or(now.div_euclid(1000), |t| t.timestamp());
        let detail = json!({ "id": self.id, "data": self.data });
        let result = serde_json::to_string(&json!({
            "name": self.name, "id": self.id, "time": self.time, "data": self.data,
        }))
        .map_err(JobError::permanent)?;
        let mut pending = false;
        for path in &fields {
            let Some(value) = lookup(&detail, path) else {
                continue;
            };
            let value = serde_json::to_string(value).map_err(JobError::permanent)?;
            let key = waiters_key(&self.name, path, &value);
            // Waiters are read and resumed, then the list is written without them (and without
            // those past their deadline, whose own message resumes them).
            let mut resumed: HashSet<(String, String)> = HashSet::new();
            let mut failed = None;
            let last = ctx.is_last_attempt();
            let Some(entry) = store.entry(&key, now).await.map_err(JobError::retry)? else {
                continue;
            };
            let waiters: Vec<Waiter> = serde_json::from_str(&entry.value).map_err(|e| {
                JobError::permanent(format!(
                    "the run store's list of waiting runs is not JSON: {e}"
                ))
            })?;
            for w in waiters {
                match resume(&*store, ctx.queue(), &w, sent_s, &result).await {
                    Ok(Resumed::Done) => {
                        resumed.insert((w.run, w.step));
                    }
                    Ok(Resumed::NotYet) => {}
                    Ok(Resumed::NoMessage) if last => {
                        tracing::warn!(
                            run = w.run,
                            step = w.step,
                            "the waiting message was not kept; the run resumes at its next wake-up"
                        );
                        resumed.insert((w.run, w.step));
                    }
                    Ok(Resumed::NoMessage) => pending = true,
                    Err(e) => failed = Some(e),
                }
            }
            update_list(&*store, &key, 0, |waiters: &mut Vec<Waiter>| {
                let before = waiters.len();
                waiters.retain(|w| {
                    w.deadline_ms > now && !resumed.contains(&(w.run.clone(), w.step.clone()))
                });
                before != waiters.len()
            })
            .await
            .map_err(JobError::retry)?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if pending {
            // The run registered but its worker has not kept its message yet: look again soon.
            return Err(JobError::retry_after(
                "a waiting run's message is not kept yet",
                Duration::from_secs(1),
            ));
        }
        Ok(())
    }
}

/// How resuming one waiter went.
enum Resumed {
    /// Its result is stored (this event, or an earlier one, or the timeout) and, if this event
    /// won, its message sent: it leaves the index.
    Done,
    /// Its wait had not begun when the event was sent: it stays.
    NotYet,
    /// This event is its result but its message is not kept yet.
    NoMessage,
}

async fn resume(
    store: &dyn RunStore,
    queue: &Queue,
    w: &Waiter,
    sent_s: i64,
    result: &str,
) -> Result<Resumed, JobError> {
    let Some(since) = store
        .step(&w.run, &w.since_step())
        .await
        .map_err(JobError::retry)?
    else {
        return Ok(Resumed::NotYet); // registering right now: this event came before
    };
    let since_ms: i64 = since.parse().unwrap_or(0);
    if sent_s < since_ms.div_euclid(1000) {
        return Ok(Resumed::NotYet);
    }
    let stored = store
        .put_step(&w.run, &w.result_step(), result)
        .await
        .map_err(JobError::retry)?;
    if w.cancel {
        // A chunked run stops at its next slice; a job at its next step.
        crate::store::request_cancel(store, &w.run)
            .await
            .map_err(JobError::retry)?;
        tracing::info!(run = w.run, "cancelled a run");
        return Ok(Resumed::Done);
    }
    if stored != result {
        return Ok(Resumed::Done); // another event, or the timeout, came first
    }
    let Some(kept) = store
        .step(&w.run, &message_step(&w.step))
        .await
        .map_err(JobError::retry)?
    else {
        return Ok(Resumed::NoMessage);
    };
    let kept: KeptMessage = serde_json::from_str(&kept).map_err(|e| {
        JobError::permanent(format!("a waiting run's kept message is not JSON: {e}"))
    })?;
    let to = Queue::with_backend(queue.backend().clone(), kept.queue);
    crate::worker::resend_marked(&to, &kept.body, &w.step)
        .await
        .map_err(JobError::retry)?;
    tracing::info!(run = w.run, step = w.step, "resumed a waiting run");
    Ok(Resumed::Done)
}
