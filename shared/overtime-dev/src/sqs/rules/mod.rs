//! SQS's rules for names, queue attributes, message contents and sizes, and its MD5 digests.
//!
//! The limits are here, each with its source; the rules apply them by family: `queue` (names
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

/// A queue name's longest length, `.fifo` included (SQS CreateQueue).
pub const MAX_QUEUE_NAME: usize = 80;
/// How long a FIFO deduplication id is remembered (SQS: 5 minutes).
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The longest batch entry id (SQS: 80 characters).
pub const MAX_BATCH_ENTRY_ID: usize = 80;
/// The longest a long poll may wait (SQS: 20 seconds).
pub const MAX_WAIT_SECS: i64 = 20;
/// Most messages one receive returns (SQS: 10).
pub const MAX_RECEIVE: i64 = 10;
/// The longest visibility timeout (SQS: 12 hours).
pub const MAX_VISIBILITY_SECS: i64 = 43_200;
/// The longest delay (SQS: 15 minutes).
pub const MAX_DELAY_SECS: i64 = 900;
/// The largest message and batch (SQS since August 2025: 1 MiB).
pub const MAX_MESSAGE_BYTES: i64 = 1_048_576;
/// Retention bounds and default (SQS: 60 s to 14 days, default 4 days).
pub const RETENTION_SECS: (i64, i64, i64) = (60, 1_209_600, 345_600);

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
