//! Why an event was not sent, and the report of a [`send_all`](super::EventBus::send_all).

use super::event::Published;
use crate::error::error_chain;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use std::borrow::Cow;
use std::fmt;

/// Why one event was not sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event's payload could not be serialized to JSON.
    #[error("event {event} could not be serialized to JSON: {reason}")]
    Serialize {
        /// The event's name.
        event: Cow<'static, str>,
        /// serde_json's message.
        reason: String,
    },
    /// The entry is larger than `PutEvents` takes. Nothing was sent.
    #[error(
        "event {event} is {size} bytes as a PutEvents entry, over EventBridge's limit of {limit} bytes; store the data elsewhere (e.g. S3) and send a reference"
    )]
    TooLarge {
        /// The event's name.
        event: String,
        /// The entry's size, as EventBridge counts it.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The event's name is empty or too long for a `DetailType`.
    #[error("event name {event:?} has {chars} characters; an event name has 1 to 128 characters")]
    InvalidName {
        /// The name.
        event: String,
        /// Its length in characters.
        chars: usize,
    },
    /// An event id was given, and it is empty.
    #[error("event {event} was given an empty id; give a non-empty id or none (one is generated)")]
    EmptyId {
        /// The event's name.
        event: String,
    },
    /// EventBridge refused the entry, or the call failed (after retries of transient errors).
    #[error(transparent)]
    EventBridge(#[from] EventsError),
    /// A bug in overtime: a sent event got no result.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// An EventBridge call, or one entry of it, that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// EventBridge answered with an error code (for the call or for one entry).
    #[error("EventBridge rejected {operation} ({code}): {message}")]
    Service {
        /// The action, e.g. `PutEvents`.
        operation: &'static str,
        /// The error code EventBridge returned.
        code: String,
        /// What EventBridge said.
        message: String,
    },
    /// EventBridge could not be reached or its answer could not be read.
    #[error(
        "could not complete {operation} with EventBridge: {detail}; check AWS_ENDPOINT_URL_EVENTBRIDGE, the region and the network"
    )]
    Transport {
        /// The action.
        operation: &'static str,
        /// The transport error, with its causes.
        detail: String,
    },
}

impl EventsError {
    /// Classifies an SDK error from `operation`.
    pub(crate) fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        match err
            .as_service_error()
            .and_then(|e| e.code().map(|c| (c, e.message())))
        {
            Some((code, message)) => Self::Service {
                operation,
                code: code.to_owned(),
                message: message.unwrap_or_default().to_owned(),
            },
            None => Self::Transport {
                operation,
                detail: error_chain(&err),
            },
        }
    }

    /// Whether the same call, or entry, may succeed later.
    /// Source: Amazon EventBridge API reference, `PutEventsResultEntry` and "Common Errors"
    /// (throttling and internal failures are retryable; the rest are the sender's to fix).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Service { code, .. } => matches!(
                code.as_str(),
                "ThrottlingException"
                    | "Throttling"
                    | "InternalFailure"
                    | "InternalException"
                    | "ServiceUnavailable"
            ),
        }
    }

    /// The error code, when EventBridge answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            Self::Transport { .. } => None,
        }
    }
}

/// One result per event given to [`send_all`](super::EventBus::send_all), in order.
#[derive(Debug)]
#[must_use = "a report may hold failed events; check it or call into_result()?"]
pub struct PublishReport {
    pub(crate) results: Vec<Result<Published, PublishError>>,
}

impl PublishReport {
    /// How many events were given.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// Whether no events were given.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// The events the bus accepted.
    pub fn published(&self) -> impl Iterator<Item = &Published> {
        self.results.iter().filter_map(|r| r.as_ref().ok())
    }

    /// The events that were not sent, with their index in the input.
    pub fn failed(&self) -> impl Iterator<Item = (usize, &PublishError)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }

    /// Every result, in input order.
    pub fn results(&self) -> &[Result<Published, PublishError>] {
        &self.results
    }

    /// All published events, or an error holding the whole report if any failed.
    pub fn into_result(self) -> Result<Vec<Published>, PublishAllError> {
        if self.results.iter().all(Result::is_ok) {
            Ok(self.results.into_iter().filter_map(Result::ok).collect())
        } else {
            Err(PublishAllError { report: self })
        }
    }
}

/// Some events of a [`send_all`](super::EventBus::send_all) were not sent; the report says which.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} events were not sent; first: {first}", failed = self.failed(), total = self.report.len(), first = self.first())]
pub struct PublishAllError {
    report: PublishReport,
}

impl PublishAllError {
    /// How many events failed.
    pub fn failed(&self) -> usize {
        self.report.failed().count()
    }

    /// The whole report.
    pub fn report(&self) -> &PublishReport {
        &self.report
    }

    /// The report, to re-send what failed.
    pub fn into_report(self) -> PublishReport {
        self.report
    }

    fn first(&self) -> String {
        self.report
            .failed()
            .next()
            .map_or_else(String::new, |(i, e)| format!("event {i}: {e}"))
    }
}
