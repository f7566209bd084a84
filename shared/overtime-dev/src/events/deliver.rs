//! Deliveries: each matching target's body to its queue, or (with the whole topology) to a
//! declared function through a durable queue of invocations; what cannot be delivered goes to
//! the target's dead-letter queue with EventBridge's reason attributes (`RULE_ARN`,
//! `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::activity::EventRecord;
use super::model::Target;
use super::put::Built;
use super::{Events, EventsError};
use crate::runtime::Function;
use crate::sqs::model::{AttributeValue, SendEntry};
use crate::sqs::rules::{ACCOUNT, REGION};

/// The queue `overtime dev` keeps function targets' invocations in, so an acknowledged event
/// is invoked even after a kill -9. Hidden from nothing: it is an ordinary local queue.
pub const INVOCATIONS_QUEUE: &str = "overtime-dev-event-invocations";

/// Where one target's copy of one event goes.
pub(crate) struct Delivery {
    /// Index into [`Plan::events`].
    pub(crate) event: usize,
    pub(crate) rule: String,
    pub(crate) rule_arn: String,
    pub(crate) target: Target,
    /// The body, or why the target's input could not be made.
    pub(crate) body: Result<String, String>,
}

/// One `PutEvents` call's events and deliveries.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) events: Vec<Built>,
    pub(crate) deliveries: Vec<Delivery>,
}

/// The queue an SQS ARN of this endpoint names.
fn queue_of(arn: &str) -> Option<&str> {
    crate::sqs::rules::queue_name_of_arn(arn).filter(|q| !q.is_empty())
}

/// Whether `overtime dev` can deliver to `arn`; the message says what it can.
pub(crate) fn check_arn(
    arn: &str,
    functions: &BTreeMap<String, Arc<Function>>,
) -> Result<(), String> {
    if queue_of(arn).is_some() || functions.contains_key(arn) {
        return Ok(());
    }
    let lambda = arn.starts_with("arn:aws:lambda:");
    Err(if lambda && functions.is_empty() {
        format!(
            "{arn}: functions are targets only when overtime dev runs the whole topology (not with --endpoint-only)"
        )
    } else if lambda {
        format!(
            "{arn} is not a declared function; the declared ones are {}",
            functions.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!(
            "{arn}: overtime dev delivers to its own SQS queues (arn:aws:sqs:{REGION}:{ACCOUNT}:NAME) and to declared functions"
        )
    })
}

fn string(value: &str) -> AttributeValue {
    AttributeValue {
        data_type: "String".into(),
        string_value: Some(value.to_owned()),
        ..AttributeValue::default()
    }
}

impl Events {
    /// Writes every delivery of `plan` in one durable commit, then records the events.
    pub(crate) async fn deliver(&self, plan: Plan) -> Result<(), EventsError> {
        let mut batches: BTreeMap<String, Vec<SendEntry>> = BTreeMap::new();
        let mut records: Vec<EventRecord> = plan.events.iter().map(EventRecord::of).collect();
        let mut undeliverable: Vec<(usize, Delivery, String, String)> = Vec::new();
        let mut queues: BTreeMap<String, Option<bool>> = BTreeMap::new();
        let Plan { events, deliveries } = plan;
        for mut d in deliveries {
            let record = &mut records[d.event];
            if !record.rules.contains(&d.rule) {
                record.rules.push(d.rule.clone());
            }
            let body = match std::mem::replace(&mut d.body, Ok(String::new())) {
                Ok(b) => b,
                Err(why) => {
                    let event = d.event;
                    undeliverable.push((event, d, "INPUT_TRANSFORMATION_FAILED".into(), why));
                    continue;
                }
            };
            if self.functions.contains_key(&d.target.arn) {
                let mut entry = SendEntry {
                    message_body: Some(body),
                    ..SendEntry::default()
                };
                entry
                    .message_attributes
                    .insert("FUNCTION_ARN".into(), string(&d.target.arn));
                entry
                    .message_attributes
                    .insert("RULE_ARN".into(), string(&d.rule_arn));
                if let Some(dlq) = d
                    .target
                    .dead_letter_config
                    .as_ref()
                    .and_then(|c| c.arn.as_ref())
                {
                    entry
                        .message_attributes
                        .insert("DEAD_LETTER_ARN".into(), string(dlq));
                }
                batches
                    .entry(INVOCATIONS_QUEUE.to_owned())
                    .or_default()
                    .push(entry);
                record.started.push(format!(
                    "function {}",
                    d.target.arn.rsplit(':').next().unwrap_or_default()
                ));
                continue;
            }
            let Some(queue) = queue_of(&d.target.arn).map(str::to_owned) else {
                let why = format!("{} is not a target overtime dev delivers to", d.target.arn);
                let event = d.event;
                undeliverable.push((event, d, "NO_SUCH_TARGET".into(), why));
                continue;
            };
            let queue = queue.as_str();
            let fifo = match queues.get(queue) {
                Some(known) => *known,
                None => {
                    let fifo = self.sqs.config(queue).await.ok().map(|c| c.fifo);
                    queues.insert(queue.to_owned(), fifo);
                    fifo
                }
            };
            let Some(fifo) = fifo else {
                let why = format!("queue {queue} does not exist");
                let event = d.event;
                undeliverable.push((event, d, "SQS_QUEUE_NOT_FOUND".into(), why));
                continue;
            };
            let event = &events[d.event];
            record.started.push(started(&body, queue));
            let mut entry = SendEntry {
                message_body: Some(body),
                ..SendEntry::default()
            };
            if fifo {
                // EventBridge uses the event's id as a FIFO target's deduplication id.
                entry.message_group_id = d
                    .target
                    .sqs_parameters
                    .as_ref()
                    .and_then(|p| p.message_group_id.clone());
                entry.message_deduplication_id = Some(event.id.clone());
            }
            batches.entry(queue.to_owned()).or_default().push(entry);
        }
        for (event, d, code, message) in &undeliverable {
            let record = &mut records[*event];
            record
                .failures
                .push(format!("{} → {}: {message}", d.rule, d.target.arn));
            let Some(dlq) = d
                .target
                .dead_letter_config
                .as_ref()
                .and_then(|c| c.arn.as_deref())
                .and_then(queue_of)
            else {
                tracing::warn!(rule = %d.rule, target = %d.target.arn, %message, "an event could not be delivered and its target has no dead-letter queue: it is dropped, as EventBridge drops it");
                continue;
            };
            let mut entry = SendEntry {
                message_body: Some(events[*event].text.get().to_owned()),
                ..SendEntry::default()
            };
            for (k, v) in [
                ("RULE_ARN", d.rule_arn.as_str()),
                ("TARGET_ARN", d.target.arn.as_str()),
                ("ERROR_CODE", code.as_str()),
                ("ERROR_MESSAGE", message.as_str()),
            ] {
                entry.message_attributes.insert(k.into(), string(v));
            }
            batches.entry(dlq.to_owned()).or_default().push(entry);
        }
        if !batches.is_empty() {
            let results = self
                .sqs
                .send_many(batches.into_iter().collect())
                .await
                .map_err(|e| {
                    EventsError::Internal(format!("the events could not be stored: {e}"))
                })?;
            for failed in results.iter().flatten().filter_map(|r| r.as_ref().err()) {
                tracing::warn!(error = %failed, "a queue refused an event's message");
            }
        }
        self.activity().record(records);
        Ok(())
    }
}

/// What a delivery starts, for the dashboard: the job of an overtime envelope, else the queue.
fn started(body: &str, queue: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Job<'a> {
        #[serde(borrow)]
        job: std::borrow::Cow<'a, str>,
    }
    match serde_json::from_str::<Job<'_>>(body) {
        Ok(j) => format!("job {} on {queue}", j.job),
        Err(_) => format!("queue {queue}"),
    }
}
