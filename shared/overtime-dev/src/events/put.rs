//! `PutEvents` and `TestEventPattern`: an event is checked and given EventBridge's shape, the
//! enabled rules of its bus that match it pick their targets, and every delivery to every queue
//! is written in one durable commit before the call is answered, so an acknowledged event
//! reaches every matching target even if `overtime dev` is killed right after.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::deliver::{Delivery, Plan};
use super::model::{PutEventsEntry, PutEventsRequest, PutEventsResultEntry};
use super::registry::{bus_name, rule_arn};
use super::transform::{self, Context};
use super::{Events, EventsError};
use crate::sqs::rules::{ACCOUNT, REGION};
use overtime::events::pattern::Pattern;
use overtime::limits::{
    EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS, EVENTBRIDGE_MAX_PUT_BYTES, EVENTBRIDGE_MAX_PUT_ENTRIES,
};

/// Bytes `Time` adds to an entry's size. Source: Amazon EventBridge user guide, "Calculating
/// PutEvents event entry size".
const TIME_BYTES: usize = 14;

/// An accepted entry: its event, as the text targets receive and as JSON for matching.
pub(crate) struct Built {
    pub(crate) id: String,
    pub(crate) bus: String,
    pub(crate) detail_type: String,
    pub(crate) source: String,
    pub(crate) time: String,
    pub(crate) text: Box<RawValue>,
    pub(crate) value: Value,
}

/// An entry's size as EventBridge counts it.
fn entry_size(e: &PutEventsEntry) -> usize {
    let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    len(&e.source)
        + len(&e.detail_type)
        + len(&e.detail)
        + e.resources.iter().map(String::len).sum::<usize>()
        + if e.time.is_some() { TIME_BYTES } else { 0 }
}

fn invalid(param: &str, reason: &str) -> PutEventsResultEntry {
    PutEventsResultEntry::failed(
        "InvalidArgument",
        format!("Parameter {param} is not valid. Reason: {reason}"),
    )
}

/// The event of one entry, or the entry's error as EventBridge reports it.
fn build(entry: &PutEventsEntry, now: DateTime<Utc>) -> Result<Built, PutEventsResultEntry> {
    let source = match entry.source.as_deref() {
        None | Some("") => return Err(invalid("Source", "Source is a required argument.")),
        Some(s) => s,
    };
    let detail_type = match entry.detail_type.as_deref() {
        None | Some("") => {
            return Err(invalid("DetailType", "DetailType is a required argument."));
        }
        Some(d) => d,
    };
    for (name, value) in [("Source", source), ("DetailType", detail_type)] {
        if value.chars().count() > EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS {
            return Err(invalid(
                name,
                &format!("{name} is longer than {EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS} characters."),
            ));
        }
    }
    if source.starts_with("aws.") {
        return Err(PutEventsResultEntry::failed(
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        ));
    }
    let Some(detail) = entry.detail.as_deref() else {
        return Err(invalid("Detail", "Detail is a required argument."));
    };
    let malformed = || PutEventsResultEntry::failed("MalformedDetail", "Detail is malformed.");
    let detail_value: Value = serde_json::from_str(detail).map_err(|_| malformed())?;
    if !detail_value.is_object() {
        return Err(malformed());
    }
    let time = match entry.time {
        None => now,
        Some(secs) if secs.is_finite() => {
            DateTime::from_timestamp_millis((secs * 1000.0) as i64).unwrap_or(now)
        }
        Some(_) => return Err(invalid("Time", "Time is not a timestamp.")),
    };
    let time = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let id = uuid::Uuid::new_v4().to_string();
    let quoted = |s: &str| Value::String(s.to_owned()).to_string();
    let resources = serde_json::to_string(&entry.resources).unwrap_or_else(|_| "[]".into());
    let text = format!(
        r#"{{"version":"0","id":"{id}","detail-type":{},"source":{},"account":"{ACCOUNT}","time":"{time}","region":"{REGION}","resources":{resources},"detail":{}}}"#,
        quoted(detail_type),
        quoted(source),
        transform::minify_valid(detail),
    );
    let text = RawValue::from_string(text).map_err(|_| malformed())?;
    // The same event as JSON for matching, from the parts already parsed (not parsed again).
    let value = Value::Object(serde_json::Map::from_iter([
        ("version".to_owned(), Value::from("0")),
        ("id".to_owned(), Value::from(id.as_str())),
        ("detail-type".to_owned(), Value::from(detail_type)),
        ("source".to_owned(), Value::from(source)),
        ("account".to_owned(), Value::from(ACCOUNT)),
        ("time".to_owned(), Value::from(time.as_str())),
        ("region".to_owned(), Value::from(REGION)),
        ("resources".to_owned(), Value::from(entry.resources.clone())),
        ("detail".to_owned(), detail_value),
    ]));
    Ok(Built {
        id,
        bus: bus_name(entry.event_bus_name.as_deref()).to_owned(),
        detail_type: detail_type.to_owned(),
        source: source.to_owned(),
        time,
        text,
        value,
    })
}

impl Events {
    /// `PutEvents`.
    pub async fn put_events(&self, req: PutEventsRequest) -> Result<Value, EventsError> {
        let n = req.entries.len();
        if n == 0 || n > EVENTBRIDGE_MAX_PUT_ENTRIES {
            return Err(EventsError::Validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {EVENTBRIDGE_MAX_PUT_ENTRIES}, not {n}"
            )));
        }
        if req.endpoint_id.is_some() {
            return Err(EventsError::Validation(
                "Global endpoints (EndpointId) are not served by overtime dev; send without one."
                    .into(),
            ));
        }
        let size: usize = req.entries.iter().map(entry_size).sum();
        if size > EVENTBRIDGE_MAX_PUT_BYTES {
            return Err(EventsError::Validation(format!(
                "Total size of the entries in the request is over the limit: {size} bytes, at most {EVENTBRIDGE_MAX_PUT_BYTES}."
            )));
        }
        let now = Utc::now();
        let ingestion = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut results = Vec::with_capacity(n);
        let mut plan = Plan::default();
        {
            let reg = self.registry();
            for entry in &req.entries {
                let built = match build(entry, now) {
                    Ok(b) => b,
                    Err(failed) => {
                        results.push(failed);
                        continue;
                    }
                };
                let Some(bus) = reg.buses.get(&built.bus) else {
                    results.push(PutEventsResultEntry::failed(
                        "ResourceNotFoundException",
                        format!("Event bus {} does not exist.", built.bus),
                    ));
                    continue;
                };
                let event = plan.events.len();
                for rule in bus.rules.values().filter(|r| r.enabled()) {
                    if !rule
                        .pattern
                        .as_ref()
                        .is_some_and(|p| p.matches(&built.value))
                    {
                        continue;
                    }
                    let arn = rule_arn(&bus.name, &rule.name);
                    let cx = Context {
                        rule_arn: &arn,
                        rule_name: &rule.name,
                        ingestion_time: &ingestion,
                    };
                    for target in &rule.targets {
                        plan.deliveries.push(Delivery {
                            event,
                            rule: rule.name.clone(),
                            rule_arn: arn.clone(),
                            target: target.clone(),
                            body: transform::body(target, &built.text, &cx),
                        });
                    }
                }
                results.push(PutEventsResultEntry::accepted(built.id.clone()));
                plan.events.push(built);
            }
        }
        self.deliver(plan).await?;
        let failed = results.iter().filter(|r| r.event_id.is_none()).count();
        Ok(json!({ "FailedEntryCount": failed, "Entries": results }))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TestRequest {
    event_pattern: Option<String>,
    event: Option<String>,
}

/// The fields `TestEventPattern` requires of its event.
const REQUIRED_EVENT_FIELDS: [&str; 6] =
    ["id", "account", "source", "time", "region", "detail-type"];

/// `TestEventPattern`.
pub(crate) fn test_event_pattern(req: TestRequest) -> Result<Value, EventsError> {
    let missing = |name: &str| {
        EventsError::Validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    };
    let pattern_text = req.event_pattern.ok_or_else(|| missing("eventPattern"))?;
    let event_text = req.event.ok_or_else(|| missing("event"))?;
    let pattern = Pattern::parse(&pattern_text)
        .map_err(|e| EventsError::InvalidEventPattern(e.to_string()))?;
    let event: Value = serde_json::from_str(&event_text)
        .map_err(|_| EventsError::Validation("Parameter Event is not valid.".into()))?;
    let Some(fields) = event.as_object() else {
        return Err(EventsError::Validation(
            "Parameter Event is not valid.".into(),
        ));
    };
    let absent: Vec<&str> = REQUIRED_EVENT_FIELDS
        .iter()
        .copied()
        .filter(|f| !fields.contains_key(*f))
        .collect();
    if !absent.is_empty() {
        return Err(EventsError::Validation(format!(
            "Parameter Event is not valid. Reason: Provided Event is missing required fields: {}.",
            absent.join(", ")
        )));
    }
    Ok(json!({ "Result": pattern.matches(&event) }))
}
