//! The platform limits overtime works within, each with its source.

use std::time::Duration;

/// Largest SQS message, body plus message attributes: 1 MiB since August 2025.
/// Source: Amazon SQS quotas, "Message size" (`MaximumMessageSize` may be set lower per queue).
pub const SQS_MAX_MESSAGE_BYTES: usize = 1_048_576;

/// Most entries in one `SendMessageBatch`, `DeleteMessageBatch` or `ChangeMessageVisibilityBatch`.
/// Source: Amazon SQS API reference, `SendMessageBatch`.
pub const SQS_MAX_BATCH_ENTRIES: usize = 10;

/// Largest total payload of one `SendMessageBatch` (sum of all entries).
/// Source: Amazon SQS API reference, `SendMessageBatch`.
pub const SQS_MAX_BATCH_BYTES: usize = 1_048_576;

/// Longest per-message delay SQS applies natively (`DelaySeconds`, 0 to 900).
/// Longer delays hop: the worker re-enqueues with the remaining delay.
/// Source: Amazon SQS API reference, `SendMessage`.
pub const SQS_MAX_DELAY: Duration = Duration::from_secs(900);

/// Longest visibility timeout SQS accepts (12 hours).
/// Source: Amazon SQS API reference, `ChangeMessageVisibility`.
pub const SQS_MAX_VISIBILITY: Duration = Duration::from_secs(43_200);

/// Most messages one `ReceiveMessage` call returns.
/// Source: Amazon SQS API reference, `ReceiveMessage`.
pub const SQS_MAX_RECEIVE: i32 = 10;

/// Longest long-poll wait of one `ReceiveMessage` call.
/// Source: Amazon SQS API reference, `ReceiveMessage` (`WaitTimeSeconds`).
pub const SQS_MAX_WAIT: Duration = Duration::from_secs(20);

/// Most message attributes one SQS message may carry.
/// Source: Amazon SQS developer guide, "Amazon SQS message attributes".
pub const SQS_MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// Longest `MessageDeduplicationId` and `MessageGroupId` (128 characters).
/// Source: Amazon SQS API reference, `SendMessage`.
pub const SQS_MAX_FIFO_ID_CHARS: usize = 128;

/// Longest run of a Lambda function (15 minutes).
/// Source: AWS Lambda quotas, "Function timeout".
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);
