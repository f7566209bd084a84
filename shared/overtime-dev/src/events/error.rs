//! EventBridge's errors, as the AWS JSON 1.1 protocol carries them: HTTP 400 (500 for ours)
//! with `{"__type": "<Exception>", "message": "..."}`, which the SDKs turn into typed errors.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error an EventBridge request can end with, worded like EventBridge's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// A bus, rule or target that does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// A bus of that name exists already.
    #[error("{0}")]
    ResourceAlreadyExists(String),
    /// An event pattern EventBridge would refuse (its reason says why).
    #[error("{0}")]
    InvalidEventPattern(String),
    /// A parameter out of its range or shape.
    #[error("{0}")]
    Validation(String),
    /// Over one of EventBridge's quotas (targets per rule).
    #[error("{0}")]
    LimitExceeded(String),
    /// A body that is not the JSON the operation takes.
    #[error("{0}")]
    Serialization(String),
    /// An operation EventBridge does not have, or that `overtime dev` does not serve.
    #[error("{0}")]
    UnknownOperation(String),
    /// Ours: the store failed.
    #[error("{0}")]
    Internal(String),
}

impl EventsError {
    /// The exception's name, as `__type` carries it.
    pub fn exception(&self) -> &'static str {
        match self {
            EventsError::ResourceNotFound(_) => "ResourceNotFoundException",
            EventsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            EventsError::InvalidEventPattern(_) => "InvalidEventPatternException",
            EventsError::Validation(_) => "ValidationException",
            EventsError::LimitExceeded(_) => "LimitExceededException",
            EventsError::Serialization(_) => "SerializationException",
            EventsError::UnknownOperation(_) => "UnknownOperationException",
            EventsError::Internal(_) => "InternalException",
        }
    }

    /// A rule missing from a bus, in EventBridge's words.
    pub(crate) fn no_rule(rule: &str, bus: &str) -> Self {
        EventsError::ResourceNotFound(format!("Rule {rule} does not exist on EventBus {bus}."))
    }

    /// A bus that does not exist, in EventBridge's words.
    pub(crate) fn no_bus(bus: &str) -> Self {
        EventsError::ResourceNotFound(format!("Event bus {bus} does not exist."))
    }
}

impl IntoResponse for EventsError {
    fn into_response(self) -> Response {
        let status = match self {
            EventsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "__type": self.exception(), "message": self.to_string() });
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        response
    }
}
