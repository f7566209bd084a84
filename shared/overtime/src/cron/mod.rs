//! Cron: one handler signature, [`Tick`], whatever fired it.
//!
//! An EventBridge rule's "Scheduled Event", an EventBridge Scheduler input, a Vercel cron
//! request and a manual trigger all arrive as the same `Tick`. Triggers are at-least-once:
//! use [`Tick::key`] as the idempotency key of what a tick fans out, so a duplicate tick
//! cannot enqueue the same work twice (on FIFO queues it is the deduplication id).
//!
//! ```no_run
//! use overtime::cron::{self, Tick};
//! use overtime::{BoxError, Queue};
//!
//! async fn cleanup(tick: Tick) -> Result<(), BoxError> {
//!     tracing::info!(schedule = %tick.schedule, at = %tick.scheduled_at, "cleaning up");
//!     Ok(())
//! }
//!
//! # async fn demo() -> Result<(), BoxError> {
//! // Lambda (EventBridge) or Vercel (HTTP + CRON_SECRET), chosen from the environment.
//! cron::run(cleanup).await
//! # }
//! ```

#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "vercel")]
pub mod vercel;

use crate::job::BoxError;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// One firing of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// The schedule's name: the EventBridge rule or schedule name, or the Vercel cron path.
    pub schedule: String,
    /// When the schedule was due (for Vercel, the minute the request arrived in).
    pub scheduled_at: DateTime<Utc>,
    /// What delivered it.
    pub source: TickSource,
    /// The schedule expression, when the trigger says (Vercel's `x-vercel-cron-schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Extra input the schedule carries (EventBridge Scheduler `payload`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// What delivered a [`Tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TickSource {
    /// An EventBridge rule's "Scheduled Event".
    EventBridgeRule,
    /// An EventBridge Scheduler schedule.
    EventBridgeScheduler,
    /// A Vercel cron job request.
    Vercel,
    /// Fired by hand (`overtime trigger`, a test).
    Manual,
}

impl Tick {
    /// A tick of `schedule` due now, fired by hand.
    pub fn manual(schedule: impl Into<String>) -> Self {
        Self {
            schedule: schedule.into(),
            scheduled_at: Utc::now(),
            source: TickSource::Manual,
            expression: None,
            payload: None,
        }
    }

    /// The tick's identity: `schedule@time`, the same for every delivery of this firing.
    pub fn key(&self) -> String {
        format!(
            "{}@{}",
            self.schedule,
            self.scheduled_at.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    /// An idempotency key for one piece of what this tick fans out: `schedule@time/part`.
    ///
    /// ```
    /// # use overtime::cron::Tick;
    /// let tick = Tick::manual("hourly-sync");
    /// assert!(tick.key_for(42).starts_with("hourly-sync@"));
    /// assert!(tick.key_for(42).ends_with("/42"));
    /// ```
    pub fn key_for(&self, part: impl std::fmt::Display) -> String {
        format!("{}/{part}", self.key())
    }
}

/// The minute `t` falls in: a cron fires at most once a minute, so all deliveries of one
/// firing agree on it.
#[cfg_attr(not(feature = "vercel"), allow(dead_code))]
pub(crate) fn floor_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// Runs a cron handler on the platform the process finds itself on: the Lambda runtime API
/// when `AWS_LAMBDA_RUNTIME_API` is set (feature `lambda`), else Vercel's HTTP runtime
/// (feature `vercel`).
pub async fn run<F, Fut>(handler: F) -> Result<(), BoxError>
where
    F: Fn(Tick) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    // Boxed: a `main` that awaits this stays shallow whatever the handler's future holds.
    #[cfg(feature = "lambda")]
    if crate::platform::on_lambda() {
        return Box::pin(lambda::run(handler)).await;
    }
    #[cfg(feature = "vercel")]
    {
        Box::pin(vercel::run(handler)).await
    }
    #[cfg(not(feature = "vercel"))]
    {
        let _ = handler;
        Err("no cron platform: enable overtime's `lambda` feature and run under the Lambda runtime API, or enable `vercel`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_firing() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        let tick = Tick {
            schedule: "hourly-sync".into(),
            scheduled_at: at,
            source: TickSource::EventBridgeRule,
            expression: None,
            payload: None,
        };
        assert_eq!(tick.key(), "hourly-sync@2026-11-27T10:00:00Z");
        assert_eq!(
            tick.key_for("acct-1"),
            "hourly-sync@2026-11-27T10:00:00Z/acct-1"
        );
        let late = DateTime::parse_from_rfc3339("2026-11-27T10:00:41.5Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        assert_eq!(floor_to_minute(late), at);
    }
}
