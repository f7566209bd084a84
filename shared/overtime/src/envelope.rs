//! The wire format: a versioned JSON envelope in the SQS body, the job name as an attribute.
//!
//! ```json
//! {"v":1,"job":"welcome-email","id":"6f1c…","attempt":1,"payload":{"to":"a@example.com"}}
//! ```
//!
//! Unknown fields are ignored, so a newer sender can add fields an older worker skips.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The envelope version this crate writes.
pub const ENVELOPE_VERSION: u32 = 1;

/// Message attribute carrying the job name, so routing needs no body parse.
pub const ATTR_JOB: &str = "overtime.job";
/// Message attribute carrying the sender's idempotency key.
pub const ATTR_KEY: &str = "overtime.key";
/// Message attribute: the `wait_for_event` step a run's message was re-enqueued from, so that
/// of the two messages that may continue a wait (the wake-up and the timeout) only one does.
pub const ATTR_WAIT: &str = "overtime.wait";
/// Message attribute: what flow control a message already passed, carried from one of its
/// hops to the next (so waiting for a slot never counts as a new arrival).
pub const ATTR_FLOW: &str = "overtime.flow";
/// Dead-letter attribute: the kind of failure (see [`DeadLetterKind`](crate::worker::DeadLetterKind)).
pub const ATTR_DLQ_KIND: &str = "overtime.dlq.kind";
/// Dead-letter attribute: the error, in words.
pub const ATTR_DLQ_REASON: &str = "overtime.dlq.reason";
/// Dead-letter attribute: how many attempts were made.
pub const ATTR_DLQ_ATTEMPTS: &str = "overtime.dlq.attempts";
/// Dead-letter attribute: the queue the message was consumed from.
pub const ATTR_DLQ_SOURCE: &str = "overtime.dlq.source";
/// Dead-letter attribute: the message id it had there.
pub const ATTR_DLQ_MESSAGE_ID: &str = "overtime.dlq.message-id";

/// A message body as overtime writes and reads it. `P` is the payload: a typed job when
/// writing, raw JSON when routing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<P> {
    /// Envelope version.
    pub v: u32,
    /// The job's stable name.
    pub job: String,
    /// Unique per send; stays the same across retries and delay hops.
    pub id: String,
    /// The attempt number the first receive of this message counts as (1 for a new job).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The sender's idempotency key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Unix time in milliseconds before which the job must not run (delays past 900 s hop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<i64>,
    /// Durable work: the run this message continues (its first slice's job id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Durable work: the slice of the run this message carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<u64>,
    /// The job itself.
    pub payload: P,
}

fn first_attempt() -> u32 {
    1
}

/// An envelope read for routing: fields borrowed from the body, the payload still unparsed
/// JSON for the job's own type.
#[derive(Debug, Deserialize)]
pub struct RawEnvelope<'a> {
    /// Envelope version.
    pub v: u32,
    /// The job's stable name.
    #[serde(borrow)]
    pub job: Cow<'a, str>,
    /// Unique per send.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The attempt number the first receive of this message counts as.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The sender's idempotency key, if any.
    #[serde(default, borrow)]
    pub key: Option<Cow<'a, str>>,
    /// Unix time in milliseconds before which the job must not run.
    #[serde(default)]
    pub not_before_ms: Option<i64>,
    /// Durable work: the run this message continues.
    #[serde(default, borrow)]
    pub run: Option<Cow<'a, str>>,
    /// Durable work: the slice this message carries.
    #[serde(default)]
    pub slice: Option<u64>,
    /// The job itself, unparsed.
    #[serde(borrow)]
    pub payload: &'a RawValue,
}

/// Why a message body is not an overtime envelope.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not JSON, or lacks the envelope's fields.
    #[error("message body is not an overtime envelope ({0}); was it sent with overtime's Queue?")]
    NotAnEnvelope(#[source] serde_json::Error),
    /// The envelope comes from a newer overtime than this worker understands.
    #[error(
        "envelope version {found} is newer than this worker understands ({ENVELOPE_VERSION}); deploy the worker first"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
}

impl<'a> RawEnvelope<'a> {
    /// Parses a message body, leaving the payload for the job's own type.
    pub fn decode(body: &'a str) -> Result<Self, DecodeError> {
        let env: Self = serde_json::from_str(body).map_err(DecodeError::NotAnEnvelope)?;
        if env.v > ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: env.v });
        }
        Ok(env)
    }
}

/// `body` with its `attempt` set to `attempt`, the rest (payload included) as it was: for a
/// message sent again before it ran, so its next delivery is the same attempt.
pub(crate) fn with_attempt(body: &str, attempt: u32) -> Option<String> {
    let mut fields: std::collections::BTreeMap<&str, &RawValue> =
        serde_json::from_str(body).ok()?;
    let n = RawValue::from_string(attempt.to_string()).ok()?;
    fields.insert("attempt", &n);
    serde_json::to_string(&fields).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_rewritten_and_nothing_else() {
        let body = r#"{"v":1,"job":"j","id":"x","attempt":1,"payload":{"b": [1, 2]}}"#;
        let next = with_attempt(body, 3).unwrap_or_default();
        let env = RawEnvelope::decode(&next).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((env.attempt, &*env.id), (3, "x"));
        assert_eq!(env.payload.get(), r#"{"b": [1, 2]}"#);
        assert_eq!(with_attempt("not json", 2), None);
    }

    #[test]
    fn unknown_fields_are_ignored_and_attempt_defaults() {
        let body = r#"{"v":1,"job":"a","id":"x","payload":{"n":1},"future":"field"}"#;
        let env = RawEnvelope::decode(body).expect("decodes");
        assert_eq!(env.job, "a");
        assert_eq!(env.attempt, 1);
        assert_eq!(env.payload.get(), r#"{"n":1}"#);
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let err = RawEnvelope::decode("not json").expect_err("fails");
        assert!(err.to_string().contains("not an overtime envelope"));
        let err = RawEnvelope::decode(r#"{"v":1,"id":"x","payload":1}"#).expect_err("fails");
        assert!(err.to_string().contains("missing field `job`"), "{err}");
        let err =
            RawEnvelope::decode(r#"{"v":9,"job":"a","id":"x","payload":1}"#).expect_err("fails");
        assert!(matches!(err, DecodeError::UnsupportedVersion { found: 9 }));
    }

    #[test]
    fn round_trips_a_typed_payload() {
        let env = Envelope {
            v: ENVELOPE_VERSION,
            job: "a".into(),
            id: "x".into(),
            attempt: 1,
            key: Some("k".into()),
            not_before_ms: None,
            run: Some("r".into()),
            slice: Some(3),
            payload: vec![1, 2],
        };
        let body = serde_json::to_string(&env).expect("serializes");
        let raw = RawEnvelope::decode(&body).expect("decodes");
        assert_eq!(raw.key.as_deref(), Some("k"));
        assert_eq!((raw.run.as_deref(), raw.slice), (Some("r"), Some(3)));
        let back: Vec<i32> = serde_json::from_str(raw.payload.get()).expect("payload");
        assert_eq!(back, vec![1, 2]);
    }
}
