//! Events: the app says what happened (`user.signed_up`), and every job that listens runs.
//!
//! An event is a stable name and a serde payload, sent to the project's EventBridge bus
//! ([`EventBus`], feature `events`). Listeners are declared in `infra/overtime.toml`: a job
//! listens to an event name, optionally filtered by EventBridge's pattern language, and what
//! reaches its queue is an ordinary overtime envelope whose payload is the event's payload and
//! whose idempotency key is the event's id, so a listener runs once per event even when the
//! event is sent or delivered twice.
//!
//! On the bus an event is an EventBridge entry with `Source` [`SOURCE`], `DetailType` the
//! event's name, and `Detail` `{"id": "<event id>", "data": <payload>}`.
//!
// The example needs `EventBus`, which only the `events` feature compiles.
#![cfg_attr(feature = "events", doc = "```no_run")]
#![cfg_attr(not(feature = "events"), doc = "```ignore")]
//! use overtime::events::{Event, EventBus};
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct SignedUp {
//!     user_id: u64,
//!     plan: String,
//! }
//!
//! impl Event for SignedUp {
//!     const NAME: &'static str = "user.signed_up";
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = EventBus::from_env().await?; // OVERTIME_EVENT_BUS
//! let sent = bus.send(SignedUp { user_id: 7, plan: "pro".into() }).await?;
//! println!("event {} is on the bus", sent.id);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "events")]
mod batch;
#[cfg(feature = "events")]
mod bus;
#[cfg(feature = "events")]
mod error;
#[cfg(feature = "events")]
mod event;
#[cfg(feature = "event-patterns")]
pub mod pattern;

#[cfg(feature = "events")]
pub use bus::{EventBus, IntoEvent};
#[cfg(feature = "events")]
pub use error::{EventsError, PublishAllError, PublishError, PublishReport};
#[cfg(feature = "events")]
pub use event::{Event, OutgoingEvent, Published};
#[cfg(feature = "event-patterns")]
pub use pattern::{Pattern, PatternError};

/// The `Source` of every entry overtime puts on a bus, and so of every event its rules match.
pub const SOURCE: &str = "overtime";
