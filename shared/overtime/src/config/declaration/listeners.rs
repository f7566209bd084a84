//! `[events.NAME]` and `[[listeners]]`: which jobs run when an event is sent, and the
//! EventBridge rule each listener becomes on AWS and under `overtime dev` alike.

use serde_json::{Value, json};

use crate::envelope::ENVELOPE_VERSION;

/// An event type (`[events."user.signed_up"]`), declared so that listeners' filters can be
/// checked against the fields its data has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDecl {
    /// The event's name ([`Event::NAME`](crate::events)).
    pub name: String,
    /// The fields of its data, dotted for nested ones (`address.country`).
    pub fields: Vec<String>,
}

impl EventDecl {
    /// Whether the data has the field at `path`, or an object above or below it.
    pub fn has_field(&self, path: &str) -> bool {
        self.fields.iter().any(|f| {
            f == path
                || path
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
                || f.strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

/// A job that runs each time an event is sent (`[[listeners]]`): one EventBridge rule on the
/// project's bus, matching the event's name and the filter, whose target is the job's queue.
///
/// What reaches the queue is an ordinary overtime envelope for the job, built by the rule's
/// input transformer: its payload the event's data, its idempotency key the event's id, so the
/// job runs once per event even when the event is sent or delivered twice.
///
/// ```
/// use overtime::config::Declaration;
///
/// let toml = r#"
/// [queues.jobs]
///
/// [[listeners]]
/// event = "user.signed_up"
/// job = "crm-sync"
/// queue = "jobs"
/// filter = '{"plan": ["pro", "team"]}'
/// "#;
/// let (declaration, _) = Declaration::parse("infra/overtime.toml", toml)?;
/// let listener = &declaration.listeners[0];
/// assert_eq!(listener.rule_name("overtime"), "overtime-crm-sync");
/// assert_eq!(
///     listener.event_pattern().to_string(),
///     r#"{"detail":{"data":{"plan":["pro","team"]}},"detail-type":["user.signed_up"],"source":["overtime"]}"#
/// );
/// # Ok::<(), overtime::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// The listener's name: its rule is `<project>-<name>` (by default the job's name).
    pub name: String,
    /// The event's name it listens to.
    pub event: String,
    /// The job that runs ([`Job::NAME`](crate::Job::NAME)).
    pub job: String,
    /// The queue (its name in the declaration) the job is sent to.
    pub queue: String,
    /// An EventBridge pattern on the event's data, if only some events should start the job.
    pub filter: Option<Value>,
    /// Line of the listener in the file, for messages.
    pub line: usize,
}

/// The fields of a delivered event the input transformer reads, and the placeholder each
/// fills: EventBridge's event id, the overtime event's id and its data, its name and time
/// (these two for the wake job, [`WAKE_JOB`](crate::wait::WAKE_JOB)).
pub const LISTENER_INPUT_PATHS: [(&str, &str); 5] = [
    ("id", "$.id"),
    ("key", "$.detail.id"),
    ("payload", "$.detail.data"),
    ("name", "$.detail-type"),
    ("time", "$.time"),
];

impl Listener {
    /// The rule's name on the bus.
    pub fn rule_name(&self, project: &str) -> String {
        format!("{project}-{}", self.name)
    }

    /// The rule's event pattern: overtime's source, the event's name, and the filter under
    /// the event's data.
    pub fn event_pattern(&self) -> Value {
        let mut pattern = json!({
            "source": [crate::events::SOURCE],
            "detail-type": [self.event],
        });
        if let Some(filter) = &self.filter {
            pattern["detail"] = json!({ "data": filter });
        }
        pattern
    }

    /// The input transformer's template: an overtime envelope for the job, filled from
    /// [`LISTENER_INPUT_PATHS`]. EventBridge's id is the message's id (the same when
    /// EventBridge retries a delivery); the event's id is the job's idempotency key.
    ///
    /// The wake job gets the whole event (name, id, time, data) to find the runs waiting for it.
    pub fn input_template(&self) -> String {
        let payload = if self.job == crate::wait::WAKE_JOB {
            r#"{"name":<name>,"time":<time>,"id":<key>,"data":<payload>}"#
        } else {
            "<payload>"
        };
        format!(
            r#"{{"v":{ENVELOPE_VERSION},"job":{},"id":<id>,"key":<key>,"payload":{payload}}}"#,
            Value::String(self.job.clone())
        )
    }
}
