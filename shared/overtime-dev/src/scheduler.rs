//! The scheduler: every schedule of `infra/overtime.toml` (as EventBridge Scheduler delivers
//! it: the declared input, its placeholders filled, to a function or a queue) and every cron
//! of `vercel.json` (as Vercel's cron calls it: a GET with `CRON_SECRET`), at its time.

use crate::runtime::Function;
use crate::sqs::model::SendEntry;
use crate::sqs::{Sqs, rules};
use crate::vercel::Route;
use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use overtime::schedule::Schedule;
use std::sync::Arc;
use std::time::Duration;

/// Where a schedule delivers.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Lambda function, invoked with the input.
    Function(Arc<Function>),
    /// A queue, sent the input as the message body.
    Queue(String),
    /// A Vercel route, called with GET.
    Route(Arc<Route>),
}

/// One schedule from either file.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The overtime.toml name, or the vercel.json path.
    pub name: String,
    /// Which file declared it.
    pub file: &'static str,
    /// When it fires.
    pub schedule: Schedule,
    /// The expression as written.
    pub expression: String,
    /// The input template (EventBridge Scheduler placeholders), for function and queue targets.
    pub input: String,
    /// What it fires.
    pub target: Target,
    /// Disabled schedules only fire through `overtime trigger`.
    pub enabled: bool,
}

impl Trigger {
    /// What it fires, for the start-up table.
    pub fn target_name(&self) -> String {
        match &self.target {
            Target::Function(f) => format!("function {}", f.spec().name),
            Target::Queue(q) => format!("queue {q}"),
            Target::Route(_) => format!("GET {}", self.name),
        }
    }
}

/// Every schedule, and the secret Vercel crons carry.
#[derive(Debug)]
pub struct Scheduler {
    triggers: Vec<Trigger>,
    sqs: Sqs,
    cron_secret: String,
    retry_delay: Duration,
}

/// A firing this late is a time the machine slept through, not one to deliver now.
const MISSED_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// True when a firing due `at` is, at `now`, a time the machine slept through.
fn missed(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - at > MISSED_AFTER
}

/// How many times Lambda retries a failed asynchronous invocation (its default).
const ASYNC_RETRIES: u32 = 2;

/// Fills EventBridge Scheduler's context placeholders.
pub fn fill(input: &str, name: &str, at: DateTime<Utc>) -> String {
    input
        .replace(
            "<aws.scheduler.schedule-arn>",
            &format!(
                "arn:aws:scheduler:{}:{}:schedule/default/{name}",
                rules::REGION,
                rules::ACCOUNT
            ),
        )
        .replace(
            "<aws.scheduler.scheduled-time>",
            &at.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        .replace(
            "<aws.scheduler.execution-id>",
            &uuid::Uuid::new_v4().to_string(),
        )
        .replace("<aws.scheduler.attempt-number>", "1")
}

impl Scheduler {
    /// A scheduler over these triggers; a failed function invocation is retried after
    /// `retry_delay` and again twice that later, as Lambda retries asynchronous invocations.
    pub fn new(
        triggers: Vec<Trigger>,
        sqs: Sqs,
        cron_secret: String,
        retry_delay: Duration,
    ) -> Arc<Self> {
        Arc::new(Scheduler {
            triggers,
            sqs,
            cron_secret,
            retry_delay,
        })
    }

    /// The triggers.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Runs every enabled trigger at its times, until dropped.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = Vec::new();
        for (i, t) in self.triggers.iter().enumerate() {
            if !t.enabled {
                continue;
            }
            let me = self.clone();
            tasks.push(tokio::spawn(async move { me.run_one(i).await }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn run_one(self: Arc<Self>, i: usize) {
        let trigger = &self.triggers[i];
        let mut after = Utc::now();
        while let Some(at) = trigger.schedule.next_after(after) {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let now = Utc::now();
            after = at.max(now);
            if missed(at, now) {
                // The machine slept through it (timers stop while it is suspended). The
                // platforms do not catch up on missed times, and neither does this: the next
                // firing is the first one after now, not a burst of every one missed.
                tracing::warn!(schedule = %trigger.name, at = %at, "missed while this machine was asleep; not fired");
                continue;
            }
            let me = self.clone();
            // A slow target does not delay the next firing (platforms do not wait either).
            tokio::spawn(async move {
                let _ = me.fire_index(i, at, "schedule").await;
            });
        }
    }

    /// Fires the trigger named `name` (an overtime.toml name or a vercel.json path) now.
    pub async fn fire(&self, name: &str) -> Result<String, String> {
        let i = self
            .triggers
            .iter()
            .position(|t| {
                t.name == name || t.name.trim_start_matches('/') == name.trim_start_matches('/')
            })
            .ok_or_else(|| {
                let names: Vec<&str> = self.triggers.iter().map(|t| t.name.as_str()).collect();
                format!(
                    "no schedule {name:?}; the schedules are: {}",
                    names.join(", ")
                )
            })?;
        self.fire_index(i, Utc::now(), "trigger").await
    }

    async fn fire_index(&self, i: usize, at: DateTime<Utc>, how: &str) -> Result<String, String> {
        let t = &self.triggers[i];
        let why = format!("{how} {}", t.name);
        match &t.target {
            Target::Function(f) => {
                let input = Bytes::from(fill(&t.input, &t.name, at));
                let outcome = f.invoke(input.clone(), &why).await;
                if outcome.is_ok() {
                    return Ok(outcome.summary());
                }
                // EventBridge Scheduler invokes a function asynchronously, and Lambda retries
                // a failed asynchronous invocation twice (about 1 and then 2 minutes later),
                // with the same event, then drops it.
                let (f, delay) = (f.clone(), self.retry_delay);
                tokio::spawn(async move {
                    let mut wait = delay;
                    for retry in 1..=ASYNC_RETRIES {
                        tokio::time::sleep(wait).await;
                        let again = f
                            .invoke(input.clone(), &format!("{why} (retry {retry})"))
                            .await;
                        if again.is_ok() {
                            return;
                        }
                        wait *= 2;
                    }
                    println!(
                        "{} gave up {why}: failed {} times; Lambda drops the event",
                        Utc::now().format("%H:%M:%S"),
                        ASYNC_RETRIES + 1
                    );
                });
                Err(format!(
                    "{}; Lambda retries it in {} s and {} s after that",
                    outcome.summary(),
                    delay.as_secs(),
                    delay.as_secs() * 2
                ))
            }
            Target::Queue(q) => {
                let entry = SendEntry {
                    message_body: Some(fill(&t.input, &t.name, at)),
                    ..SendEntry::default()
                };
                let sent = self
                    .sqs
                    .send(q, vec![entry])
                    .await
                    .map_err(|e| e.to_string())?
                    .pop()
                    .ok_or("no result")?
                    .map_err(|e| e.to_string())?;
                println!(
                    "{} ok    {why} -> queue {q}: message {}",
                    Utc::now().format("%H:%M:%S"),
                    sent.message_id
                );
                Ok(format!("sent message {}", sent.message_id))
            }
            Target::Route(route) => {
                let (status, body) = route.cron(&t.name, &self.cron_secret, &why).await?;
                if (200..300).contains(&status) {
                    Ok(format!("HTTP {status}"))
                } else {
                    Err(format!("HTTP {status}: {body}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_a_minute_late_was_slept_through_and_is_skipped() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T05:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        // A busy machine wakes a little late: still fired.
        assert!(!missed(at, at + chrono::TimeDelta::milliseconds(1500)));
        assert!(!missed(at, at + MISSED_AFTER));
        // A laptop that slept through it: skipped, not replayed.
        assert!(missed(
            at,
            at + MISSED_AFTER + chrono::TimeDelta::seconds(1)
        ));
        assert!(missed(at, at + chrono::TimeDelta::hours(8)));
    }

    #[test]
    fn placeholders_are_filled_as_scheduler_fills_them() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T05:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        let out = fill(
            r#"{"s":"<aws.scheduler.schedule-arn>","t":"<aws.scheduler.scheduled-time>","k":"x@<aws.scheduler.scheduled-time>","n":<aws.scheduler.attempt-number>}"#,
            "cleanup",
            at,
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            v["s"],
            "arn:aws:scheduler:us-east-1:000000000000:schedule/default/cleanup"
        );
        assert_eq!(v["t"], "2026-11-28T05:00:00Z");
        assert_eq!(v["k"], "x@2026-11-28T05:00:00Z");
        assert_eq!(v["n"], 1);
    }
}
