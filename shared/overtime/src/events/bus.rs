//! The project's event bus: where [`Event`]s are sent.

use super::error::{PublishError, PublishReport};
use super::event::{Event, OutgoingEvent, Published};
use crate::error::ConfigError;
use aws_sdk_eventbridge::Client;
use std::sync::Arc;

/// `PutEvents` calls in flight at once by default.
const DEFAULT_SEND_CONCURRENCY: usize = 8;

/// An EventBridge bus to send events on. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) name: String,
    pub(crate) concurrency: usize,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("name", &self.inner.name)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

/// Something [`EventBus::send`] takes: a typed event (with a generated id), or an
/// [`OutgoingEvent`].
pub trait IntoEvent {
    /// The event to send.
    fn into_event(self) -> OutgoingEvent;
}

impl IntoEvent for OutgoingEvent {
    fn into_event(self) -> OutgoingEvent {
        self
    }
}

impl<E: Event> IntoEvent for E {
    fn into_event(self) -> OutgoingEvent {
        OutgoingEvent::new(&self)
    }
}

impl EventBus {
    /// The bus named `name` (a name or an ARN), called through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                name: name.into(),
                concurrency: DEFAULT_SEND_CONCURRENCY,
            }),
        }
    }

    /// The bus `OVERTIME_EVENT_BUS` names, with a client from the standard AWS configuration
    /// (region, credentials, and `AWS_ENDPOINT_URL_EVENTBRIDGE` / `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let name = std::env::var(crate::env::EVENT_BUS)
            .ok()
            .filter(|n| !n.is_empty())
            .ok_or(ConfigError::MissingEventBus)?;
        Ok(Self::new(
            Client::new(crate::platform::aws_config().await),
            name,
        ))
    }

    /// At most `n` `PutEvents` calls in flight at once (default 8, at least 1).
    pub fn with_concurrency(self, n: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: self.inner.client.clone(),
                name: self.inner.name.clone(),
                concurrency: n.max(1),
            }),
        }
    }

    /// The bus's name or ARN, as given.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Sends one event.
    pub async fn send(&self, event: impl IntoEvent) -> Result<Published, PublishError> {
        let mut results = super::batch::send(self, vec![event.into_event()]).await;
        results
            .pop()
            .unwrap_or(Err(PublishError::Internal("event left without a result")))
    }

    /// Sends many events: `PutEvents` calls of up to 10 entries and 256 KiB, several at once,
    /// only failed entries retried, and one result per event, in order. Events over the limit
    /// are refused before any call.
    pub async fn send_all<E: IntoEvent>(
        &self,
        events: impl IntoIterator<Item = E>,
    ) -> PublishReport {
        let events = events.into_iter().map(IntoEvent::into_event).collect();
        PublishReport {
            results: super::batch::send(self, events).await,
        }
    }
}
