//! `overtime events send`: one event onto the project's bus, as the app would send it.

use overtime::events::{EventBus, OutgoingEvent, PublishError};

/// Why an event was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventsError {
    /// No bus given and `OVERTIME_EVENT_BUS` unset.
    #[error(transparent)]
    Config(#[from] overtime::ConfigError),
    /// The event itself, or its sending.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Sends event `name` with `payload` (JSON) on `bus` (default `OVERTIME_EVENT_BUS`), with id
/// `id` if given, and prints both ids.
pub(crate) async fn send(
    name: &str,
    payload: &str,
    id: Option<String>,
    bus: Option<String>,
) -> Result<(), EventsError> {
    let bus = match bus {
        Some(bus) => EventBus::new(
            aws_sdk_eventbridge::Client::new(
                &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            ),
            bus,
        ),
        None => EventBus::from_env().await?,
    };
    let mut event = OutgoingEvent::from_json(name.to_owned(), payload)?;
    if let Some(id) = id {
        event = event.id(id);
    }
    let sent = bus.send(event).await?;
    println!(
        "sent {name} on {}: event id {} (EventBridge id {})",
        bus.name(),
        sent.id,
        sent.eventbridge_id
    );
    Ok(())
}
