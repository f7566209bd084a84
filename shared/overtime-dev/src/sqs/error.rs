//! SQS's errors, as the AWS JSON 1.0 protocol carries them: a `__type` shape, a message, and the
//! legacy query code in `x-amzn-query-error` (which SDKs use to pick the typed error).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error an SQS request can end with, worded like SQS's so SDKs surface it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqsError {
    /// The queue named by a URL or name does not exist.
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    /// A queue of that name exists with other attributes.
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueNameExists(String),
    /// An attribute name SQS does not know (or that cannot be set).
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    /// A queue attribute with a value out of range.
    #[error("Invalid value for the parameter {0}. Reason: {1}")]
    InvalidAttributeValue(String, String),
    /// A request parameter with a value SQS refuses.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A required parameter is missing.
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    /// A message body with characters SQS does not allow.
    #[error(
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
    )]
    InvalidMessageContents,
    /// A receipt handle that is malformed or not the latest for its message.
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    /// ChangeMessageVisibility on a message that is not in flight.
    #[error("Message does not exist or is not available for visibility timeout change.")]
    MessageNotInflight,
    /// More than 10 entries in a batch.
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    /// A batch with no entries.
    #[error("There should be at least one {0}RequestEntry in the request.")]
    EmptyBatchRequest(&'static str),
    /// Two entries of a batch with the same id.
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    /// A batch whose messages together exceed the limit.
    #[error("Batch requests cannot be longer than {limit} bytes. You have sent {size} bytes.")]
    BatchRequestTooLong {
        /// What was sent.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A batch entry id with characters SQS does not allow.
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    /// PurgeQueue twice within 60 seconds.
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    /// A message move task that is not known, or a source that is not a dead-letter queue.
    #[error("{0}")]
    ResourceNotFound(String),
    /// An operation the endpoint does not offer.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// An `x-amz-target` that names no SQS operation.
    #[error("{0}")]
    UnknownOperation(String),
    /// A body that is not the JSON the operation takes.
    #[error("{0}")]
    Serialization(String),
    /// The store failed; the request may be retried.
    #[error(
        "The request processing has failed because of an unknown error, exception or failure: {0}"
    )]
    Internal(String),
}

impl SqsError {
    /// The shape name and the legacy query code (which SDKs match typed errors on).
    pub fn codes(&self) -> (&'static str, &'static str) {
        use SqsError::*;
        match self {
            QueueDoesNotExist => (
                "com.amazonaws.sqs#QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            QueueNameExists(_) => ("com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists"),
            InvalidAttributeName(_) => (
                "com.amazonaws.sqs#InvalidAttributeName",
                "InvalidAttributeName",
            ),
            InvalidAttributeValue(..) => (
                "com.amazonaws.sqs#InvalidAttributeValue",
                "InvalidAttributeValue",
            ),
            InvalidParameterValue(_) => (
                "com.amazon.coral.validate#ValidationException",
                "InvalidParameterValue",
            ),
            MissingParameter(_) => (
                "com.amazon.coral.validate#ValidationException",
                "MissingParameter",
            ),
            InvalidMessageContents => (
                "com.amazonaws.sqs#InvalidMessageContents",
                "InvalidMessageContents",
            ),
            ReceiptHandleIsInvalid(_) => (
                "com.amazonaws.sqs#ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
            ),
            MessageNotInflight => (
                "com.amazonaws.sqs#MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
            ),
            TooManyEntriesInBatchRequest(_) => (
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            EmptyBatchRequest(_) => (
                "com.amazonaws.sqs#EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
            ),
            BatchEntryIdsNotDistinct(_) => (
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ),
            BatchRequestTooLong { .. } => (
                "com.amazonaws.sqs#BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
            ),
            InvalidBatchEntryId => (
                "com.amazonaws.sqs#InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
            ),
            PurgeQueueInProgress(_) => (
                "com.amazonaws.sqs#PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            ),
            ResourceNotFound(_) => (
                "com.amazonaws.sqs#ResourceNotFoundException",
                "ResourceNotFoundException",
            ),
            UnsupportedOperation(_) => (
                "com.amazonaws.sqs#UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
            ),
            UnknownOperation(_) => (
                "com.amazon.coral.service#UnknownOperationException",
                "InvalidAction",
            ),
            Serialization(_) => (
                "com.amazon.coral.service#SerializationException",
                "MalformedQueryString",
            ),
            Internal(_) => ("com.amazonaws.sqs#InternalError", "InternalError"),
        }
    }

    /// True when the caller, not the server, is at fault.
    pub fn is_sender_fault(&self) -> bool {
        !matches!(self, SqsError::Internal(_))
    }

    /// The legacy code alone, as a batch entry's `Code` carries it.
    pub fn code(&self) -> &'static str {
        self.codes().1
    }
}

impl From<rusqlite::Error> for SqsError {
    fn from(e: rusqlite::Error) -> Self {
        SqsError::Internal(e.to_string())
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let (shape, code) = self.codes();
        let status = if self.is_sender_fault() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let body = serde_json::json!({ "__type": shape, "message": self.to_string() });
        let mut response = (status, body.to_string()).into_response();
        let fault = if self.is_sender_fault() {
            "Sender"
        } else {
            "Receiver"
        };
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
            headers.insert("x-amzn-query-error", v);
        }
        response
    }
}
