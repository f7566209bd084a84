//! The platform limits overtime works within, each with its source: the one place they are
//! written down. Validation, the worker, the CLI and `overtime dev` all read them from here.
//!
//! ```
//! use overtime::limits;
//! // A job's payload, body and attributes together, must fit one SQS message.
//! assert_eq!(limits::SQS_MAX_MESSAGE_BYTES, 1024 * 1024);
//! assert_eq!(limits::SQS_MAX_VISIBILITY.as_secs(), u64::from(limits::SQS_MAX_VISIBILITY_SECS));
//! ```

use std::ops::RangeInclusive;
use std::time::Duration;

// ---- Amazon SQS ----

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

/// Longest visibility timeout SQS accepts, in seconds (12 hours).
/// Source: Amazon SQS API reference, `ChangeMessageVisibility`.
pub const SQS_MAX_VISIBILITY_SECS: u32 = 43_200;

/// [`SQS_MAX_VISIBILITY_SECS`] as a duration.
pub const SQS_MAX_VISIBILITY: Duration = Duration::from_secs(SQS_MAX_VISIBILITY_SECS as u64);

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

/// Longest queue name, `.fifo` included (letters, digits, `-` and `_`).
/// Source: Amazon SQS API reference, `CreateQueue` (`QueueName`).
pub const SQS_MAX_QUEUE_NAME_CHARS: usize = 80;

/// Longest id of one entry of a batch call.
/// Source: Amazon SQS API reference, `SendMessageBatchRequestEntry` (`Id`).
pub const SQS_MAX_BATCH_ENTRY_ID_CHARS: usize = 80;

/// How long a FIFO queue remembers a deduplication id (5 minutes).
/// Source: Amazon SQS API reference, `SendMessage` (`MessageDeduplicationId`).
pub const SQS_FIFO_DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// Shortest and longest message retention (60 seconds to 14 days).
/// Source: Amazon SQS API reference, `SetQueueAttributes` (`MessageRetentionPeriod`).
pub const SQS_RETENTION_SECS: RangeInclusive<u32> = 60..=1_209_600;

/// Message retention of a queue that does not set it (4 days).
/// Source: Amazon SQS API reference, `SetQueueAttributes` (`MessageRetentionPeriod`).
pub const SQS_DEFAULT_RETENTION_SECS: u32 = 345_600;

/// AWS's guidance: a redrive policy's `maxReceiveCount` is at least 5, so a message is not
/// dead-lettered for being received during a throttled batch.
/// Source: AWS Lambda developer guide, "Using Lambda with Amazon SQS" (configuring a DLQ).
pub const SQS_MIN_RECOMMENDED_RECEIVES: u32 = 5;

/// The receives a redrive policy may allow before a message moves to the dead-letter queue.
/// Source: Amazon SQS developer guide, "Using dead-letter queues" (`RedrivePolicy`, `maxReceiveCount`).
pub const SQS_MAX_RECEIVE_COUNT: RangeInclusive<u32> = 1..=1000;

// ---- Amazon EventBridge ----

/// Most entries in one `PutEvents` call.
/// Source: Amazon EventBridge API reference, `PutEvents` (`Entries`: 1 to 10 items).
pub const EVENTBRIDGE_MAX_PUT_ENTRIES: usize = 10;

/// Largest `PutEvents` request, the entries' sizes summed (256 KiB); one entry can be no larger.
/// An entry's size is its `Source`, `DetailType`, `Detail` and `Resources` in UTF-8 bytes, plus
/// 14 bytes if `Time` is set.
/// Source: Amazon EventBridge user guide, "Calculating PutEvents event entry size".
pub const EVENTBRIDGE_MAX_PUT_BYTES: usize = 262_144;

/// Longest `DetailType` (an overtime event's name) and `Source` of an entry.
/// Source: Amazon EventBridge API reference, `PutEventsRequestEntry`.
pub const EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS: usize = 128;

/// Longest event pattern of a rule, in characters (the default quota; AWS raises it to 4096 on
/// request, which a local check cannot know about).
/// Source: Amazon EventBridge user guide, "Amazon EventBridge quotas" (`Event pattern size`,
/// quota code L-664C5505).
pub const EVENTBRIDGE_MAX_PATTERN_CHARS: usize = 2048;

/// Most combinations an event pattern may expand to once every `$or` is multiplied out (an `$or`
/// adds its branches' combinations, sibling `$or`s and nested fields multiply).
/// Source: Amazon EventBridge user guide, "Content filtering in Amazon EventBridge event
/// patterns" (`$or` matching: a pattern with too many combinations is refused with
/// `InvalidEventPatternException`). The figure 1000 and the way of counting are as we read the
/// guide and should be checked against a `PutRule` when the page changes.
pub const EVENTBRIDGE_MAX_PATTERN_COMBINATIONS: u64 = 1000;

/// The numbers a `numeric` operand in an event pattern may take: -5.0e9 to
/// +5.0e9 inclusive (with 15 digits of precision, six of them after the decimal point).
/// Source: Amazon EventBridge user guide, "Content filtering in Amazon EventBridge event
/// patterns" (Numeric matching).
pub const EVENTBRIDGE_PATTERN_NUMBER_RANGE: RangeInclusive<f64> = -5.0e9..=5.0e9;

// ---- AWS Lambda ----

/// Longest run of a Lambda function, in seconds (15 minutes).
/// Source: AWS Lambda quotas, "Function timeout".
pub const LAMBDA_MAX_TIMEOUT_SECS: u32 = 900;

/// [`LAMBDA_MAX_TIMEOUT_SECS`] as a duration.
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(LAMBDA_MAX_TIMEOUT_SECS as u64);

/// A function's memory, in MB.
/// Source: AWS Lambda quotas, "Function memory allocation".
pub const LAMBDA_MEMORY_MB: RangeInclusive<u32> = 128..=10_240;

/// Largest request or response of a synchronous invocation, an SQS mapping's event
/// included: "6 MB", which Lambda enforces as 6,291,556 bytes (the figure its
/// `RequestEntityTooLargeException` and the runtime API's 413 name).
/// Source: AWS Lambda quotas, "Invocation payload (request and response)".
pub const LAMBDA_MAX_PAYLOAD_BYTES: usize = 6_291_556;

/// Longest function name (letters, digits, `-` and `_`).
/// Source: AWS Lambda API reference, `CreateFunction` (`FunctionName`).
pub const LAMBDA_MAX_FUNCTION_NAME_CHARS: usize = 64;

// ---- Amazon EventBridge Scheduler ----

/// Longest schedule name.
/// Source: Amazon EventBridge Scheduler API reference, `CreateSchedule` (`Name`).
pub const SCHEDULER_MAX_NAME_CHARS: usize = 64;

// ---- AWS IAM ----

/// Longest role name.
/// Source: AWS IAM API reference, `CreateRole` (`RoleName`).
pub const IAM_MAX_ROLE_NAME_CHARS: usize = 64;

// ---- Lambda event source mappings for SQS ----

/// AWS's guidance: a queue's visibility timeout is at least six times its consumer's timeout.
/// Source: AWS Lambda developer guide, "Using Lambda with Amazon SQS" (queue configuration).
pub const MAPPING_VISIBILITY_PER_TIMEOUT: u32 = 6;

/// Largest batch of a standard queue's mapping.
/// Source: AWS Lambda API reference, `CreateEventSourceMapping` (`BatchSize`).
pub const MAPPING_BATCH_SIZE_MAX: u32 = 10_000;

/// Largest batch of a FIFO queue's mapping.
/// Source: AWS Lambda API reference, `CreateEventSourceMapping` (`BatchSize`).
pub const MAPPING_FIFO_BATCH_SIZE_MAX: u32 = 10;

/// Above this batch size a mapping needs a batching window.
/// Source: AWS Lambda API reference, `CreateEventSourceMapping` (`MaximumBatchingWindowInSeconds`).
pub const MAPPING_BATCH_SIZE_WITHOUT_WINDOW: u32 = 10;

/// Longest batching window, in seconds.
/// Source: AWS Lambda API reference, `CreateEventSourceMapping` (`MaximumBatchingWindowInSeconds`).
pub const MAPPING_BATCHING_WINDOW_MAX_SECS: u32 = 300;

/// A mapping's maximum concurrency (`ScalingConfig.MaximumConcurrency`).
/// Source: AWS Lambda API reference, `ScalingConfig`.
pub const MAPPING_MAX_CONCURRENCY: RangeInclusive<u32> = 2..=1000;

// ---- Amazon EventBridge rules and targets ----

/// Longest rule name (letters, digits, `.`, `-`, `_`).
/// Source: Amazon EventBridge API reference, `PutRule` (`Name`).
pub const EVENTBRIDGE_MAX_RULE_NAME_CHARS: usize = 64;

/// Most targets of one rule.
/// Source: Amazon EventBridge quotas, "Targets per rule".
pub const EVENTBRIDGE_MAX_TARGETS_PER_RULE: usize = 5;

/// Most retries of a delivery to a target (`RetryPolicy.MaximumRetryAttempts`, 0-185).
/// Source: Amazon EventBridge API reference, `RetryPolicy`.
pub const EVENTBRIDGE_MAX_RETRY_ATTEMPTS: u32 = 185;

/// Longest a delivery to a target is retried, in seconds (`RetryPolicy.MaximumEventAgeInSeconds`, 60-86400).
/// Source: Amazon EventBridge API reference, `RetryPolicy`.
pub const EVENTBRIDGE_MAX_EVENT_AGE_SECS: u32 = 86_400;

// ---- Vercel ----

/// Most cron jobs in one Vercel project, on every plan.
/// Source: Vercel docs, "Cron jobs: usage and pricing".
pub const VERCEL_MAX_CRONS: usize = 100;
