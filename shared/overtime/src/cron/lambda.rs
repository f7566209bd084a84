//! Cron on Lambda: EventBridge rule events and EventBridge Scheduler inputs, as [`Tick`]s.
//!
//! A rule delivers its standard "Scheduled Event". A Scheduler schedule targets the function
//! with this input (what `overtime infra render` generates), filled in by Scheduler's
//! context attributes:
//!
//! ```json
//! {"overtime": "tick",
//!  "schedule": "<aws.scheduler.schedule-arn>",
//!  "scheduledTime": "<aws.scheduler.scheduled-time>",
//!  "payload": {"any": "json"}}
//! ```

use super::{Tick, TickSource};
use crate::job::BoxError;
use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::Value;
use std::future::Future;

/// An event that is not a schedule this adapter knows.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// Neither an EventBridge "Scheduled Event" nor an overtime Scheduler input.
    #[error(
        "not a schedule event: expected an EventBridge \"Scheduled Event\" or an EventBridge Scheduler input {{\"overtime\":\"tick\",…}} ({0})"
    )]
    UnknownShape(String),
    /// The shape is right but a field is wrong.
    #[error("invalid schedule event: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct RuleEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: DateTime<Utc>,
    #[serde(default)]
    resources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchedulerInput {
    schedule: String,
    scheduled_time: DateTime<Utc>,
    #[serde(default)]
    payload: Option<Value>,
}

impl Tick {
    /// Reads a Lambda event as a tick.
    ///
    /// ```
    /// # use overtime::cron::{Tick, TickSource};
    /// let event = serde_json::json!({
    ///     "detail-type": "Scheduled Event", "source": "aws.events",
    ///     "time": "2015-10-08T16:53:06Z",
    ///     "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
    ///     "detail": {}
    /// });
    /// let tick = Tick::from_lambda_event(&event)?;
    /// assert_eq!(tick.schedule, "my-scheduled-rule");
    /// assert_eq!(tick.source, TickSource::EventBridgeRule);
    /// # Ok::<(), overtime::cron::lambda::TickError>(())
    /// ```
    pub fn from_lambda_event(event: &Value) -> Result<Self, TickError> {
        if event.get("overtime").and_then(Value::as_str) == Some("tick") {
            let input = SchedulerInput::deserialize(event)
                .map_err(|e| TickError::Invalid(e.to_string()))?;
            return Ok(Self {
                schedule: last_segment(&input.schedule).to_owned(),
                scheduled_at: input.scheduled_time,
                source: TickSource::EventBridgeScheduler,
                expression: None,
                payload: input.payload,
            });
        }
        if event.get("detail-type").is_some() {
            let rule =
                RuleEvent::deserialize(event).map_err(|e| TickError::Invalid(e.to_string()))?;
            if rule.detail_type != "Scheduled Event" {
                return Err(TickError::UnknownShape(format!(
                    "detail-type is {:?}",
                    rule.detail_type
                )));
            }
            let arn = rule.resources.first().ok_or_else(|| {
                TickError::Invalid("Scheduled Event without a rule ARN in resources".into())
            })?;
            return Ok(Self {
                schedule: last_segment(arn).to_owned(),
                scheduled_at: rule.time,
                source: TickSource::EventBridgeRule,
                expression: None,
                payload: None,
            });
        }
        let keys: Vec<&str> = event
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        Err(TickError::UnknownShape(format!("top-level keys: {keys:?}")))
    }
}

/// `arn:…:rule/bus/name` or `arn:…:schedule/group/name` → `name`; a bare name stays.
fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Serves cron ticks through the Lambda runtime API.
pub async fn run<F, Fut>(handler: F) -> Result<(), BoxError>
where
    F: Fn(Tick) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let tick = Tick::from_lambda_event(&event.payload)?;
            let span = tracing::info_span!("tick", schedule = %tick.schedule, scheduled_at = %tick.scheduled_at, source = ?tick.source);
            let key = tick.key();
            // Boxed: the handler's future stays out of the runtime's own layout.
            Box::pin(tracing::Instrument::instrument(handler(tick), span)).await?;
            Ok::<_, BoxError>(serde_json::json!({ "ok": true, "tick": key }))
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_input() {
        let event = serde_json::json!({
            "overtime": "tick",
            "schedule": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/hourly-sync",
            "scheduledTime": "2026-11-27T10:00:00Z",
            "payload": {"region": "eu"}
        });
        let tick = Tick::from_lambda_event(&event).expect("a tick");
        assert_eq!(tick.schedule, "hourly-sync");
        assert_eq!(tick.source, TickSource::EventBridgeScheduler);
        assert_eq!(tick.payload, Some(serde_json::json!({"region": "eu"})));
    }

    #[test]
    fn other_events_are_refused_with_a_reason() {
        let sqs = serde_json::json!({"Records": []});
        let err = Tick::from_lambda_event(&sqs).expect_err("not a tick");
        assert!(err.to_string().contains("Records"), "{err}");
        let other = serde_json::json!({"detail-type": "EC2 Instance State-change Notification", "time": "2015-10-08T16:53:06Z"});
        assert!(matches!(
            Tick::from_lambda_event(&other),
            Err(TickError::UnknownShape(_))
        ));
        let bad =
            serde_json::json!({"overtime": "tick", "schedule": "x", "scheduledTime": "yesterday"});
        assert!(matches!(
            Tick::from_lambda_event(&bad),
            Err(TickError::Invalid(_))
        ));
    }
}
