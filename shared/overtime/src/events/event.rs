//! What is sent: a typed event, or an [`OutgoingEvent`] built from one or from raw JSON.

use super::SOURCE;
use super::error::PublishError;
use crate::limits::{EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS, EVENTBRIDGE_MAX_PUT_BYTES};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A kind of event: a stable name and a payload type.
///
/// The name is what listeners declare and what the bus carries as `detail-type`; keep it
/// stable across deploys (`user.signed_up`, `payment.succeeded`).
pub trait Event: Serialize {
    /// The event's stable name: 1 to 128 characters.
    const NAME: &'static str;
}

/// One event to send: its name, its payload as JSON, and its id.
///
/// The id is the event's idempotency key: a listener runs once per event id. It is generated
/// (a UUID v4) unless given, so give one when the same event may be sent twice (a retried
/// request, a webhook delivered again): `OutgoingEvent::new(&e).id(order_id)`.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    pub(crate) name: Cow<'static, str>,
    pub(crate) payload: Result<Box<RawValue>, PublishError>,
    pub(crate) id: Option<String>,
}

/// An event the bus accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// overtime's id for the event: its idempotency key, as given or generated.
    pub id: String,
    /// The id EventBridge gave the entry (a new one each time the same event is sent).
    pub eventbridge_id: String,
}

impl OutgoingEvent {
    /// Serializes `event`. A payload that does not serialize is reported by the send
    /// ([`PublishError::Serialize`]).
    pub fn new<E: Event>(event: &E) -> Self {
        let payload = serde_json::value::to_raw_value(event).map_err(|e| PublishError::Serialize {
            event: Cow::Borrowed(E::NAME),
            reason: e.to_string(),
        });
        Self {
            name: Cow::Borrowed(E::NAME),
            payload,
            id: None,
        }
    }

    /// An event named `name` with `payload` as its JSON, for tools that have no Rust type for
    /// it (the `overtime events send` command).
    ///
    /// ```
    /// use overtime::events::OutgoingEvent;
    /// let e = OutgoingEvent::from_json("user.signed_up", r#"{"user_id":7}"#)?.id("signup-7");
    /// assert_eq!(e.name(), "user.signed_up");
    /// assert!(OutgoingEvent::from_json("user.signed_up", "{not json").is_err());
    /// # Ok::<(), overtime::events::PublishError>(())
    /// ```
    pub fn from_json(
        name: impl Into<Cow<'static, str>>,
        payload: &str,
    ) -> Result<Self, PublishError> {
        let name = name.into();
        let payload =
            RawValue::from_string(payload.to_owned()).map_err(|e| PublishError::Serialize {
                event: name.clone(),
                reason: format!("the payload is not JSON: {e}"),
            })?;
        Ok(Self {
            name,
            payload: Ok(payload),
            id: None,
        })
    }

    /// Sets the event's id, its idempotency key (default: a new UUID v4).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the event against EventBridge's limits and renders its entry, before any call.
    pub(crate) fn prepare(self) -> Result<Prepared, PublishError> {
        let payload = self.payload?;
        let chars = self.name.chars().count();
        if chars == 0 || chars > EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS {
            return Err(PublishError::InvalidName {
                event: self.name.into_owned(),
                chars,
            });
        }
        let id = match self.id {
            Some(id) if id.is_empty() => {
                return Err(PublishError::EmptyId {
                    event: self.name.into_owned(),
                });
            }
            Some(id) => id,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let detail = serde_json::to_string(&Detail {
            id: &id,
            data: &payload,
        })
        .map_err(|e| PublishError::Serialize {
            event: self.name.clone(),
            reason: e.to_string(),
        })?;
        let size = SOURCE.len() + self.name.len() + detail.len();
        if size > EVENTBRIDGE_MAX_PUT_BYTES {
            return Err(PublishError::TooLarge {
                event: self.name.into_owned(),
                size,
                limit: EVENTBRIDGE_MAX_PUT_BYTES,
            });
        }
        Ok(Prepared {
            name: self.name.into_owned(),
            id,
            detail,
            size,
        })
    }
}

/// The `Detail` of an overtime event on the bus.
#[derive(Serialize)]
struct Detail<'a> {
    id: &'a str,
    data: &'a RawValue,
}

/// An event checked and rendered, ready for a `PutEvents` entry.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) detail: String,
    /// The entry's size as EventBridge counts it.
    pub(crate) size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct SignedUp {
        user_id: u64,
    }
    impl Event for SignedUp {
        const NAME: &'static str = "user.signed_up";
    }

    #[test]
    fn an_event_renders_its_id_and_payload_as_the_detail() {
        let p = OutgoingEvent::new(&SignedUp { user_id: 7 })
            .id("signup-7")
            .prepare()
            .expect("prepares");
        assert_eq!(p.detail, r#"{"id":"signup-7","data":{"user_id":7}}"#);
        assert_eq!(p.name, "user.signed_up");
        assert_eq!(
            p.size,
            "overtime".len() + "user.signed_up".len() + p.detail.len()
        );
    }

    #[test]
    fn an_event_without_an_id_gets_a_new_one_each_time() {
        let a = OutgoingEvent::new(&SignedUp { user_id: 7 }).prepare();
        let b = OutgoingEvent::new(&SignedUp { user_id: 7 }).prepare();
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_ne!(a.id, b.id);
        assert!(uuid::Uuid::parse_str(&a.id).is_ok(), "{}", a.id);
    }

    #[test]
    fn oversize_events_bad_names_and_empty_ids_are_refused_before_any_call() {
        let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(EVENTBRIDGE_MAX_PUT_BYTES));
        let err = OutgoingEvent::from_json("big.event", &big)
            .expect("json")
            .prepare()
            .expect_err("too large");
        assert!(
            matches!(err, PublishError::TooLarge { size, limit: EVENTBRIDGE_MAX_PUT_BYTES, .. } if size > EVENTBRIDGE_MAX_PUT_BYTES),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("store the data elsewhere"),
            "{err}"
        );

        let err = OutgoingEvent::from_json("", "{}")
            .expect("json")
            .prepare()
            .expect_err("empty name");
        assert!(
            matches!(err, PublishError::InvalidName { chars: 0, .. }),
            "{err:?}"
        );
        let long = "n".repeat(EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS + 1);
        let err = OutgoingEvent::from_json(long, "{}")
            .expect("json")
            .prepare()
            .expect_err("long name");
        assert!(err.to_string().contains("1 to 128 characters"), "{err}");

        let err = OutgoingEvent::from_json("a.b", "{}")
            .expect("json")
            .id("")
            .prepare()
            .expect_err("empty id");
        assert!(matches!(err, PublishError::EmptyId { .. }), "{err:?}");
    }

    #[test]
    fn an_event_at_the_limit_is_accepted() {
        let name = "at.limit";
        let overhead = SOURCE.len() + name.len() + r#"{"id":"k","data":""}"#.len();
        let blob = "y".repeat(EVENTBRIDGE_MAX_PUT_BYTES - overhead);
        let p = OutgoingEvent::from_json(name, &format!("\"{blob}\""))
            .expect("json")
            .id("k")
            .prepare()
            .expect("fits exactly");
        assert_eq!(p.size, EVENTBRIDGE_MAX_PUT_BYTES);
    }
}
