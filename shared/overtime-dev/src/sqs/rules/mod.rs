//! SQS's rules for names, queue attributes, message contents and sizes, and its MD5 digests.
//!
//! The limits come from `overtime::limits`; the rules apply them by family: `queue` (names
//! and attributes), `message` (contents, sizes, batches) and `digest` (MD5s).

mod digest;
mod message;
mod queue;

pub(crate) use digest::hex;
pub use digest::{md5_hex, md5_of_attributes};
pub use message::{
    check_batch_ids, check_batch_size, check_body, check_message_attributes,
    check_system_attributes, message_size,
};
pub(crate) use queue::SETTABLE;
pub use queue::{COMPUTED, QueueConfig, check_queue_name, config_of, merge_attributes};

// SQS's limits, from their one home (`overtime::limits`, with sources), in the integer types
// the endpoint's arithmetic uses; the casts widen, none truncates.
use overtime::limits;

/// A queue name's longest length, `.fifo` included.
pub const MAX_QUEUE_NAME: usize = limits::SQS_MAX_QUEUE_NAME_CHARS;
/// How long a FIFO deduplication id is remembered.
pub const DEDUP_WINDOW_MS: i64 = limits::SQS_FIFO_DEDUP_WINDOW.as_millis() as i64;
/// The longest batch entry id.
pub const MAX_BATCH_ENTRY_ID: usize = limits::SQS_MAX_BATCH_ENTRY_ID_CHARS;
/// The longest a long poll may wait.
pub const MAX_WAIT_SECS: i64 = limits::SQS_MAX_WAIT.as_secs() as i64;
/// Most messages one receive returns.
pub const MAX_RECEIVE: i64 = limits::SQS_MAX_RECEIVE as i64;
/// The longest visibility timeout.
pub const MAX_VISIBILITY_SECS: i64 = limits::SQS_MAX_VISIBILITY_SECS as i64;
/// The longest delay.
pub const MAX_DELAY_SECS: i64 = limits::SQS_MAX_DELAY.as_secs() as i64;
/// The largest message and batch.
pub const MAX_MESSAGE_BYTES: i64 = limits::SQS_MAX_MESSAGE_BYTES as i64;
/// Retention bounds and default.
pub const RETENTION_SECS: (i64, i64, i64) = (
    *limits::SQS_RETENTION_SECS.start() as i64,
    *limits::SQS_RETENTION_SECS.end() as i64,
    limits::SQS_DEFAULT_RETENTION_SECS as i64,
);

/// The account every local queue belongs to.
pub const ACCOUNT: &str = "000000000000";
/// The region in every local ARN.
pub const REGION: &str = "us-east-1";

/// The queue name an SQS ARN names, when it is one of this account's queues.
pub fn queue_name_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, _partition, service, _region, account, name) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn_ == "arn" && service == "sqs" && account == ACCOUNT).then_some(name)
}

/// The ARN of a local queue.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

#[cfg(test)]
mod tests;
